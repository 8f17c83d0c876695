"""Serving one request: the model's chain, retries, circuits, deadline, cost.

For each model of the chain (the requested one, then its fallbacks) whose
provider has credentials and whose circuit lets calls through: try up to
`retry_max_attempts` times, waiting with full-jitter backoff (at least the
provider's Retry-After) between retryable failures, never past the caller's
deadline. A stream is committed once its first event has arrived from the
provider and is then never retried or replayed: what the caller has seen
stays the only answer. A provider that accepts a call and then says nothing
fails the attempt rather than eating the caller's whole deadline: a stream
after `stream_timeout_seconds` of silence, a unary call after
`attempt_timeout_seconds`, and, while a usable fallback remains, a model's
unary attempts end by FALLBACK_SHARE of the time left when it was first
tried, so the fallback keeps the rest. A 400 from the first model actually
tried (the ones before it skipped) is the caller's INVALID_ARGUMENT; after
another model failed otherwise, it only moves on down the chain. Every move
to the next model is counted in aimesh_llm_fallbacks_total by its reason.
When every model has failed, the caller gets UNAVAILABLE with a RetryInfo
(RESOURCE_EXHAUSTED when only the local model's queue refused it).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import (
    AbstractAsyncContextManager,
    AsyncExitStack,
    aclosing,
    asynccontextmanager,
    nullcontext,
)
from dataclasses import dataclass, field, replace
from typing import TypeVar

from services.common.errors import DeadlineExceeded, InvalidArgument, ResourceExhausted, Unavailable
from services.llm import metrics
from services.llm.admission import FairQueue, QueueFull
from services.llm.catalogue import Catalogue, ModelSpec
from services.llm.cost import cost_micros, estimate_text_tokens
from services.llm.providers.base import (
    ChatRequest,
    ErrorKind,
    FinishReason,
    Provider,
    ProviderError,
    StreamEvent,
    Usage,
)
from services.llm.resilience import CircuitBreaker, CircuitState, backoff_delay
from services.llm.tokens import TokenCounter

log = logging.getLogger(__name__)
T = TypeVar("T")

# When every model failed and none said when to come back.
DEFAULT_RETRY_AFTER_SECONDS = 1.0
# Share of the caller's remaining deadline that a model's unary attempts may
# use while a usable fallback (credentials, circuit not open) comes after it:
# the rest is kept for the fallbacks. The last usable model gets all of it.
FALLBACK_SHARE = 0.5


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    base_seconds: float = 0.25
    max_backoff_seconds: float = 8.0
    retry_after_max_seconds: float = 30.0
    # Bound of one call when the caller set no deadline.
    request_timeout_seconds: float = 600.0
    # Longest silence of a provider's stream (before its first event and
    # between events): a stream that says nothing for this long is given up
    # on, so a hanging provider leaves time for retries and fallbacks instead
    # of eating the caller's whole deadline. None: only the deadline bounds it.
    stream_timeout_seconds: float | None = None
    # Longest time of one unary provider call (from the call, after any local
    # queue wait, to the whole answer): longer fails the attempt as a
    # "timeout", retried or handed to the next model like any provider
    # failure. None: only the deadline (and FALLBACK_SHARE) bounds it.
    attempt_timeout_seconds: float | None = None


@dataclass(frozen=True)
class Outcome:
    """How a generation ended: who answered, usage, cost. `complete` is False
    for a stream cut short, whose usage may then be partly estimated."""

    spec: ModelSpec
    provider: str
    finish_reason: FinishReason
    usage: Usage
    usage_reported: bool
    cost_micros: int
    fallback_used: bool
    latency: float
    time_to_first_token: float | None = None
    complete: bool = True


@dataclass(frozen=True)
class Piece:
    """A piece of streamed text, and the model that produced it."""

    text: str
    spec: ModelSpec


@dataclass(frozen=True)
class Generation:
    text: str
    outcome: Outcome


@dataclass
class _StreamProgress:
    """What a relayed stream has delivered so far: its outcome is computed from it
    whether the stream completes, is cut short or is cancelled."""

    requested: ModelSpec
    spec: ModelSpec
    request: ChatRequest
    started: float
    parts: list[str] = field(default_factory=list)
    usage: Usage | None = None
    first_token_at: float | None = None


# Why a model of the chain was skipped without being tried: it has no usable
# provider (see Router.skip_reason) or its circuit is open. Every other reason
# (an ErrorKind, "queue_full") is a model that was tried and failed.
SKIPPED_REASONS = frozenset({"not_configured", "not_started", "no_credentials", "circuit_open"})


@dataclass
class _Failures:
    """What went wrong along the chain, for the final error and the log."""

    reasons: list[tuple[str, str]] = field(default_factory=list)
    retry_after: float | None = None
    queue_full: bool = False

    @property
    def tried(self) -> bool:
        """Whether a model before this one was tried (not just skipped) and failed."""
        return any(r not in SKIPPED_REASONS for _, r in self.reasons)

    def add(self, model: str, reason: str, retry_after: float | None = None) -> None:
        self.reasons.append((model, reason))
        if retry_after is not None:
            self.retry_after = (
                retry_after if self.retry_after is None else min(self.retry_after, retry_after)
            )

    def error(self, requested: str) -> Unavailable | ResourceExhausted:
        summary = "; ".join(f"{m}: {r}" for m, r in self.reasons) or "no model tried"
        retry_after = (
            self.retry_after if self.retry_after is not None else DEFAULT_RETRY_AFTER_SECONDS
        )
        if self.queue_full and all(
            r == "queue_full" or r in SKIPPED_REASONS for _, r in self.reasons
        ):
            return ResourceExhausted(
                f"the local model is busy ({summary})",
                reason="LOCAL_MODEL_BUSY",
                retry_after=retry_after,
                violations=[("local_model_queue", "too many requests waiting for the local model")],
            )
        return Unavailable(
            f"no provider could serve model {requested!r} ({summary})",
            reason="PROVIDERS_UNAVAILABLE",
            retry_after=retry_after,
            metadata={"model": requested},
        )


class _Retry(Exception):
    """Internal: try the same model again after `delay` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay)
        self.delay = delay


