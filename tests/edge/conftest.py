"""Fixtures for the edge tests: the real Redis at 127.0.0.1:6379, one key prefix per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import BlockingConnectionPool, Redis

from tests.edge.mesh import Mesh, start_mesh

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    pool = BlockingConnectionPool.from_url(REDIS_URL, max_connections=32, decode_responses=True)
    client = Redis.from_pool(pool)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    """A key prefix no other test uses; its keys are deleted afterwards."""
    value = f"test:edge:{uuid.uuid4().hex[:12]}:"
    yield value
    keys = [k async for k in redis.scan_iter(match=value + "*", count=1000)]
    if keys:
        await redis.delete(*keys)


@pytest.fixture(scope="package")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """The four real services and the real Redis, started once for the edge tests."""
    running = start_mesh(tmp_path_factory.mktemp("mesh"))
    try:
        yield running
    finally:
        running.stop()
