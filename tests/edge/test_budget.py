"""Budgets against the real Redis: reservations never overshoot, settlement is
exact, and spend survives Redis losing its data."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from redis.asyncio import Redis

from services.edge.budget import (
    BudgetExceeded,
    Budgets,
    Ledger,
    LocalBudgets,
    RedisBudgets,
)


async def spender(budgets: Budgets, tenant: str, budget: int, worst: int) -> int:
    """Calls until the budget refuses one: reserve the worst case, 'generate',
    settle to a real cost at most the worst case. Returns what it was charged."""
    charged = 0
    while True:
        try:
            reservation = await budgets.reserve(tenant, budget, worst, hold_seconds=30)
        except BudgetExceeded:
            return charged
        await asyncio.sleep(random.random() / 200)
        actual = random.randint(worst // 4, worst)
        await budgets.settle(reservation, actual)
        charged += actual


@pytest.mark.parametrize("backend", ["redis", "local"])
async def test_concurrent_spenders_never_overshoot(redis: Redis, prefix: str, backend: str) -> None:
    ledgers = [Ledger(""), Ledger("")]
    if backend == "redis":
        # Two edge processes (two ledgers) sharing one Redis.
        stores = [Budgets(RedisBudgets(redis, prefix, lg), "closed") for lg in ledgers]
    else:
        stores = [Budgets(LocalBudgets(ledgers[0]), "closed")]
    budget, worst, workers = 50_000, 700, 24
    charged = await asyncio.gather(
        *(spender(stores[i % len(stores)], "acme", budget, worst) for i in range(workers))
    )
    usage = await stores[0].usage("acme")
    assert usage.reserved == 0
    assert usage.spent == sum(charged)
    assert usage.spent <= budget
    # The last refusals came when little was left: the budget was used, not wasted.
    assert usage.spent > budget - worst * workers


async def test_settles_to_real_cost_and_releases_unused(redis: Redis, prefix: str) -> None:
    budgets = Budgets(RedisBudgets(redis, prefix, Ledger("")), "closed")
    reservation = await budgets.reserve("t", 1000, 900, hold_seconds=30)
    assert (await budgets.usage("t")).reserved == 900
    with pytest.raises(BudgetExceeded):
        await budgets.reserve("t", 1000, 200, hold_seconds=30)
    await budgets.settle(reservation, 120)
    usage = await budgets.usage("t")
    assert (usage.spent, usage.reserved) == (120, 0)
    assert await budgets.reserve("t", 1000, 880, hold_seconds=30) is not None


async def test_orphaned_reservations_expire(redis: Redis, prefix: str) -> None:
    budgets = Budgets(RedisBudgets(redis, prefix, Ledger("")), "closed")
    await budgets.reserve("t", 1000, 1000, hold_seconds=0.2)  # never settled: process died
    with pytest.raises(BudgetExceeded):
        await budgets.reserve("t", 1000, 1, hold_seconds=30)
    await asyncio.sleep(0.3)
    assert await budgets.reserve("t", 1000, 1000, hold_seconds=30) is not None


async def test_spend_survives_redis_losing_its_data(
    redis: Redis, prefix: str, tmp_path: Path
) -> None:
    ledger_a, ledger_b = Ledger(str(tmp_path / "a")), Ledger(str(tmp_path / "b"))
    a = Budgets(RedisBudgets(redis, prefix, ledger_a), "closed")
    b = Budgets(RedisBudgets(redis, prefix, ledger_b), "closed")
    for budgets, cost in ((a, 300), (b, 200), (a, 100)):
        await budgets.settle(await budgets.reserve("t", 1000, 400, hold_seconds=30), cost)
    assert (await a.usage("t")).spent == 600

    # Redis restarts empty (no persistence): each process restores its own
    # settled total on its next call; nothing is lost, nothing counted twice.
    keys = [k async for k in redis.scan_iter(match=prefix + "*")]
    await redis.delete(*keys)
    await a.usage("t")
    await a.usage("t")
    await b.usage("t")
    assert (await a.usage("t")).spent == 600
    with pytest.raises(BudgetExceeded):
        await a.reserve("t", 1000, 401, hold_seconds=30)

    # An edge process restarts too: its successor takes over its ledger.
    await redis.delete(*[k async for k in redis.scan_iter(match=prefix + "*")])
    ledger_a.close()
    successor = Ledger(str(tmp_path / "a"))
    assert successor.instance == ledger_a.instance
    restarted_a = Budgets(RedisBudgets(redis, prefix, successor), "closed")
    await b.usage("t")
    assert (await restarted_a.usage("t")).spent == 600
    # A second live process on the same directory gets an instance of its own.
    sibling = Ledger(str(tmp_path / "a"))
    assert sibling.instance != successor.instance
    for ledger in (successor, sibling, ledger_b):
        ledger.close()


async def test_an_idle_process_restores_its_spend(redis: Redis, prefix: str) -> None:
    ledger_a, ledger_b = Ledger(""), Ledger("")
    a = Budgets(RedisBudgets(redis, prefix, ledger_a), "closed")
    b = Budgets(RedisBudgets(redis, prefix, ledger_b), "closed")
    await b.settle(await b.reserve("t", 1000, 400, hold_seconds=30), 400)
    await b.restore_if_lost()  # leaves its marker
    await redis.delete(*[k async for k in redis.scan_iter(match=prefix + "*")])  # emptied
    assert (await a.usage("t")).spent == 0  # b's spend is gone, and b makes no call...
    await b.restore_if_lost()  # ...but its periodic check puts it back
    assert (await a.usage("t")).spent == 400
    with pytest.raises(BudgetExceeded):
        await a.reserve("t", 1000, 601, hold_seconds=30)
    # Only once: the marker is back, so nothing is written again.
    assert not await b.backend.restore_if_lost()  # type: ignore[union-attr]


async def test_unreachable_redis_fails_open_or_closed() -> None:
    from services.edge.budget import BudgetUnavailable

    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        closed = Budgets(RedisBudgets(dead, "x:", Ledger("")), "closed")
        with pytest.raises(BudgetUnavailable):
            await closed.reserve("t", 100, 1, hold_seconds=1)
        ledger = Ledger("")
        opened = Budgets(RedisBudgets(dead, "x:", ledger), "open")
        # Admitted unchecked, and still charged: to this process's ledger now,
        # to Redis with its next call that reaches it.
        reservation = await opened.reserve("t", 100, 1, hold_seconds=1)
        await opened.settle(reservation, 1)
        assert ledger.total("t", reservation.day) == 1
    finally:
        await dead.aclose()


async def test_free_models_reserve_and_settle_nothing(redis: Redis, prefix: str) -> None:
    budgets = Budgets(RedisBudgets(redis, prefix, Ledger("")), "closed")
    await budgets.settle(await budgets.reserve("t", 1000, 0, hold_seconds=0.01), 0)
    assert (await budgets.usage("t")).spent == 0