class _NextModel(Exception):
    """Internal: give up on this model, go on down the chain."""


class Router:
    def __init__(
        self,
        catalogue: Catalogue,
        providers: dict[str, Provider],
        *,
        policy: RetryPolicy,
        breaker_factory: Callable[[str, str], CircuitBreaker],
        counter: TokenCounter,
        queues: dict[str, FairQueue] | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.providers = providers
        self.policy = policy
        self.counter = counter
        self.queues = queues or {}
        self._breaker_factory = breaker_factory
        self._breakers: dict[str, CircuitBreaker] = {}

    def breaker(self, spec: ModelSpec) -> CircuitBreaker:
        breaker = self._breakers.get(spec.name)
        if breaker is None:
            breaker = self._breakers[spec.name] = self._breaker_factory(spec.provider, spec.name)
        return breaker

    def provider_kind(self, spec: ModelSpec) -> str:
        return self.catalogue.providers[spec.provider].kind

    def skip_reason(self, spec: ModelSpec) -> str:
        """Why the model's provider cannot be called at all ("" when it can),
        as the reason of the fallback that skips it."""
        provider = self.providers.get(spec.provider)
        if provider is None:
            return "not_configured"
        if not provider.available:
            return "not_started" if self.provider_kind(spec) == "local" else "no_credentials"
        return ""

    def unavailable_reason(self, spec: ModelSpec) -> str:
        """Why the model cannot serve now, or "" when it can."""
        provider = self.providers.get(spec.provider)
        if provider is None:
            return "provider not configured"
        if not provider.available:
            return "not started" if self.provider_kind(spec) == "local" else "no credentials"
        if self.breaker(spec).state is CircuitState.OPEN:
            return "circuit open"
        return ""

    # -- unary ---------------------------------------------------------------

    async def generate(
        self, spec: ModelSpec, request: ChatRequest, *, deadline: float | None, tenant: str = ""
    ) -> Generation:
        loop = asyncio.get_running_loop()
        started = loop.time()
        failures = _Failures()
        outcome = "error"
        try:
            chain = self.catalogue.chain(spec.name)
            for index, candidate in enumerate(chain):
                provider = self.providers.get(candidate.provider)
                skip = self.skip_reason(candidate)
                if provider is None or skip:
                    failures.add(candidate.name, skip)
                    self._count_fallback(chain, index, failures)
                    continue
                call = _for_model(request, candidate)
                model_end = self._model_end(chain, index, deadline)
                for attempt in range(self.policy.max_attempts):
                    try:
                        completion = await self._attempt(
                            candidate,
                            provider,
                            attempt,
                            failures,
                            deadline,
                            tenant,
                            functools.partial(provider.generate, candidate.upstream_model, call),
                            limit=self.policy.attempt_timeout_seconds,
                            model_end=model_end,
                        )
                    except _Retry as retry:
                        await asyncio.sleep(retry.delay)
                        continue
                    except _NextModel:
                        break
                    self.breaker(candidate).success()
                    usage, reported = completion.usage, completion.usage is not None
                    if usage is None:
                        usage = await self._estimate_usage(candidate, call, completion.text, 0)
                    result = Outcome(
                        spec=candidate,
                        provider=candidate.provider,
                        finish_reason=completion.finish_reason,
                        usage=usage,
                        usage_reported=reported,
                        cost_micros=cost_micros(candidate, usage),
                        fallback_used=candidate.name != spec.name,
                        latency=loop.time() - started,
                    )
                    self._record(result, "generate")
                    outcome = "ok"
                    return Generation(completion.text, result)
                self._count_fallback(chain, index, failures)
            raise failures.error(spec.name)
        finally:
            if outcome != "ok":
                metrics.OPERATION_DURATION.labels("generate", "", spec.name, outcome).observe(
                    loop.time() - started
                )

    # -- streaming -----------------------------------------------------------

    async def stream(
        self, spec: ModelSpec, request: ChatRequest, *, deadline: float | None, tenant: str = ""
    ) -> AsyncGenerator[Piece | Outcome, None]:
        """Text pieces as they arrive, then one Outcome. A stream cut short
        after its first piece yields an incomplete Outcome and raises."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        failures = _Failures()
        chain = self.catalogue.chain(spec.name)
        for index, candidate in enumerate(chain):
            provider = self.providers.get(candidate.provider)
            skip = self.skip_reason(candidate)
            if provider is None or skip:
                failures.add(candidate.name, skip)
                self._count_fallback(chain, index, failures)
                continue
            call = _for_model(request, candidate)
            for attempt in range(self.policy.max_attempts):
                delay: float | None = None
                async with AsyncExitStack() as stack:
                    try:
                        events, first = await self._attempt(
                            candidate,
                            provider,
                            attempt,
                            failures,
                            deadline,
                            tenant,
                            functools.partial(self._open_stream, stack, provider, candidate, call),
                            hold=stack,
                            silence=self.policy.stream_timeout_seconds,
                        )
                    except _Retry as retry:
                        delay = retry.delay  # waited for below, without the queue slot
                    except _NextModel:
                        break
                    else:
                        # Committed: from here on nothing is retried or replayed.
                        relay = self._relay(spec, candidate, call, events, first, deadline, started)
                        async with aclosing(relay):
                            async for piece in relay:
                                yield piece
                        return
                if delay is not None:
                    await asyncio.sleep(delay)
            self._count_fallback(chain, index, failures)
        metrics.OPERATION_DURATION.labels("stream", "", spec.name, "error").observe(
            loop.time() - started
        )
        raise failures.error(spec.name)

    async def _open_stream(
        self,
        stack: AsyncExitStack,
        provider: Provider,
        spec: ModelSpec,
        request: ChatRequest,
        read_timeout: float,
    ) -> tuple[AsyncGenerator[StreamEvent, None], list[StreamEvent]]:
        """Start the provider's stream and read up to its first text or finish
        event: failures until then may still be retried."""
        events = provider.stream(spec.upstream_model, request, read_timeout)
        stack.push_async_callback(_aclose, events)
        head: list[StreamEvent] = []
        async for event in events:
            head.append(event)
            if event.text or event.finish_reason:
                break
        return events, head

    async def _relay(
        self,
        requested: ModelSpec,
        spec: ModelSpec,
        request: ChatRequest,
        events: AsyncGenerator[StreamEvent, None],
        head: list[StreamEvent],
        deadline: float | None,
        started: float,
    ) -> AsyncGenerator[Piece | Outcome, None]:
        loop = asyncio.get_running_loop()
        breaker = self.breaker(spec)
        progress = _StreamProgress(requested, spec, request, started)
        finish: FinishReason | None = None
        try:
            pending = list(head)
            while True:
                if pending:
                    event = pending.pop(0)
                else:
                    try:
                        async with _deadline(deadline):
                            event = await anext(events)
                    except StopAsyncIteration:
                        break
                if event.usage is not None:
                    progress.usage = event.usage
                if event.finish_reason:
                    finish = event.finish_reason
                if event.text:
                    if progress.first_token_at is None:
                        progress.first_token_at = loop.time()
                        metrics.TIME_TO_FIRST_TOKEN.labels(spec.provider, spec.name).observe(
                            progress.first_token_at - started
                        )
                    progress.parts.append(event.text)
                    yield Piece(event.text, spec)
            if finish is None:
                # A body that just stops (no finish reason, no [DONE]) is cut short too.
                raise ProviderError(
                    "connection", "the stream ended without a finish reason", provider=spec.provider
                )
        except (ProviderError, TimeoutError) as exc:
            if isinstance(exc, ProviderError):
                breaker.failure()
            else:
                breaker.release()
            kind: ErrorKind = exc.kind if isinstance(exc, ProviderError) else "timeout"
            metrics.PROVIDER_ERRORS.labels(spec.provider, spec.name, kind).inc()
            outcome = await self._stream_outcome(progress, "", complete=False)
            log.warning(
                "stream interrupted",
                extra={"kind": kind, "error": str(exc), **_log_fields(outcome)},
            )
            yield outcome
            if isinstance(exc, TimeoutError):
                raise DeadlineExceeded("the deadline ran out during the stream") from None
            raise Unavailable(
                f"the stream from {spec.name} was cut short ({kind}); its output is incomplete",
                reason="STREAM_INTERRUPTED",
                metadata={
                    "model": spec.name,
                    "output_tokens": str(outcome.usage.output_tokens),
                    "cost_micros": str(outcome.cost_micros),
                },
            ) from None
        except (asyncio.CancelledError, GeneratorExit):
            # The caller went away: the exit stack of stream() closes the
            # upstream connection; record what the partial answer cost.
            breaker.release()
            outcome = await self._stream_outcome(progress, "", complete=False)
            log.info("stream cancelled by the caller", extra=_log_fields(outcome))
            raise
        breaker.success()
        outcome = await self._stream_outcome(progress, finish or "stop", complete=True)
        yield outcome

    async def _stream_outcome(
        self, progress: _StreamProgress, finish: FinishReason, *, complete: bool
    ) -> Outcome:
        spec, started, first_token_at = progress.spec, progress.started, progress.first_token_at
        now = asyncio.get_running_loop().time()
        usage = progress.usage
        reported = usage is not None and (complete or usage.output_tokens > 0)
        if usage is None or not reported:
            usage = await self._estimate_usage(
                spec,
                progress.request,
                "".join(progress.parts),
                len(progress.parts),
                input_tokens=usage.input_tokens if usage else None,
            )
        outcome = Outcome(
            spec=spec,
            provider=spec.provider,
            finish_reason=finish,
            usage=usage,
            usage_reported=reported,
            cost_micros=cost_micros(spec, usage),
            fallback_used=spec.name != progress.requested.name,
            latency=now - started,
            time_to_first_token=None if first_token_at is None else first_token_at - started,
            complete=complete,
        )
        if first_token_at is not None and usage.output_tokens > 1:
            metrics.TIME_PER_OUTPUT_TOKEN.labels(spec.provider, spec.name).observe(
                (now - first_token_at) / (usage.output_tokens - 1)
            )
        self._record(outcome, "stream")
        return outcome

    # -- shared --------------------------------------------------------------

    async def _attempt(
        self,
        spec: ModelSpec,
        provider: Provider,
        attempt: int,
        failures: _Failures,
        deadline: float | None,
        tenant: str,
        call: Callable[[float], Awaitable[T]],
        hold: AsyncExitStack | None = None,
        silence: float | None = None,
        limit: float | None = None,
        model_end: float | None = None,
    ) -> T:
        """One call of one model, under its circuit, its queue and the deadline.
        Raises _Retry (with the backoff to wait) or _NextModel when it failed;
        `hold` keeps the queue slot for the life of a stream; `silence` bounds
        the provider's read timeout (a timeout then fails the attempt). A
        unary call (no `hold`) is bounded as a whole by `limit` seconds and
        by `model_end` (loop time), the end of this model's share of the
        deadline: either one running out fails the attempt as a "timeout"."""
        loop = asyncio.get_running_loop()
        breaker = self.breaker(spec)
        if not breaker.allow():
            failures.add(spec.name, "circuit_open", breaker.retry_in() or None)
            raise _NextModel
        remaining = None if deadline is None else deadline - loop.time()
        if remaining is not None and remaining <= 0:
            breaker.release()
            raise DeadlineExceeded("the deadline ran out before the model could answer")
        queue = self.queues.get(spec.provider)
        try:
            admission: AbstractAsyncContextManager[None] = (
                queue.slot(tenant) if queue is not None else nullcontext()
            )
            if hold is not None:
                async with _deadline(deadline):
                    await hold.enter_async_context(admission)
                async with _deadline(deadline):
                    return await call(self._read_timeout(deadline, silence))
            async with _deadline(deadline), admission:
                end = _attempt_end(loop.time(), deadline, limit, model_end)
                if end is None:
                    return await call(self._read_timeout(deadline, silence))
                if end <= loop.time():
                    # The local queue's wait used up this model's share: not
                    # the provider's fault, and not worth calling it now.
                    failures.add(spec.name, "timeout")
                    raise _NextModel
                bound = asyncio.timeout_at(end)
                try:
                    async with bound:
                        return await call(self._read_timeout(deadline, end - loop.time()))
                except TimeoutError:
                    if not bound.expired():
                        raise
                    raise ProviderError(
                        "timeout", "no answer within the attempt's time", provider=spec.provider
                    ) from None
        except QueueFull:
            breaker.release()
            metrics.LOCAL_QUEUE_REJECTED.inc()
            failures.queue_full = True
            failures.add(spec.name, "queue_full", 1.0)
            raise _NextModel from None
        except TimeoutError:
            breaker.release()
            raise DeadlineExceeded("the deadline ran out before the model answered") from None
        except asyncio.CancelledError:
            breaker.release()
            raise
        except ProviderError as exc:
            metrics.PROVIDER_ERRORS.labels(spec.provider, spec.name, exc.kind).inc()
            log.warning(
                "provider call failed",
                extra={
                    "model": spec.name,
                    "attempt": attempt + 1,
                    "kind": exc.kind,
                    "error": str(exc),
                },
            )
            if exc.kind == "bad_request":
                breaker.release()  # the request's fault, not the provider's
                if not failures.tried:
                    # The first model actually tried (those before it were
                    # skipped unused) refused it: the caller's request is at
                    # fault, and a retry would be refused the same way.
                    raise InvalidArgument(
                        "messages", f"{spec.name} rejected the request: {exc.message}"
                    ) from None
                # An earlier model failed otherwise (a timeout, a 5xx): it may
                # serve a retry, so this refusal by a fallback (say, a prompt
                # too long for its smaller window) is not the caller's fault.
                failures.add(spec.name, exc.kind)
                raise _NextModel from None
            breaker.failure()
            if not exc.retryable or attempt + 1 >= self.policy.max_attempts:
                failures.add(spec.name, exc.kind, exc.retry_after)
                raise _NextModel from None
            if (
                exc.retry_after is not None
                and exc.retry_after > self.policy.retry_after_max_seconds
            ):
                failures.add(spec.name, exc.kind, exc.retry_after)
                raise _NextModel from None
            delay = backoff_delay(
                attempt,
                base=self.policy.base_seconds,
                cap=self.policy.max_backoff_seconds,
                retry_after=exc.retry_after,
            )
            retry_by = model_end if model_end is not None else deadline
            if retry_by is not None and loop.time() + delay >= retry_by:
                failures.add(spec.name, exc.kind, exc.retry_after)
                raise _NextModel from None
            metrics.RETRIES.labels(spec.provider, spec.name).inc()
            raise _Retry(delay) from None
        except BaseException:
            breaker.release()
            raise

    def _model_end(
        self, chain: list[ModelSpec], index: int, deadline: float | None
    ) -> float | None:
        """When the unary attempts of chain[index] must end so that the models
        after it keep a share of the deadline: None when there is no deadline
        or no usable model after it (the last one may use all that is left)."""
        if deadline is None or not any(not self.unavailable_reason(m) for m in chain[index + 1 :]):
            return None
        now = asyncio.get_running_loop().time()
        return now + max(0.0, deadline - now) * FALLBACK_SHARE

    def _read_timeout(self, deadline: float | None, cap: float | None = None) -> float:
        bound = self.policy.request_timeout_seconds
        if cap is not None:
            bound = min(bound, cap)
        if deadline is None:
            return bound
        remaining = deadline - asyncio.get_running_loop().time()
        return max(0.001, min(remaining, bound))

    async def _estimate_usage(
        self,
        spec: ModelSpec,
        request: ChatRequest,
        text: str,
        pieces: int,
        *,
        input_tokens: int | None = None,
    ) -> Usage:
        """Usage when the provider reported none: input counted with the
        model's tokenizer (or estimated); output likewise, and never less than
        the number of text pieces received (servers send about one token each)."""
        kind = self.provider_kind(spec)
        try:
            async with asyncio.timeout(5):
                if input_tokens is None:
                    input_tokens = (
                        await self.counter.count_messages(spec, kind, request.messages)
                    ).tokens
                output = (await self.counter.count_text(spec, kind, text)).tokens
        except Exception as exc:  # counting must never turn a served answer into an error
            log.warning("token count failed", extra={"model": spec.name, "error": repr(exc)})
            input_tokens = input_tokens or sum(
                estimate_text_tokens(m.content) for m in request.messages
            )
            output = estimate_text_tokens(text)
        return Usage(input_tokens, max(output, pieces))

    def _record(self, outcome: Outcome, operation: str) -> None:
        labels = (outcome.provider, outcome.spec.name)
        metrics.TOKEN_USAGE.labels(operation, *labels, "input").inc(outcome.usage.input_tokens)
        metrics.TOKEN_USAGE.labels(operation, *labels, "output").inc(outcome.usage.output_tokens)
        metrics.COST.labels(*labels).inc(outcome.cost_micros)
        metrics.OPERATION_DURATION.labels(
            operation, *labels, "ok" if outcome.complete else "interrupted"
        ).observe(outcome.latency)

    def _count_fallback(self, chain: list[ModelSpec], index: int, failures: _Failures) -> None:
        """Count the move from chain[index] to the next model of the chain,
        by the reason chain[index] was given up (its last failure): one count
        per hop, a skipped model's included."""
        if index + 1 < len(chain) and failures.reasons:
            metrics.FALLBACKS.labels(
                chain[index].name, chain[index + 1].name, failures.reasons[-1][1]
            ).inc()


def _for_model(request: ChatRequest, spec: ModelSpec) -> ChatRequest:
    """The request as sent to one model: max_tokens 0 (or above a fallback's
    limit) becomes that model's own output limit."""
    wanted = request.max_tokens or spec.max_output_tokens
    return replace(request, max_tokens=min(wanted, spec.max_output_tokens))


def _attempt_end(
    now: float, deadline: float | None, limit: float | None, model_end: float | None
) -> float | None:
    """The loop time a unary attempt must end by when that comes before the
    caller's deadline (which fails the call, not the attempt); else None."""
    ends = [end for end in (model_end, None if limit is None else now + limit) if end is not None]
    if not ends:
        return None
    end = min(ends)
    return end if deadline is None or end < deadline else None


@asynccontextmanager
async def _deadline(deadline: float | None) -> AsyncIterator[None]:
    if deadline is None:
        yield
    else:
        async with asyncio.timeout_at(deadline):
            yield


async def _aclose(events: AsyncGenerator[StreamEvent, None]) -> None:
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()


def _log_fields(outcome: Outcome) -> dict[str, object]:
    return {
        "model": outcome.spec.name,
        "provider": outcome.provider,
        "input_tokens": outcome.usage.input_tokens,
        "output_tokens": outcome.usage.output_tokens,
        "usage_reported": outcome.usage_reported,
        "cost_micros": outcome.cost_micros,
        "complete": outcome.complete,
    }
