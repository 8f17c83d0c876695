"""The sliding-window limiter against the real Redis, and its in-process twin."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from services.edge.ratelimit import (
    LimiterUnavailable,
    LocalRateLimiter,
    Quota,
    RateLimiter,
    RedisRateLimiter,
)


def quota(key: str, limit: int, cost: int = 1, reason: str = "KEY_RATE_LIMITED") -> Quota:
    return Quota(key=key, subject=f"{key} per window", limit=limit, cost=cost, reason=reason)


def limiters(redis: Redis, prefix: str) -> list[RedisRateLimiter | LocalRateLimiter]:
    return [RedisRateLimiter(redis, prefix, 60), LocalRateLimiter(60)]


async def test_admits_exactly_the_limit_under_concurrency(redis: Redis, prefix: str) -> None:
    for limiter in limiters(redis, prefix):
        decisions = await asyncio.gather(*(limiter.admit([quota("k", 7)]) for _ in range(40)))
        admitted = [d for d in decisions if d.admitted]
        assert len(admitted) == 7
        rejected = [d for d in decisions if not d.admitted]
        assert all(d.violated and d.violated.key == "k" for d in rejected)
        # Retry when the oldest admitted request leaves the 60 s window.
        assert all(d.retry_after is not None and 0 < d.retry_after <= 60 for d in rejected)


async def test_two_limiters_share_one_redis_window(redis: Redis, prefix: str) -> None:
    a, b = RedisRateLimiter(redis, prefix, 60), RedisRateLimiter(redis, prefix, 60)
    decisions = await asyncio.gather(
        *(limiter.admit([quota("shared", 5)]) for limiter in [a, b] * 10)
    )
    assert sum(d.admitted for d in decisions) == 5


async def test_all_quotas_must_have_room_and_none_is_counted_on_rejection(
    redis: Redis, prefix: str
) -> None:
    for limiter in limiters(redis, prefix):
        key_q, tenant_q = quota("key", 10), quota("tenant", 2, reason="TENANT_RATE_LIMITED")
        assert (await limiter.admit([key_q, tenant_q])).admitted
        assert (await limiter.admit([key_q, tenant_q])).admitted
        rejected = await limiter.admit([key_q, tenant_q])
        assert not rejected.admitted and rejected.violated == tenant_q
        # The rejected call did not use the key's quota: 8 more fit on it alone.
        results = [await limiter.admit([key_q]) for _ in range(9)]
        assert [r.admitted for r in results] == [True] * 8 + [False]


async def test_token_costs_add_up_and_oversized_requests_never_fit(
    redis: Redis, prefix: str
) -> None:
    for limiter in limiters(redis, prefix):
        tokens = quota("tok", 1000, reason="KEY_TOKEN_LIMITED")
        assert (await limiter.admit([Quota(**{**tokens.__dict__, "cost": 600})])).admitted
        second = await limiter.admit([Quota(**{**tokens.__dict__, "cost": 600})])
        assert not second.admitted and second.retry_after is not None
        assert (await limiter.admit([Quota(**{**tokens.__dict__, "cost": 400})])).admitted
        never = await limiter.admit([Quota(**{**tokens.__dict__, "cost": 1001})])
        assert not never.admitted and never.retry_after is None


async def test_window_slides(redis: Redis, prefix: str) -> None:
    limiter = RedisRateLimiter(redis, prefix, 0.3)
    assert (await limiter.admit([quota("w", 1)])).admitted
    rejected = await limiter.admit([quota("w", 1)])
    assert not rejected.admitted
    assert rejected.retry_after is not None
    await asyncio.sleep(rejected.retry_after + 0.05)
    assert (await limiter.admit([quota("w", 1)])).admitted


async def test_unreachable_redis_fails_open_or_closed() -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        closed = RateLimiter(RedisRateLimiter(dead, "x:", 60), "closed")
        with pytest.raises(LimiterUnavailable):
            await closed.admit([quota("k", 1)])
        opened = RateLimiter(RedisRateLimiter(dead, "x:", 60), "open")
        assert (await opened.admit([quota("k", 1)])).admitted
    finally:
        await dead.aclose()


async def test_retry_after_counts_the_oldest_entries_that_free_enough_room(
    redis: Redis, prefix: str
) -> None:
    """A refused call retries when enough of the oldest calls have left the
    window, however many entries that takes (the script reads them in pages
    from the oldest, not the whole window)."""

    def costing(cost: int) -> list[Quota]:
        return [quota("pages", 100, cost, reason="KEY_TOKEN_LIMITED")]

    for limiter in limiters(redis, prefix):
        for _ in range(20):  # 20 entries of 3 tokens, then 10 more a while later
            assert (await limiter.admit(costing(3))).admitted
        await asyncio.sleep(0.5)
        for _ in range(10):
            assert (await limiter.admit(costing(3))).admitted
        # 90 used: 60 more need 50 freed (17 entries, all early);
        # 80 more need 70 freed (24 entries: the 24th is from the later batch).
        early, late = await limiter.admit(costing(60)), await limiter.admit(costing(80))
        assert not early.admitted and not late.admitted
        assert early.retry_after is not None and late.retry_after is not None
        assert early.retry_after < late.retry_after <= 60
        full = await limiter.admit(costing(100))  # needs every entry gone
        assert full.retry_after is not None and early.retry_after < full.retry_after <= 60
