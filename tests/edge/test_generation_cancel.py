"""A client that cancels mid-stream cancels the downstream calls, not the tasks
reading them.

grpc.aio (1.85) frees the native batch of a read only when the coroutine awaiting
it resumes: a task cancelled while it waits on a call leaks one (a 96-byte
grpc_op array, grpc/grpc#43360), which made the edge's RSS grow by about 0.4 KiB
per call in the soak. The fakes here stand in for grpc.aio calls and record
whether a read was interrupted by a task cancellation (the leak) or ended
because its call was cancelled (what grpc.aio does without leaking).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Generator
from contextlib import aclosing
from types import SimpleNamespace
from typing import Any

import pytest

from aimesh.guardrails.v1 import guardrails_pb2
from aimesh.llm.v1 import llm_pb2
from services.edge.generation import GenerationRequest, GenerationResult, complete, generate

_CANCELLED = object()


class FakeCall:
    """A streaming call: yields what is queued, then waits until it is cancelled,
    and then raises CancelledError, as grpc.aio does for a call cancelled locally."""

    def __init__(self, messages: list[Any]) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        for message in messages:
            self.queue.put_nowait(message)
        self.cancelled = False
        self.reads_interrupted = 0
        # Set when a reader waits for more after taking a message.
        self.waiting_for_more = asyncio.Event()

    def cancel(self) -> bool:
        if not self.cancelled:
            self.cancelled = True
            self.queue.put_nowait(_CANCELLED)
        return True

    async def __aiter__(self) -> AsyncIterator[Any]:
        while True:
            try:
                message = await self.queue.get()
            except asyncio.CancelledError:
                # Where grpc.aio leaks a batch: the reading task itself was cancelled.
                self.reads_interrupted += 1
                raise
            if message is _CANCELLED:
                raise asyncio.CancelledError
            yield message
            self.waiting_for_more.set()


class FakeRedactCall(FakeCall):
    """RedactStream: each piece written comes back as released text."""

    def __init__(self) -> None:
        super().__init__([])

    async def write(self, message: guardrails_pb2.RedactStreamRequest) -> None:
        self.queue.put_nowait(guardrails_pb2.RedactStreamResponse(text=message.text))

    async def done_writing(self) -> None:
        return None


class FakeUnaryCall:
    """A unary call (llm Generate) that never answers until it is cancelled, then
    raises CancelledError, as grpc.aio does for a call cancelled locally."""

    def __init__(self) -> None:
        self.reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.cancelled = False
        self.awaits_interrupted = 0  # the leak: the awaiting task itself was cancelled
        self.awaiting = asyncio.Event()

    def cancel(self) -> bool:
        self.cancelled = True
        self.reply.cancel()
        return True

    async def _wait(self) -> Any:
        self.awaiting.set()
        try:
            return await self.reply
        except asyncio.CancelledError:
            if not self.cancelled:
                self.awaits_interrupted += 1
            raise

    def __await__(self) -> Generator[Any, None, Any]:
        return self._wait().__await__()


def _downstream(llm: FakeCall | FakeUnaryCall, redact: FakeRedactCall | None = None) -> Any:
    return SimpleNamespace(
        llm=SimpleNamespace(
            GenerateStream=lambda request, timeout: llm, Generate=lambda request, timeout: llm
        ),
        guardrails=SimpleNamespace(RedactStream=lambda timeout: redact),
    )


REQUEST = GenerationRequest(tenant="t", model="m", messages=[("user", "hi")], max_tokens=16)


async def test_a_cancelled_stream_cancels_the_calls_and_interrupts_no_read() -> None:
    # The model sent one piece and is still generating (its stream stays open).
    llm = FakeCall([llm_pb2.GenerateStreamResponse(text="Hello", model="m", provider="p")])
    redact = FakeRedactCall()
    first: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def handler() -> None:
        pieces = generate(_downstream(llm, redact), REQUEST, GenerationResult(model="m"), 30.0)
        async with aclosing(pieces):
            async for piece in pieces:
                if not first.done():
                    first.set_result(piece)

    task = asyncio.create_task(handler())
    assert await first == "Hello"
    task.cancel()  # what grpc does to the handler's task when the client cancels
    with pytest.raises(asyncio.CancelledError):
        await task

    assert llm.cancelled and redact.cancelled
    assert llm.reads_interrupted == 0
    assert redact.reads_interrupted == 0


async def test_a_cancelled_unary_reply_cancels_the_llm_call_and_interrupts_no_wait() -> None:
    llm = FakeUnaryCall()
    result = GenerationResult(model="m")

    async def handler() -> None:
        async with aclosing(complete(_downstream(llm), REQUEST, result, 30.0)) as pieces:
            async for _ in pieces:
                pass

    task = asyncio.create_task(handler())
    await llm.awaiting.wait()  # the model is still generating
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert llm.cancelled
    assert llm.awaits_interrupted == 0
    assert not result.finished
