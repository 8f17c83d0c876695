"""Response cache: exact match of deterministic (temperature 0) requests.

Entries are per tenant: the tenant is part of the key, so one tenant never
sees another's answers. Ask answers also depend on the tenant's documents, so
their key includes the tenant's corpus generation, bumped by every ingest and
delete: a changed corpus never serves a stale answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import OrderedDict
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.edge import metrics

log = logging.getLogger(__name__)


def cache_key(tenant: str, kind: str, request: dict[str, Any]) -> str:
    body = json.dumps({"tenant": tenant, "kind": kind, **request}, sort_keys=True)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


class ResponseCache:
    """Redis-backed when given a client, else a bounded in-process LRU."""

    def __init__(
        self, redis: Redis | None, prefix: str, ttl_seconds: int, local_capacity: int = 1024
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._local: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._local_generations: dict[str, int] = {}
        self._capacity = local_capacity

    def _entry_key(self, tenant: str, digest: str) -> str:
        return f"{self._prefix}cache:{{{tenant}}}:{digest}"

    def _generation_key(self, tenant: str) -> str:
        return f"{self._prefix}corpus:{{{tenant}}}"

    async def corpus_generation(self, tenant: str) -> int:
        if self._redis is None:
            return self._local_generations.get(tenant, 0)
        try:
            value = await self._redis.get(self._generation_key(tenant))
        except RedisError:
            return -1  # unknown: -1 never matches a stored entry's generation
        return int(value or 0)

    async def bump_corpus(self, tenant: str) -> None:
        if self._redis is None:
            self._local_generations[tenant] = self._local_generations.get(tenant, 0) + 1
            return
        try:
            await self._redis.incr(self._generation_key(tenant))
        except RedisError as exc:
            log.warning("cache generation bump failed", extra={"error": repr(exc)})

    async def get(self, tenant: str, digest: str) -> dict[str, Any] | None:
        raw: str | bytes | None
        if self._redis is None:
            hit = self._local.get(digest)
            raw = hit[1] if hit and hit[0] > time.monotonic() else None
            if raw is not None:
                self._local.move_to_end(digest)
        else:
            try:
                raw = await self._redis.get(self._entry_key(tenant, digest))
            except RedisError as exc:
                metrics.STORE_FAILURES.labels("cache", "skip").inc()
                log.warning("cache read failed", extra={"error": repr(exc)})
                raw = None
        metrics.CACHE.labels("hit" if raw is not None else "miss").inc()
        return json.loads(raw) if raw is not None else None

    async def put(self, tenant: str, digest: str, value: dict[str, Any]) -> None:
        body = json.dumps(value)
        if self._redis is None:
            self._local[digest] = (time.monotonic() + self._ttl, body)
            self._local.move_to_end(digest)
            while len(self._local) > self._capacity:
                self._local.popitem(last=False)
            return
        try:
            await self._redis.set(self._entry_key(tenant, digest), body, ex=self._ttl)
        except RedisError as exc:
            metrics.STORE_FAILURES.labels("cache", "skip").inc()
            log.warning("cache write failed", extra={"error": repr(exc)})
