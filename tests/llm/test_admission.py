"""The local model's wait queue: bounded, fair between tenants, cancellable."""

from __future__ import annotations

import asyncio

import pytest

from services.llm.admission import FairQueue, QueueFull


async def test_bound_refuses_excess_at_once() -> None:
    queue = FairQueue(slots=1, max_waiting=1)
    release = asyncio.Event()

    async def hold() -> None:
        async with queue.slot("a"):
            await release.wait()

    holder = asyncio.create_task(hold())
    waiter = asyncio.create_task(hold())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert queue.busy == 1 and queue.waiting == 1
    with pytest.raises(QueueFull):
        async with queue.slot("b"):
            pass
    release.set()
    await asyncio.gather(holder, waiter)
    assert queue.busy == 0 and queue.waiting == 0


async def test_round_robin_between_tenants() -> None:
    queue = FairQueue(slots=1, max_waiting=100)
    order: list[str] = []
    gate = asyncio.Event()

    async def first() -> None:
        async with queue.slot("busy"):
            await gate.wait()

    async def job(tenant: str, n: int) -> None:
        async with queue.slot(tenant):
            order.append(f"{tenant}{n}")

    blocker = asyncio.create_task(first())
    await asyncio.sleep(0)
    jobs = [asyncio.create_task(job("busy", i)) for i in range(3)]
    await asyncio.sleep(0)
    jobs.append(asyncio.create_task(job("quiet", 0)))
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(blocker, *jobs)
    # The quiet tenant does not wait behind all of the busy tenant's queue.
    assert order.index("quiet0") <= 1


async def test_cancelled_waiter_leaves_the_queue() -> None:
    queue = FairQueue(slots=1, max_waiting=5)
    gate = asyncio.Event()

    async def hold() -> None:
        async with queue.slot():
            await gate.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(hold())
    await asyncio.sleep(0)
    assert queue.waiting == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert queue.waiting == 0
    gate.set()
    await holder
    assert queue.busy == 0
