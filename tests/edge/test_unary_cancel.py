"""A client that cancels while the edge waits on a unary downstream call (CheckInput,
Search, CheckOutput) cancels that call, not the task awaiting it: grpc.aio (1.85)
leaks a native batch per task cancelled while it awaits a call (grpc/grpc#43360).
The fake (shared with test_generation_cancel) records which of the two ended its wait."""

from __future__ import annotations

import asyncio

import pytest

from services.edge.downstream import unary
from tests.edge.test_generation_cancel import FakeUnaryCall


async def test_the_reply_comes_back() -> None:
    call = FakeUnaryCall()
    waiting = asyncio.create_task(unary(call))
    await call.awaiting.wait()
    call.reply.set_result("verdict")
    assert await waiting == "verdict"
    assert not call.cancelled


async def test_a_cancelled_caller_cancels_the_call_not_the_task_awaiting_it() -> None:
    call = FakeUnaryCall()
    handler = asyncio.create_task(unary(call))
    await call.awaiting.wait()
    handler.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handler
    assert call.cancelled
    assert call.awaits_interrupted == 0


async def test_calls_gathered_for_a_cancelled_caller_are_all_cancelled() -> None:
    # guard_input checks several texts at once with asyncio.gather.
    calls = [FakeUnaryCall() for _ in range(3)]

    async def guard_input() -> list[str]:
        return await asyncio.gather(*(unary(c) for c in calls))

    handler = asyncio.create_task(guard_input())
    for call in calls:
        await call.awaiting.wait()
    handler.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handler
    assert all(c.cancelled for c in calls)
    assert sum(c.awaits_interrupted for c in calls) == 0
