"""One generation: llm GenerateStream or Generate, its output redacted by guardrails.

Streams (`generate`): pieces of llm GenerateStream go to guardrails RedactStream
as they arrive; only what the redactor releases reaches the client, so a PII
value split across pieces never escapes. Unary replies (`complete`): one llm
Generate, its whole output checked once with CheckOutput before any of it is
returned.
Leaving early (client cancelled, deadline, error) cancels the downstream
calls, which cancels the provider's generation.

Downstream streams are read by tasks of their own and stopped by cancelling the
call, never by cancelling a task that waits on it: grpc.aio (1.85) frees a read's
or write's native batch (a 96-byte grpc_op array) only when the coroutine
awaiting it resumes, so each task cancelled while it waits leaks one
(grpc/grpc#43360). A client that cancels has its handler's task cancelled
wherever it waits, so the handler waits on a queue (`_read_apart`), not on a call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Protocol, TypeGuard, TypeVar

import grpc

from aimesh.guardrails.v1 import guardrails_pb2
from aimesh.llm.v1 import llm_pb2
from services.edge.downstream import Downstream, ended, output_blocked, translate, unary

log = logging.getLogger(__name__)


@dataclass
class GenerationRequest:
    tenant: str
    model: str
    messages: list[tuple[str, str]]
    max_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] = field(default_factory=list)


@dataclass
class GenerationResult:
    """Filled in as the generation runs; complete when the stream ends."""

    model: str
    provider: str = ""
    finish_reason: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_micros: int = 0
    # Characters of raw model output seen so far (estimates usage if cut short).
    output_chars: int = 0
    text: str = ""
    redacted: bool = False
    finished: bool = False
    fallback_used: bool = False
    # The llm's last message of a stream cut short: its usage and cost are
    # those of the partial output (the provider's, or counted by the llm).
    incomplete: bool = False

    def record(self, piece: llm_pb2.GenerateStreamResponse | llm_pb2.GenerateResponse) -> None:
        """Take in one message of the llm's stream (the last carries usage and
        cost), or a whole Generate reply (never incomplete: it has no such field)."""
        self.model, self.provider = piece.model or self.model, piece.provider
        self.fallback_used = self.fallback_used or piece.fallback_used
        if piece.finish_reason or piece.HasField("usage"):
            self.finish_reason = piece.finish_reason
            self.input_tokens = piece.usage.input_tokens
            self.output_tokens = piece.usage.output_tokens
            self.cost_micros = piece.cost_micros
            self.incomplete = isinstance(piece, llm_pb2.GenerateStreamResponse) and piece.incomplete
        self.output_chars += len(piece.text)


M = TypeVar("M")
M_co = TypeVar("M_co", covariant=True)


class _Stream(Protocol[M_co]):
    """A grpc.aio call that streams responses."""

    def __aiter__(self) -> AsyncIterator[M_co]: ...

    def cancel(self) -> bool: ...


async def _read_apart(call: _Stream[M]) -> AsyncGenerator[M, None]:
    """The messages of `call`, read by a task of its own; closing this generator
    cancels the call, and the reader ends by itself (see the module's docstring).

    The queue is unbounded: what a generation streams is bounded by its max_tokens.
    """
    queue: asyncio.Queue[tuple[M | None, BaseException | None]] = asyncio.Queue()

    async def read() -> None:
        try:
            async for message in call:
                queue.put_nowait((message, None))
        except BaseException as exc:  # RpcError; CancelledError once cancelled here
            queue.put_nowait((None, exc))
        else:
            queue.put_nowait((None, None))

    reader = asyncio.create_task(read())
    try:
        while True:
            message, error = await queue.get()
            if error is not None:
                raise error
            if message is None:
                return
            yield message
    finally:
        call.cancel()
        await ended(reader)


R = TypeVar("R", llm_pb2.GenerateRequest, llm_pb2.GenerateStreamRequest)


def _llm_request(request: GenerationRequest, kind: type[R]) -> R:
    """GenerateRequest and GenerateStreamRequest have the same fields."""
    llm_request = kind(
        model=request.model,
        messages=[llm_pb2.Message(role=r, content=c) for r, c in request.messages],
        max_tokens=request.max_tokens,
        stop=request.stop,
    )
    if request.temperature is not None:
        llm_request.temperature = request.temperature
    if request.top_p is not None:
        llm_request.top_p = request.top_p
    return llm_request


async def generate(
    downstream: Downstream,
    request: GenerationRequest,
    result: GenerationResult,
    call_timeout: float,
    policy: guardrails_pb2.Policy | None = None,
) -> AsyncGenerator[str, None]:
    """Yield redacted text pieces; `result` holds model, usage and cost at the end."""
    llm_request = _llm_request(request, llm_pb2.GenerateStreamRequest)
    llm_call = downstream.llm.GenerateStream(llm_request, timeout=call_timeout)
    redact_call = downstream.guardrails.RedactStream(timeout=call_timeout)

    # The llm's error when its stream failed (a stream cut short included).
    llm_failure: list[grpc.RpcError] = []

    async def pump() -> None:
        """Model output -> redactor; half-close to flush when the model is done
        (or failed: what it produced before failing is still released, redacted)."""
        first = True
        pieces = llm_call.__aiter__()
        while True:
            try:
                piece = await pieces.__anext__()
            except StopAsyncIteration:
                break
            except grpc.RpcError as exc:
                llm_failure.append(exc)
                if first:  # nothing to flush: stop waiting for the redactor
                    redact_call.cancel()
                    return
                break
            result.record(piece)
            if piece.text:
                message = guardrails_pb2.RedactStreamRequest(text=piece.text)
                if first:
                    message.tenant = request.tenant
                    if _overrides(policy):
                        message.policy.CopyFrom(policy)
                    first = False
                try:
                    await redact_call.write(message)
                except (grpc.RpcError, asyncio.InvalidStateError):
                    return  # the redactor failed; its stream reports why
        with contextlib.suppress(grpc.RpcError, asyncio.InvalidStateError):
            await redact_call.done_writing()

    pump_task = asyncio.create_task(pump())
    # If the pump itself breaks, stop waiting for the redactor.
    pump_task.add_done_callback(
        lambda task: redact_call.cancel() if not task.cancelled() and task.exception() else None
    )
    try:
        try:
            async with aclosing(_read_apart(redact_call)) as redacted:
                async for released in redacted:
                    if any(
                        f.placeholder or f.action == guardrails_pb2.ACTION_REDACT
                        for f in released.findings
                    ):
                        result.redacted = True
                    if released.text:
                        result.text += released.text
                        yield released.text
        except grpc.RpcError as exc:
            if not llm_failure:
                raise translate("guardrails", exc) from None
        except asyncio.CancelledError:
            # Iterating a call cancelled on our side raises CancelledError, not
            # RpcError: when the pump cancelled the redactor because the model
            # failed, the model's error is the one to report. A caller that
            # cancelled us is still cancelled.
            task = asyncio.current_task()
            if (task is not None and task.cancelling()) or not llm_failure:
                raise
        await pump_task
        if llm_failure:
            raise translate("llm", llm_failure[0]) from None
        result.finished = True
    finally:
        # The calls, not the pump's task (see the module's docstring): it ends by itself.
        llm_call.cancel()
        redact_call.cancel()
        await ended(pump_task)


# Longer outputs than guardrails' default text limit go through RedactStream in
# chunks of this size instead of one CheckOutput call (no model answers that much).
CHECK_OUTPUT_MAX_CHARS = 200_000
_REDACT_CHUNK_CHARS = 16_384


async def complete(
    downstream: Downstream,
    request: GenerationRequest,
    result: GenerationResult,
    call_timeout: float,
    policy: guardrails_pb2.Policy | None = None,
) -> AsyncGenerator[str, None]:
    """For a unary reply: yield the whole output, redacted, as one piece.

    Nothing reaches the client before the end, so the output comes from one llm
    Generate (unary upstream too: no SSE parsing, no message per piece; the llm
    bounds each provider attempt, so a hanging provider still leaves time for
    the fallback) and is checked once with guardrails CheckOutput: one unary
    call and one detector pass over the whole text, instead of a bidirectional
    RedactStream with a write, a read and a detector pass per piece. A provider
    answer cut short is a failed attempt the llm retries or falls back from,
    never a partial reply.
    """
    ends = time.monotonic() + call_timeout
    llm_request = _llm_request(request, llm_pb2.GenerateRequest)
    try:
        reply = await unary(downstream.llm.Generate(llm_request, timeout=call_timeout))
    except grpc.RpcError as exc:
        raise translate("llm", exc) from None
    result.record(reply)
    text = str(reply.text)
    if text.strip():
        timeout = max(ends - time.monotonic(), 0.001)
        if len(text) <= CHECK_OUTPUT_MAX_CHARS:
            text = await _check_output(downstream, text, request.tenant, policy, result, timeout)
        else:
            text = await _redact_whole(downstream, text, request.tenant, policy, result, timeout)
    result.text = text
    result.finished = True
    if text:
        yield text


def _overrides(policy: guardrails_pb2.Policy | None) -> TypeGuard[guardrails_pb2.Policy]:
    """Whether a tenant policy changes guardrails' defaults (else none is sent)."""
    return policy is not None and bool(policy.actions or policy.disabled_detectors)


def _redacts(findings: Iterable[guardrails_pb2.Finding]) -> bool:
    return any(f.placeholder or f.action == guardrails_pb2.ACTION_REDACT for f in findings)


async def _check_output(
    downstream: Downstream,
    text: str,
    tenant: str,
    policy: guardrails_pb2.Policy | None,
    result: GenerationResult,
    call_timeout: float,
) -> str:
    check = guardrails_pb2.CheckOutputRequest(text=text, tenant=tenant)
    if _overrides(policy):
        check.policy.CopyFrom(policy)
    try:
        response = await unary(downstream.guardrails.CheckOutput(check, timeout=call_timeout))
    except grpc.RpcError as exc:
        raise translate("guardrails", exc) from None
    if response.verdict == guardrails_pb2.VERDICT_BLOCK:
        raise output_blocked(response.reason or "OUTPUT_BLOCKED")
    result.redacted = result.redacted or _redacts(response.findings)
    if response.verdict == guardrails_pb2.VERDICT_REDACT:
        return str(response.redacted_text)
    return text


async def _redact_whole(
    downstream: Downstream,
    text: str,
    tenant: str,
    policy: guardrails_pb2.Policy | None,
    result: GenerationResult,
    call_timeout: float,
) -> str:
    """An output too long for one CheckOutput, through RedactStream in chunks."""

    def chunks() -> Iterator[guardrails_pb2.RedactStreamRequest]:
        for start in range(0, len(text), _REDACT_CHUNK_CHARS):
            message = guardrails_pb2.RedactStreamRequest(
                text=text[start : start + _REDACT_CHUNK_CHARS]
            )
            if start == 0:
                message.tenant = tenant
                if _overrides(policy):
                    message.policy.CopyFrom(policy)
            yield message

    call = downstream.guardrails.RedactStream(chunks(), timeout=call_timeout)
    released: list[str] = []
    try:
        async with aclosing(_read_apart(call)) as replies:
            async for reply in replies:
                result.redacted = result.redacted or _redacts(reply.findings)
                released.append(reply.text)
    except grpc.RpcError as exc:
        raise translate("guardrails", exc) from None
    return "".join(released)
