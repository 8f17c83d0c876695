"""Rate limits: exact sliding windows, one atomic decision per request.

A decision checks several quotas at once (requests and tokens, of the key and
of its tenant) and admits the request only when all of them have room; then it
counts it against all of them. In Redis this is one Lua script, so replicas
sharing a Redis never admit more than the limit between them. Each quota is a
sorted set of the admitted requests in the window (member `<id>:<cost>`, score
its time in ms, Redis's own clock) plus a counter of their summed cost.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.edge import metrics

log = logging.getLogger(__name__)

# KEYS: per quota its sorted set and its counter. ARGV: window ms, member id,
# then per quota its limit and cost. Returns {1} when admitted, else
# {0, index of the violated quota (1-based), ms until it has room or -1 never}.
_ADMIT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local member = ARGV[2]
local n = #KEYS / 2
local worst, worst_retry = 0, -2
local function cost_of(m) return tonumber(string.match(m, ':(%d+)$')) end
for i = 1, n do
  local z, s = KEYS[2 * i - 1], KEYS[2 * i]
  local limit, cost = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  local old = redis.call('ZRANGEBYSCORE', z, '-inf', now - window)
  if #old > 0 then
    local freed = 0
    for _, m in ipairs(old) do freed = freed + cost_of(m) end
    redis.call('ZREMRANGEBYSCORE', z, '-inf', now - window)
    if redis.call('ZCARD', z) == 0 then
      redis.call('DEL', s)
    else
      redis.call('DECRBY', s, freed)
    end
  end
  if cost > 0 then
    local used = tonumber(redis.call('GET', s) or '0')
    if used + cost > limit then
      local retry = -1
      if cost <= limit then
        -- The oldest entries whose expiry frees enough room, read in growing
        -- pages from the oldest: O(log n + entries read), never the whole window.
        local need, acc, first, page, found = used + cost - limit, 0, 0, 8, false
        while not found do
          local entries = redis.call('ZRANGE', z, first, first + page - 1, 'WITHSCORES')
          if #entries == 0 then break end
          for j = 1, #entries, 2 do
            acc = acc + cost_of(entries[j])
            if acc >= need then
              retry = tonumber(entries[j + 1]) + window - now
              found = true
              break
            end
          end
          first, page = first + page, page * 2
        end
      end
      if worst == 0 or retry == -1 or (worst_retry ~= -1 and retry > worst_retry) then
        worst, worst_retry = i, retry
      end
    end
  end
end
if worst > 0 then return {0, worst, worst_retry} end
for i = 1, n do
  local cost = tonumber(ARGV[2 + 2 * i])
  if cost > 0 then
    local z, s = KEYS[2 * i - 1], KEYS[2 * i]
    redis.call('ZADD', z, now, member .. ':' .. cost)
    redis.call('INCRBY', s, cost)
    redis.call('PEXPIRE', z, window + 1000)
    redis.call('PEXPIRE', s, window + 1000)
  end
end
return {1, 0, 0}
"""


@dataclass(frozen=True)
class Quota:
    """One limit a request counts against. `key` names it in storage."""

    key: str
    # Shown to the client in QuotaFailure, e.g. "tenant acme: requests per 60s".
    subject: str
    limit: int
    cost: int
    # Reason code for rejections, e.g. KEY_RATE_LIMITED.
    reason: str


@dataclass(frozen=True)
class Decision:
    admitted: bool
    violated: Quota | None = None
    # Seconds until the violated quota has room; None when it never will
    # (the request alone costs more than the limit).
    retry_after: float | None = None


ADMITTED = Decision(admitted=True)


class LimiterUnavailable(Exception):
    """The shared store could not decide (Redis unreachable)."""


class RedisRateLimiter:
    """Shared by every edge replica pointing at the same Redis and prefix."""

    def __init__(self, redis: Redis, prefix: str, window_seconds: float) -> None:
        self._redis = redis
        self._prefix = prefix
        self._window_ms = int(window_seconds * 1000)
        self._script = redis.register_script(_ADMIT_LUA)

    async def admit(self, quotas: Sequence[Quota]) -> Decision:
        if not quotas:
            return ADMITTED
        keys: list[str] = []
        args: list[str | int] = [self._window_ms, uuid.uuid4().hex]
        for quota in quotas:
            keys += [f"{self._prefix}rl:{quota.key}:z", f"{self._prefix}rl:{quota.key}:n"]
            args += [quota.limit, quota.cost]
        try:
            admitted, index, retry_ms = await self._script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise LimiterUnavailable(repr(exc)) from exc
        if admitted:
            return ADMITTED
        retry = None if int(retry_ms) < 0 else max(int(retry_ms), 1) / 1000
        return Decision(admitted=False, violated=quotas[int(index) - 1], retry_after=retry)


class LocalRateLimiter:
    """The same sliding windows in process memory, for a single edge process."""

    def __init__(self, window_seconds: float) -> None:
        self._window = window_seconds
        self._entries: dict[str, deque[tuple[float, int]]] = {}
        self._used: dict[str, int] = {}

    def _trim(self, key: str, now: float) -> deque[tuple[float, int]]:
        entries = self._entries.setdefault(key, deque())
        while entries and entries[0][0] <= now - self._window:
            _, cost = entries.popleft()
            self._used[key] = self._used.get(key, 0) - cost
        if not entries:
            self._entries.pop(key, None)
            self._used.pop(key, None)
            return self._entries.setdefault(key, deque())
        return entries

    async def admit(self, quotas: Sequence[Quota]) -> Decision:
        # No await inside: the check and the count are atomic on the event loop.
        now = time.monotonic()
        worst: Decision | None = None
        for quota in quotas:
            entries = self._trim(quota.key, now)
            used = self._used.get(quota.key, 0)
            if quota.cost <= 0 or used + quota.cost <= quota.limit:
                continue
            retry: float | None = None
            if quota.cost <= quota.limit:
                need, freed = used + quota.cost - quota.limit, 0
                for stamp, cost in entries:
                    freed += cost
                    if freed >= need:
                        retry = max(stamp + self._window - now, 0.001)
                        break
            candidate = Decision(admitted=False, violated=quota, retry_after=retry)
            if (
                worst is None
                or retry is None
                or (worst.retry_after is not None and retry > worst.retry_after)
            ):
                worst = candidate
        if worst is not None:
            return worst
        for quota in quotas:
            if quota.cost > 0:
                self._entries.setdefault(quota.key, deque()).append((now, quota.cost))
                self._used[quota.key] = self._used.get(quota.key, 0) + quota.cost
        return ADMITTED

    def prune(self) -> None:
        """Drop windows that have emptied (keeps memory bounded by active keys)."""
        now = time.monotonic()
        for key in list(self._entries):
            self._trim(key, now)
            if not self._entries.get(key):
                self._entries.pop(key, None)


class RateLimiter:
    """Admission with the configured behaviour when the store is unreachable."""

    def __init__(self, backend: RedisRateLimiter | LocalRateLimiter, failure_mode: str) -> None:
        self.backend = backend
        self.failure_mode = failure_mode

    async def admit(self, quotas: Sequence[Quota]) -> Decision:
        try:
            return await self.backend.admit(quotas)
        except LimiterUnavailable as exc:
            metrics.STORE_FAILURES.labels("ratelimit", self.failure_mode).inc()
            log.warning(
                "rate limiter store unreachable",
                extra={"failure_mode": self.failure_mode, "error": str(exc)},
            )
            if self.failure_mode == "open":
                return ADMITTED
            raise
