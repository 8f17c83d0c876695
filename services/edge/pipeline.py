"""The edge's request pipelines: Chat and Ask (RAG), from admission to settlement.

    Chat: route model -> check limits -> admit -> guard input -> cache?
          -> reserve budget -> generate (streams through RedactStream, unary
          replies checked whole by CheckOutput) -> settle
    Ask:  the same, with retrieval within the tenant and numbered sources
          between guarding and generating, and citations at the end.

Both yield text pieces and finish with a `Final`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncGenerator, Awaitable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import asdict, dataclass, field

import grpc

from aimesh.guardrails.v1 import guardrails_pb2
from aimesh.retrieval.v1 import retrieval_pb2
from services.common import errors
from services.edge import metrics, rag
from services.edge.budget import (
    BudgetExceeded,
    Budgets,
    BudgetUnavailable,
    Reservation,
    seconds_until_reset,
)
from services.edge.budget import cost_micros as price
from services.edge.cache import ResponseCache, cache_key
from services.edge.catalogue import Catalogue, CatalogueCache, ModelInfo
from services.edge.downstream import Downstream, translate, unary, with_recovery
from services.edge.gate import Caller, Gate
from services.edge.generation import GenerationRequest, GenerationResult, complete, generate
from services.edge.routing import select_model
from services.edge.settings import EdgeSettings
from services.edge.validation import (
    PromptTooLong,
    check_model_limits,
    estimate_tokens,
    prompt_tokens_bound,
    prompt_tokens_estimate,
)

log = logging.getLogger(__name__)

FINISH_STOP = 1
SEARCH_MODES: dict[str, retrieval_pb2.SearchMode] = {
    "hybrid": retrieval_pb2.SEARCH_MODE_HYBRID,
    "dense": retrieval_pb2.SEARCH_MODE_DENSE,
    "keyword": retrieval_pb2.SEARCH_MODE_KEYWORD,
}
POLICY_ACTIONS = {
    "report": guardrails_pb2.ACTION_REPORT,
    "redact": guardrails_pb2.ACTION_REDACT,
    "block": guardrails_pb2.ACTION_BLOCK,
}
# The edge's own defaults for what models answer, before
# AIMESH_EDGE_OUTPUT_POLICY_ACTIONS (which overrides them finding by finding):
# dates and times ("every Tuesday", "the day after Monday") are ordinary
# answers, reported but not masked.
OUTPUT_POLICY_DEFAULTS: dict[str, str] = {"DATE_TIME": "report"}
# Tokens assumed per retrieved chunk when estimating an Ask before retrieval.
CHUNK_TOKENS_ESTIMATE = 200
ASK_DEFAULT_MAX_TOKENS = 512


@dataclass
class ChatInput:
    model: str
    messages: list[tuple[str, str]]
    max_tokens: int
    temperature: float | None
    top_p: float | None
    stop: list[str]


@dataclass
class AskInput:
    question: str
    model: str
    top_k: int
    max_tokens: int
    temperature: float | None
    filter: dict[str, str]


@dataclass
class Final:
    model: str
    provider: str
    finish_reason: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_micros: int = 0
    cached: bool = False
    redacted: bool = False
    escalate: bool = False
    citations: list[rag.Source] = field(default_factory=list)


@dataclass(frozen=True)
class Piece:
    """Text for the client, with the model serving it."""

    text: str
    model: str
    provider: str


Event = Piece | Final


def _ask_fields(exc: errors.InvalidArgument) -> errors.InvalidArgument:
    """The llm's refusal of an Ask's prompt, in the Ask's own field names: its
    messages are the sources and the question, of which the client sent the question."""
    renamed = [
        ("question" if name.startswith("messages") else name, description)
        for name, description in exc.violations
    ]
    return errors.InvalidArgument(*renamed[0], *renamed[1:])


def _final(result: GenerationResult, citations: Sequence[rag.Source] = ()) -> Final:
    """What the client is told at the end of a generation."""
    return Final(
        model=result.model,
        provider=result.provider,
        finish_reason=result.finish_reason,
        input_tokens=result.input_tokens,
        output_tokens=result.output_tokens,
        cost_micros=result.cost_micros,
        redacted=result.redacted,
        citations=list(citations),
    )


def _policy(actions: Mapping[str, str]) -> guardrails_pb2.Policy:
    return guardrails_pb2.Policy(
        actions={finding: POLICY_ACTIONS[action] for finding, action in actions.items()}
    )


class Deadline:
    """The client's deadline (or the default), as a timeout for each downstream call."""

    def __init__(self, time_remaining: float | None, default: float) -> None:
        self.seconds = time_remaining if time_remaining is not None else default
        self.started = time.monotonic()
        self._ends = self.started + self.seconds

    def remaining(self) -> float:
        left = self._ends - time.monotonic()
        if left <= 0:
            raise errors.DeadlineExceeded("the deadline ran out")
        return left


