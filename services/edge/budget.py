"""Daily cost budgets per tenant: reserve the worst case, settle to the real cost.

Invariant: settled spend + open reservations <= budget, checked and updated
in one atomic step, so concurrent requests (on any replica) never push spend
past the budget: each call reserves its worst-case cost first and settles to
its real cost (never more than the reservation) afterwards.

State in Redis, per tenant and UTC day (one hash tag, so one cluster slot):
  <p>budget:{tenant}:<day>       hash: "reserved" (sum of open reservations) and
                                 "spent:<instance>" (spend settled by each edge
                                 process, a monotonic total)
  <p>budget:{tenant}:<day>:res   hash: reservation id -> amount
  <p>budget:{tenant}:<day>:exp   zset: reservation id -> expiry (ms)

Why per-instance monotonic totals: every edge process also keeps its own
settled totals (in memory, and in an append-only ledger file when
AIMESH_EDGE_LEDGER_DIR is set). Each reserve and settle writes
max(stored, local total) for its own field, an idempotent and commutative
operation. When Redis restarts empty (or fails over to a replica that missed
writes), the next call of each process restores its spend: nothing is lost and
nothing is counted twice. A process that makes no call restores its spend too,
within a health-check interval: it keeps a marker key in Redis
(`<p>budget-ledger:<instance>`) and, finding it gone, writes all of today's
totals again (`RedisBudgets.restore_if_lost`). Open reservations are not restored; they expire.

Failing open (Redis unreachable, AIMESH_EDGE_REDIS_FAILURE_MODE=open), a call
is admitted without a budget check but still charged: its cost goes to this
process's ledger and reaches Redis with the process's next call.

Reservations whose call never settled (the edge process died) expire after the
call's deadline and are released, not charged.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import json
import logging
import math
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.edge import metrics

log = logging.getLogger(__name__)

_COMMON_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h, res, exp = KEYS[1], KEYS[2], KEYS[3]
local expired = redis.call('ZRANGEBYSCORE', exp, '-inf', now)
for _, id in ipairs(expired) do
  local amount = redis.call('HGET', res, id)
  if amount then
    redis.call('HINCRBY', h, 'reserved', 0 - tonumber(amount))
    redis.call('HDEL', res, id)
  end
  redis.call('ZREM', exp, id)
end
local field = 'spent:' .. ARGV[1]
local mine = tonumber(ARGV[2])
if tonumber(redis.call('HGET', h, field) or '0') < mine then
  redis.call('HSET', h, field, mine)
end
local function spent_total()
  local all = redis.call('HGETALL', h)
  local total = 0
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 6) == 'spent:' then total = total + tonumber(all[i + 1]) end
  end
  return total
end
local function keep()
  local ttl = tonumber(ARGV[3])
  redis.call('EXPIRE', h, ttl)
  redis.call('EXPIRE', res, ttl)
  redis.call('EXPIRE', exp, ttl)
end
"""

# ARGV: instance, its local total, ttl s, budget, amount, reservation id, expiry ms from now.
# Returns {admitted, spent, reserved}.
_RESERVE_LUA = (
    _COMMON_LUA
    + """
local budget, amount, id = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local spent = spent_total()
local reserved = tonumber(redis.call('HGET', h, 'reserved') or '0')
if spent + reserved + amount > budget then
  keep()
  return {0, spent, reserved}
end
redis.call('HINCRBY', h, 'reserved', amount)
redis.call('HSET', res, id, amount)
redis.call('ZADD', exp, now + tonumber(ARGV[7]), id)
keep()
return {1, spent, reserved + amount}
"""
)

# ARGV: instance, its local total (already including this charge), ttl s, reservation id.
_SETTLE_LUA = (
    _COMMON_LUA
    + """
local id = ARGV[4]
local amount = redis.call('HGET', res, id)
if amount then
  redis.call('HINCRBY', h, 'reserved', 0 - tonumber(amount))
  redis.call('HDEL', res, id)
  redis.call('ZREM', exp, id)
end
keep()
return {spent_total(), tonumber(redis.call('HGET', h, 'reserved') or '0')}
"""
)

