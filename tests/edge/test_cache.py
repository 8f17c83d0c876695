"""The response cache: per tenant, TTL, retired by corpus changes."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from services.edge.cache import ResponseCache, cache_key


async def test_per_tenant_with_ttl(redis: Redis, prefix: str) -> None:
    for cache in (ResponseCache(redis, prefix, ttl_seconds=1), ResponseCache(None, prefix, 1)):
        request = {"model": "m", "messages": [["user", "hi"]]}
        acme, globex = cache_key("acme", "chat", request), cache_key("globex", "chat", request)
        assert acme != globex
        await cache.put("acme", acme, {"text": "hello"})
        assert await cache.get("acme", acme) == {"text": "hello"}
        assert await cache.get("globex", globex) is None
        await asyncio.sleep(1.1)
        assert await cache.get("acme", acme) is None


async def test_corpus_generation_changes_with_ingest(redis: Redis, prefix: str) -> None:
    cache = ResponseCache(redis, prefix, ttl_seconds=60)
    before = await cache.corpus_generation("acme")
    await cache.bump_corpus("acme")
    assert await cache.corpus_generation("acme") == before + 1
    assert await cache.corpus_generation("globex") == 0