class Pipeline:
    def __init__(
        self,
        settings: EdgeSettings,
        gate: Gate,
        budgets: Budgets,
        cache: ResponseCache,
        catalogue: CatalogueCache,
        downstream: Downstream,
    ) -> None:
        self.settings = settings
        self.gate = gate
        self.budgets = budgets
        self.cache = cache
        self.catalogue = catalogue
        self.down = downstream
        self.input_policy = _policy(settings.input_policy_actions)
        self.document_policy = _policy(settings.input_policy_actions)
        if not settings.ask_redact_document_pii:
            self.document_policy.disabled_detectors.append("pii")
        self.output_policy = _policy(OUTPUT_POLICY_DEFAULTS | settings.output_policy_actions)

    # --- shared steps -----------------------------------------------------

    async def model_catalogue(self) -> Catalogue:
        try:
            return await self.catalogue.get()
        except grpc.RpcError as exc:
            raise translate("llm", exc) from None

    def resolve_model(
        self,
        catalogue: Catalogue,
        caller: Caller,
        requested: str,
        prompt_tokens: int,
        deadline: Deadline,
        rpc: str,
    ) -> ModelInfo:
        if requested:
            model = catalogue.get(requested)
            if model is None:
                metrics.REJECTIONS.labels(rpc, "INVALID_ARGUMENT").inc()
                raise errors.InvalidArgument("model", f"unknown model {requested!r}")
            if not caller.tier.allows(model.name, model.provider):
                metrics.REJECTIONS.labels(rpc, "MODEL_NOT_ALLOWED").inc()
                raise errors.PermissionDenied(
                    f"the {caller.tier.name} tier may not use {model.name}",
                    reason="MODEL_NOT_ALLOWED",
                    metadata={"model": model.name, "tier": caller.tier.name},
                )
            return model
        route = select_model(
            catalogue,
            caller.tier,
            prompt_tokens,
            deadline.seconds,
            fast_deadline_seconds=self.settings.routing_fast_deadline_seconds,
            complex_prompt_tokens=self.settings.routing_complex_prompt_tokens,
        )
        if route is None:
            metrics.REJECTIONS.labels(rpc, "NO_MODEL_ALLOWED").inc()
            raise errors.PermissionDenied(
                f"the {caller.tier.name} tier allows no model in the catalogue",
                reason="NO_MODEL_ALLOWED",
            )
        log.debug("routed", extra={"model": route.model.name, "route": route.reason})
        return route.model

    @staticmethod
    def check_limits(model: ModelInfo, max_tokens: int, prompt_tokens: int, rpc: str) -> int:
        """`check_model_limits`, its refusals counted: PROMPT_TOO_LONG when the
        prompt leaves too little of the window, else INVALID_ARGUMENT."""
        try:
            return check_model_limits(model, max_tokens, prompt_tokens)
        except errors.InvalidArgument as exc:
            reason = "PROMPT_TOO_LONG" if isinstance(exc, PromptTooLong) else "INVALID_ARGUMENT"
            metrics.REJECTIONS.labels(rpc, reason).inc()
            raise

    async def guard_input(
        self, caller: Caller, texts: Sequence[tuple[str, str]], deadline: Deadline, rpc: str
    ) -> list[str]:
        """Check each (field, text) with guardrails: the texts to use (redacted
        where policy says), or PERMISSION_DENIED naming the reason."""
        timeout = deadline.remaining()
        try:
            responses = await asyncio.gather(
                *(
                    unary(
                        self.down.guardrails.CheckInput(
                            guardrails_pb2.CheckInputRequest(
                                text=text,
                                tenant=caller.tenant,
                                source=guardrails_pb2.SOURCE_USER,
                                policy=self.input_policy,
                            ),
                            timeout=timeout,
                        )
                    )
                    for _, text in texts
                )
            )
        except grpc.RpcError as exc:
            raise translate("guardrails", exc) from None
        for (field_name, _), response in zip(texts, responses, strict=True):
            if response.verdict == guardrails_pb2.VERDICT_BLOCK:
                reason = response.reason or "INPUT_BLOCKED"
                metrics.REJECTIONS.labels(rpc, reason).inc()
                findings = sorted({f.type for f in response.findings})
                raise errors.PermissionDenied(
                    f"the input was blocked by guardrails ({reason})",
                    reason=reason,
                    metadata={"field": field_name, "findings": ",".join(findings)},
                )
        return [
            r.redacted_text if r.verdict == guardrails_pb2.VERDICT_REDACT else text
            for (_, text), r in zip(texts, responses, strict=True)
        ]

    async def reserve(
        self,
        caller: Caller,
        catalogue: Catalogue,
        model: ModelInfo,
        input_tokens: int,
        output_tokens: int,
        deadline: Deadline,
        rpc: str,
    ) -> Reservation | None:
        amount = catalogue.worst_case_cost(model.name, input_tokens, output_tokens)
        try:
            return await self.budgets.reserve(
                caller.tenant,
                caller.tier.daily_budget_micros,
                amount,
                hold_seconds=deadline.seconds + 60,
            )
        except BudgetExceeded as exc:
            metrics.REJECTIONS.labels(rpc, "BUDGET_EXHAUSTED").inc()
            spent = exc.usage.spent + exc.usage.reserved
            raise errors.ResourceExhausted(
                f"the daily budget of tenant {caller.tenant} cannot cover this request "
                f"(worst case {exc.amount} micro-dollars; {spent} of {exc.budget} used)",
                reason="BUDGET_EXHAUSTED",
                retry_after=seconds_until_reset(),
                violations=[
                    (f"tenant {caller.tenant}: daily budget", f"{spent} of {exc.budget} micro-USD")
                ],
            ) from None
        except BudgetUnavailable:
            metrics.REJECTIONS.labels(rpc, "BUDGET_UNAVAILABLE").inc()
            raise errors.Unavailable(
                "budget accounting is unavailable; retry later",
                reason="BUDGET_UNAVAILABLE",
                retry_after=1.0,
            ) from None

    def _cached_events(self, hit: dict[str, object]) -> list[Event]:
        final = Final(
            model=str(hit["model"]),
            provider=str(hit["provider"]),
            finish_reason=int(hit["finish_reason"]),  # type: ignore[call-overload]
            cached=True,
            redacted=bool(hit["redacted"]),
            escalate=bool(hit.get("escalate", False)),
            citations=[rag.Source(**c) for c in hit.get("citations", [])],  # type: ignore[attr-defined]
        )
        text = str(hit["text"])
        return [Piece(text, final.model, final.provider), final] if text else [final]

    async def _generate(
        self,
        caller: Caller,
        catalogue: Catalogue,
        model: ModelInfo,
        request: GenerationRequest,
        reservation: Reservation | None,
        deadline: Deadline,
        rpc: str,
    ) -> AsyncGenerator[Piece | GenerationResult, None]:
        """Generate and settle the budget however the generation ends."""
        result = GenerationResult(model=model.name, provider=model.provider)
        first = True
        interrupted: errors.Unavailable | None = None
        try:
            # A unary reply is checked whole (CheckOutput); a stream piece by piece.
            produce = generate if rpc.endswith("Stream") else complete
            pieces = produce(self.down, request, result, deadline.remaining(), self.output_policy)
            async with aclosing(pieces):
                async for piece in pieces:
                    if first:
                        # From the start of the call: admission and guards included.
                        metrics.TIME_TO_FIRST_TOKEN.labels(rpc).observe(
                            time.monotonic() - deadline.started
                        )
                        first = False
                    yield Piece(piece, result.model, result.provider)
            yield result
        except errors.Unavailable as exc:
            if exc.reason == "STREAM_INTERRUPTED":
                interrupted = exc
            raise
        except errors.InvalidArgument:
            # The llm refused the request as invalid (a prompt too long for the
            # model, by its own count, or a provider's refusal).
            metrics.REJECTIONS.labels(rpc, "MODEL_REFUSED").inc()
            raise
        finally:
            actual = result.cost_micros
            input_tokens, output_tokens = result.input_tokens, result.output_tokens
            estimated = False
            if not result.finished and result.output_chars and not result.incomplete:
                # Cut short before the llm's last message (which alone carries
                # usage): the provider still charges what it produced, estimated
                # here; tokens counted and logged are that same estimate.
                served = catalogue.get(result.model) or model
                per_token = self.settings.chars_per_token
                input_tokens = sum(estimate_tokens(c, per_token) for _, c in request.messages)
                output_tokens = math.ceil(result.output_chars / per_token)
                actual = price(input_tokens, served.input_micros_per_million) + price(
                    output_tokens, served.output_micros_per_million
                )
                estimated = True
            if interrupted is not None:
                # The client's record of what the partial answer cost it.
                interrupted.metadata.update(
                    {"model": result.model, "cost_micros": str(actual)}
                    | ({"output_tokens": str(result.output_tokens)} if result.incomplete else {})
                )
            await self.budgets.settle(reservation, actual)
            metrics.TOKENS.labels(caller.tenant, result.model, "input").inc(input_tokens)
            metrics.TOKENS.labels(caller.tenant, result.model, "output").inc(output_tokens)
            metrics.COST.labels(caller.tenant, result.model).inc(actual)
            if result.redacted:
                metrics.REDACTIONS.inc()
            log.info(
                "generation",
                extra={
                    "model": result.model,
                    "provider": result.provider,
                    "input_tokens": input_tokens,
                    "output_tokens": output_tokens,
                    "usage_estimated": estimated,
                    "cost_micros": actual,
                    "complete": result.finished,
                    "redacted": result.redacted,
                    "fallback_used": result.fallback_used,
                },
            )

    # --- Chat -----------------------------------------------------------------

    async def chat(
        self, caller: Caller, request: ChatInput, time_remaining: float | None, rpc: str
    ) -> AsyncGenerator[Event, None]:
        deadline = Deadline(time_remaining, self.settings.default_deadline_seconds)
        catalogue = await self.model_catalogue()
        contents = [c for _, c in request.messages]
        prompt_tokens = prompt_tokens_estimate(contents, self.settings.chars_per_token)
        model = self.resolve_model(catalogue, caller, request.model, prompt_tokens, deadline, rpc)
        max_tokens = self.check_limits(model, request.max_tokens, prompt_tokens, rpc)
        await self.gate.admit(caller, rpc, prompt_tokens + max_tokens)

        # User turns are untrusted; system prompts come from the calling
        # application, and assistant turns are earlier model output.
        checked = [
            (f"messages[{i}].content", c)
            for i, (role, c) in enumerate(request.messages)
            if role == "user"
        ]
        guarded = iter(await self.guard_input(caller, checked, deadline, rpc))
        messages = [(r, next(guarded) if r == "user" else c) for r, c in request.messages]

        digest = None
        if self.settings.cache_enabled and request.temperature == 0:
            digest = cache_key(
                caller.tenant,
                "chat",
                {
                    "model": model.name,
                    "messages": messages,
                    "max_tokens": max_tokens,
                    "top_p": request.top_p,
                    "stop": request.stop,
                },
            )
            hit = await self.cache.get(caller.tenant, digest)
            if hit is not None:
                for event in self._cached_events(hit):
                    yield event
                return

        input_bound = min(prompt_tokens_bound([c for _, c in messages]), model.context_window)
        reservation = await self.reserve(
            caller, catalogue, model, input_bound, max_tokens, deadline, rpc
        )
        generation = GenerationRequest(
            tenant=caller.tenant,
            model=model.name,
            messages=messages,
            max_tokens=max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            stop=list(request.stop),
        )
        items = self._generate(caller, catalogue, model, generation, reservation, deadline, rpc)
        async with aclosing(items):
            async for item in items:
                if isinstance(item, Piece):
                    yield item
                    continue
                final = _final(item)
                if digest is not None:
                    await self._remember(caller, digest, item.text, final)
                yield final

    async def _remember(self, caller: Caller, digest: str, text: str, final: Final) -> None:
        if final.finish_reason not in (FINISH_STOP, 2):  # stop or length only
            return
        entry = {
            "text": text,
            "model": final.model,
            "provider": final.provider,
            "finish_reason": final.finish_reason,
            "redacted": final.redacted,
            "escalate": final.escalate,
            "citations": [asdict(c) for c in final.citations],
        }
        await self.cache.put(caller.tenant, digest, entry)

    # --- Ask ------------------------------------------------------------------

    async def ask(
        self, caller: Caller, request: AskInput, time_remaining: float | None, rpc: str
    ) -> AsyncGenerator[Event, None]:
        settings = self.settings
        deadline = Deadline(time_remaining, settings.default_deadline_seconds)
        catalogue = await self.model_catalogue()
        top_k = request.top_k or settings.ask_default_top_k
        question_tokens = prompt_tokens_estimate(
            [rag.SYSTEM_PROMPT, request.question], settings.chars_per_token
        )
        prompt_tokens = question_tokens + top_k * CHUNK_TOKENS_ESTIMATE
        model = self.resolve_model(catalogue, caller, request.model, prompt_tokens, deadline, rpc)
        max_tokens = self.check_limits(
            model,
            request.max_tokens or min(ASK_DEFAULT_MAX_TOKENS, model.max_output_tokens or 10**9),
            question_tokens,
            rpc,
        )
        context_room = model.context_window - max_tokens - question_tokens
        await self.gate.admit(
            caller,
            rpc,
            question_tokens + min(top_k * CHUNK_TOKENS_ESTIMATE, context_room) + max_tokens,
        )
        (question,) = await self.guard_input(
            caller, [("question", request.question)], deadline, rpc
        )

        digest = None
        if settings.cache_enabled and request.temperature == 0:
            digest = cache_key(
                caller.tenant,
                "ask",
                {
                    "model": model.name,
                    "question": question,
                    "top_k": top_k,
                    "filter": request.filter,
                    "max_tokens": max_tokens,
                    "corpus": await self.cache.corpus_generation(caller.tenant),
                },
            )
            hit = await self.cache.get(caller.tenant, digest)
            if hit is not None:
                for event in self._cached_events(hit):
                    yield event
                return

        # Before retrieval, a cheap check that refuses early: the prompt without
        # its sources (a strict bound of it) and the answer. Only once the prompt
        # is built is its own strict bound known, and held instead (below).
        reservation = await self.reserve(
            caller,
            catalogue,
            model,
            prompt_tokens_bound([rag.SYSTEM_PROMPT, question]),
            max_tokens,
            deadline,
            rpc,
        )
        try:
            sources = await self._retrieve(caller, question, top_k, request.filter, deadline)
        finally:
            await self.budgets.settle(reservation, 0)
        system_prompt, used = rag.assemble(sources, context_room, settings.chars_per_token)
        if not used:
            metrics.ESCALATIONS.inc()
            final = Final(
                model=model.name, provider=model.provider, finish_reason=FINISH_STOP, escalate=True
            )
            if digest is not None:
                await self._remember(caller, digest, rag.NOTHING_FOUND, final)
            yield Piece(rag.NOTHING_FOUND, model.name, model.provider)
            yield final
            return

        # The prompt actually sent: hold a strict bound of it (UTF-8 bytes).
        input_bound = min(prompt_tokens_bound([system_prompt, question]), model.context_window)
        reservation = await self.reserve(
            caller, catalogue, model, input_bound, max_tokens, deadline, rpc
        )
        generation = GenerationRequest(
            tenant=caller.tenant,
            model=model.name,
            messages=[("system", system_prompt), ("user", question)],
            max_tokens=max_tokens,
            temperature=request.temperature,
        )
        items = self._generate(caller, catalogue, model, generation, reservation, deadline, rpc)
        try:
            async with aclosing(items):
                async for item in items:
                    if isinstance(item, Piece):
                        yield item
                        continue
                    final = _final(item, rag.cited_sources(item.text, used))
                    if digest is not None:
                        await self._remember(caller, digest, item.text, final)
                    yield final
        except errors.InvalidArgument as exc:
            raise _ask_fields(exc) from None

    async def _retrieve(
        self,
        caller: Caller,
        question: str,
        top_k: int,
        filter_: dict[str, str],
        deadline: Deadline,
    ) -> list[rag.Source]:
        """Relevant chunks of the tenant's documents, best first; chunks that
        guardrails find poisoned (instructions hidden in a document) are dropped."""
        settings = self.settings

        def search(
            mode: retrieval_pb2.SearchMode, threshold: float | None
        ) -> Awaitable[retrieval_pb2.SearchResponse]:
            request = retrieval_pb2.SearchRequest(
                tenant=caller.tenant, query=question, top_k=top_k, mode=mode, filter=filter_
            )
            if threshold is not None:
                request.score_threshold = threshold
            return with_recovery(
                self.down,
                "retrieval",
                lambda: self.down.retrieval.Search(request, timeout=deadline.remaining()),
            )

        ranking = search(SEARCH_MODES[settings.ask_search_mode], None)
        try:
            if settings.ask_min_similarity > 0:
                # Ranked (hybrid) for order; dense with a similarity floor for relevance.
                ranked, relevant = await asyncio.gather(
                    ranking, search(retrieval_pb2.SEARCH_MODE_DENSE, settings.ask_min_similarity)
                )
                keep = {(r.document_id, r.start) for r in relevant.results}
                results = [r for r in ranked.results if (r.document_id, r.start) in keep]
                seen = {(r.document_id, r.start) for r in results}
                results += [r for r in relevant.results if (r.document_id, r.start) not in seen]
            else:
                results = list((await ranking).results)
        except grpc.RpcError as exc:
            raise translate("retrieval", exc) from None
        if not results or not settings.ask_check_documents:
            texts = [r.text for r in results]
        else:
            try:
                checks = await asyncio.gather(
                    *(
                        unary(
                            self.down.guardrails.CheckInput(
                                guardrails_pb2.CheckInputRequest(
                                    text=r.text,
                                    tenant=caller.tenant,
                                    source=guardrails_pb2.SOURCE_DOCUMENT,
                                    policy=self.document_policy,
                                ),
                                timeout=deadline.remaining(),
                            )
                        )
                        for r in results
                    )
                )
            except grpc.RpcError as exc:
                raise translate("guardrails", exc) from None
            texts = []
            for r, check in zip(results, checks, strict=True):
                if check.verdict == guardrails_pb2.VERDICT_BLOCK:
                    log.warning(
                        "dropped a retrieved chunk guardrails blocked",
                        extra={"document_id": r.document_id, "reason": check.reason},
                    )
                    texts.append("")
                elif check.verdict == guardrails_pb2.VERDICT_REDACT:
                    texts.append(check.redacted_text)
                else:
                    texts.append(r.text)
        return [
            rag.Source(0, r.document_id, r.title, text, r.start, r.end, r.score)
            for r, text in zip(results, texts, strict=True)
            if text.strip()
        ]