# ARGV: instance, its local total, ttl s. Returns {spent, reserved}.
_READ_LUA = (
    _COMMON_LUA
    + """
keep()
return {spent_total(), tonumber(redis.call('HGET', h, 'reserved') or '0')}
"""
)

_KEEP_SECONDS = 3 * 86_400


def utc_day(now: float | None = None) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() if now is None else now))


def next_reset(now: float | None = None) -> dt.datetime:
    """When budgets reset: the next midnight UTC."""
    current = dt.datetime.fromtimestamp(time.time() if now is None else now, dt.UTC)
    return (current + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def seconds_until_reset(now: float | None = None) -> float:
    current = time.time() if now is None else now
    return next_reset(current).timestamp() - current


def cost_micros(tokens: int, micros_per_million: int) -> int:
    return math.ceil(tokens * micros_per_million / 1_000_000)


@dataclass(frozen=True)
class Reservation:
    id: str
    tenant: str
    day: str
    amount: int
    # The tenant's daily budget and settled spend when reserved (for the gauges).
    budget: int = 0
    spent: int = 0


@dataclass(frozen=True)
class Usage:
    spent: int
    reserved: int


class BudgetExceeded(Exception):
    def __init__(self, usage: Usage, budget: int, amount: int) -> None:
        super().__init__(f"budget {budget} exhausted")
        self.usage, self.budget, self.amount = usage, budget, amount


class BudgetUnavailable(Exception):
    """The shared store could not decide (Redis unreachable)."""


class Ledger:
    """This process's settled totals per (tenant, day); durable when given a dir.

    The directory holds one sub-directory per edge process (instance), each
    locked while its process runs. A starting process takes over the ledger of
    one that is gone (an edge restart keeps its totals) or starts a new one, so
    two live processes never share an instance and so never overwrite each
    other's totals in Redis.
    """

    def __init__(self, directory: str) -> None:
        self.instance = uuid.uuid4().hex[:16]
        self._totals: dict[tuple[str, str], int] = {}
        self._file: Path | None = None
        self._lock: TextIO | None = None
        if directory:
            root = Path(directory)
            root.mkdir(parents=True, exist_ok=True)
            for candidate in sorted(p for p in root.iterdir() if p.is_dir()):
                if self._claim(candidate):
                    self.instance = candidate.name
                    break
            else:
                fresh = root / self.instance
                fresh.mkdir()
                if not self._claim(fresh):
                    raise RuntimeError(f"cannot lock the new ledger {fresh}")
            self._file = root / self.instance / "charges.jsonl"
            self._load()

    def _claim(self, directory: Path) -> bool:
        handle = (directory / "lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lock = handle  # held (open) for the life of the process
        return True

    def close(self) -> None:
        """Release the instance (at stop) for the next process to take over."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _load(self) -> None:
        assert self._file is not None
        if not self._file.exists():
            return
        keep_after = utc_day(time.time() - _KEEP_SECONDS)
        for line in self._file.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line after a crash
            if entry["day"] > keep_after:
                key = (entry["tenant"], entry["day"])
                # Lines may land out of order (appends from threads): keep the max.
                self._totals[key] = max(self._totals.get(key, 0), int(entry["total"]))

    def total(self, tenant: str, day: str) -> int:
        return self._totals.get((tenant, day), 0)

    def tenants(self, day: str) -> list[str]:
        """The tenants this process has charged on `day`."""
        return sorted(tenant for tenant, d in self._totals if d == day)

    async def add(self, tenant: str, day: str, micros: int) -> int:
        """Count a charge; durable (fsync'd) before it returns when there is a file."""
        total = self.total(tenant, day) + micros
        self._totals[(tenant, day)] = total
        if self._file is not None:
            line = json.dumps({"tenant": tenant, "day": day, "total": total}) + "\n"
            await asyncio.to_thread(self._append, line)
        return total

    def _append(self, line: str) -> None:
        assert self._file is not None
        with self._file.open("a") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())


class RedisBudgets:
    def __init__(self, redis: Redis, prefix: str, ledger: Ledger) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ledger = ledger
        self._reserve = redis.register_script(_RESERVE_LUA)
        self._settle = redis.register_script(_SETTLE_LUA)
        self._read = redis.register_script(_READ_LUA)

    def _keys(self, tenant: str, day: str) -> list[str]:
        base = f"{self._prefix}budget:{{{tenant}}}:{day}"
        return [base, base + ":res", base + ":exp"]

    def _head(self, tenant: str, day: str) -> list[str | int]:
        return [self._ledger.instance, self._ledger.total(tenant, day), _KEEP_SECONDS]

    async def reserve(
        self, tenant: str, budget: int, amount: int, hold_seconds: float
    ) -> Reservation:
        day = utc_day()
        rid = uuid.uuid4().hex
        args = [*self._head(tenant, day), budget, amount, rid, int(hold_seconds * 1000)]
        try:
            ok, spent, reserved = await self._reserve(keys=self._keys(tenant, day), args=args)
        except (RedisError, OSError) as exc:
            raise BudgetUnavailable(repr(exc)) from exc
        if not ok:
            raise BudgetExceeded(Usage(int(spent), int(reserved)), budget, amount)
        return Reservation(rid, tenant, day, amount, budget, int(spent))

    async def settle(self, reservation: Reservation, actual: int) -> Usage:
        tenant, day = reservation.tenant, reservation.day
        if actual > 0:
            await self._ledger.add(tenant, day, actual)
        args = [*self._head(tenant, day), reservation.id]
        try:
            spent, reserved = await self._settle(keys=self._keys(tenant, day), args=args)
        except (RedisError, OSError) as exc:
            # The local total is recorded; the next call of this process writes it.
            raise BudgetUnavailable(repr(exc)) from exc
        return Usage(int(spent), int(reserved))

    async def restore_if_lost(self) -> bool:
        """Write all of today's totals of this process when Redis lost them
        (its marker key is gone: Redis restarted empty or was flushed).

        Run periodically, so an idle process's spend is counted again before
        its next call. True when it restored. Raises BudgetUnavailable.
        """
        marker = f"{self._prefix}budget-ledger:{self._ledger.instance}"
        day = utc_day()
        try:
            if await self._redis.exists(marker):
                return False
            for tenant in self._ledger.tenants(day):
                await self._read(keys=self._keys(tenant, day), args=self._head(tenant, day))
            await self._redis.set(marker, day, ex=_KEEP_SECONDS)
        except (RedisError, OSError) as exc:
            raise BudgetUnavailable(repr(exc)) from exc
        return True

    async def usage(self, tenant: str) -> Usage:
        day = utc_day()
        try:
            spent, reserved = await self._read(
                keys=self._keys(tenant, day), args=self._head(tenant, day)
            )
        except (RedisError, OSError) as exc:
            raise BudgetUnavailable(repr(exc)) from exc
        return Usage(int(spent), int(reserved))


class LocalBudgets:
    """The same accounting in process memory, for a single edge process."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._reserved: dict[tuple[str, str], dict[str, tuple[int, float]]] = {}

    def _open(self, tenant: str, day: str) -> dict[str, tuple[int, float]]:
        open_ = self._reserved.setdefault((tenant, day), {})
        now = time.monotonic()
        for rid in [r for r, (_, expiry) in open_.items() if expiry <= now]:
            del open_[rid]
        return open_

    async def reserve(
        self, tenant: str, budget: int, amount: int, hold_seconds: float
    ) -> Reservation:
        day = utc_day()
        open_ = self._open(tenant, day)
        spent = self._ledger.total(tenant, day)
        reserved = sum(a for a, _ in open_.values())
        if spent + reserved + amount > budget:
            raise BudgetExceeded(Usage(spent, reserved), budget, amount)
        reservation = Reservation(uuid.uuid4().hex, tenant, day, amount, budget, spent)
        open_[reservation.id] = (amount, time.monotonic() + hold_seconds)
        return reservation

    async def settle(self, reservation: Reservation, actual: int) -> Usage:
        tenant, day = reservation.tenant, reservation.day
        open_ = self._open(tenant, day)
        open_.pop(reservation.id, None)
        if actual > 0:
            await self._ledger.add(tenant, day, actual)
        return Usage(self._ledger.total(tenant, day), sum(a for a, _ in open_.values()))

    async def usage(self, tenant: str) -> Usage:
        day = utc_day()
        open_ = self._open(tenant, day)
        return Usage(self._ledger.total(tenant, day), sum(a for a, _ in open_.values()))


class Budgets:
    """Budget accounting with the configured behaviour when Redis is unreachable."""

    def __init__(self, backend: RedisBudgets | LocalBudgets, failure_mode: str) -> None:
        self.backend = backend
        self.failure_mode = failure_mode
        # For the gauges: each tenant's budget as last seen, and the day shown.
        self._limits: dict[str, int] = {}
        self._day = utc_day()

    def _observe(self, tenant: str, spent: int, budget: int | None = None) -> None:
        """Export the tenant's settled spend of today (every replica's) and budget."""
        day = utc_day()
        if day != self._day:  # a new budget day: yesterday's figures are stale
            self._day = day
            for gauge in (metrics.BUDGET_SPENT, metrics.BUDGET_LIMIT, metrics.BUDGET_USED):
                gauge.clear()
        if budget:
            self._limits[tenant] = budget
        budget = self._limits.get(tenant)
        metrics.BUDGET_SPENT.labels(tenant).set(spent)
        if budget:
            metrics.BUDGET_LIMIT.labels(tenant).set(budget)
            metrics.BUDGET_USED.labels(tenant).set(spent / budget)

    def _failed(self, operation: str, exc: Exception) -> None:
        metrics.STORE_FAILURES.labels("budget", self.failure_mode).inc()
        log.warning(
            "budget store unreachable",
            extra={"operation": operation, "failure_mode": self.failure_mode, "error": str(exc)},
        )

    async def reserve(
        self, tenant: str, budget: int, amount: int, hold_seconds: float
    ) -> Reservation:
        """A reservation; failing open without a store, an unchecked one (the
        call is admitted, and its settlement still charges the tenant)."""
        try:
            reservation = await self.backend.reserve(tenant, budget, amount, hold_seconds)
        except BudgetExceeded as exc:
            self._observe(tenant, exc.usage.spent, budget)
            raise
        except BudgetUnavailable as exc:
            self._failed("reserve", exc)
            if self.failure_mode == "open":
                return Reservation(uuid.uuid4().hex, tenant, utc_day(), amount, budget)
            raise
        self._observe(tenant, reservation.spent, budget)
        return reservation

    async def settle(self, reservation: Reservation | None, actual: int) -> None:
        if reservation is None:
            return
        try:
            usage = await asyncio.shield(
                self.backend.settle(reservation, min(actual, reservation.amount))
            )
        except BudgetUnavailable as exc:
            # Never raised to the client: the answer was delivered; the charge
            # is in this process's ledger and reaches Redis with the next call.
            self._failed("settle", exc)
        else:
            self._observe(reservation.tenant, usage.spent, reservation.budget)
        if actual > reservation.amount:
            log.error(
                "real cost above the reservation; charged the reservation",
                extra={"reserved": reservation.amount, "actual": actual},
            )

    async def usage(self, tenant: str) -> Usage:
        usage = await self.backend.usage(tenant)
        self._observe(tenant, usage.spent)
        return usage

    async def restore_if_lost(self) -> None:
        """See RedisBudgets.restore_if_lost; nothing to do in process memory."""
        if not isinstance(self.backend, RedisBudgets):
            return
        try:
            if await self.backend.restore_if_lost():
                log.info("budget totals of this process written to Redis again")
        except BudgetUnavailable:
            pass  # counted and logged by the calls that need Redis
