"""Wiring of the edge service.

Readiness: the edge is SERVING only while llm and guardrails are SERVING (every
generation needs both) and, when it fails closed, while Redis answers.
Retrieval is watched but not required: without it Chat still works, and the
calls that need it (Ask, IngestDocuments, DeleteDocuments, Search) fail fast
with UNAVAILABLE.

A downstream service counts as down only after DOWN_AFTER_FAILED_CHECKS
consecutive failed checks (a busy pod that misses one health check within its
timeout does not take every edge out of rotation), and as up again after one
passed check (`Hysteresis`). Redis, failing closed, counts at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable, Mapping

import grpc
from grpc import aio
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from aimesh.edge.v1 import edge_pb2, edge_pb2_grpc
from aimesh.guardrails.v1 import guardrails_pb2
from services.common.health import CHECK_TIMEOUT_SECONDS, Check
from services.common.metrics import DEPENDENCY_UP
from services.edge.auth import KeyStore
from services.edge.budget import Budgets, Ledger, LocalBudgets, RedisBudgets
from services.edge.cache import ResponseCache
from services.edge.catalogue import CatalogueCache
from services.edge.documents import Documents
from services.edge.downstream import Downstream, unary
from services.edge.gate import Gate
from services.edge.pipeline import Pipeline
from services.edge.ratelimit import LocalRateLimiter, RateLimiter, RedisRateLimiter
from services.edge.servicer import EdgeServicer
from services.edge.settings import EdgeSettings
from services.edge.tiers import TierConfigError, load_tiers

log = logging.getLogger(__name__)

DOWN_AFTER_FAILED_CHECKS = 3
# One check's answer is awaited this long (within the readiness loop's own bound).
HYSTERESIS_CHECK_SECONDS = CHECK_TIMEOUT_SECONDS - 0.2
# Each of the two calls that show guardrails accepts the edge's policies (inside the check).
POLICY_PROBE_TIMEOUT_SECONDS = 0.5


class Hysteresis:
    """A readiness check that reports a dependency down only after `failures`
    consecutive failed checks, and up again after one passed check. Down until
    the first check passes.

    A check that takes too long counts as failed but is not cancelled: it ends
    by itself (its calls have their own timeouts), and the next check waits on
    it rather than starting another.
    """

    def __init__(
        self,
        name: str,
        check: Callable[[], Awaitable[bool]],
        failures: int = DOWN_AFTER_FAILED_CHECKS,
        timeout: float = HYSTERESIS_CHECK_SECONDS,
    ) -> None:
        self.name = name
        self._check = check
        self._failures = failures
        self._timeout = timeout
        self.up = False
        self.failed = 0  # consecutive failed checks
        self._running: asyncio.Task[bool] | None = None

    async def _run(self) -> bool:
        return bool(await self._check())

    @property
    def busy(self) -> bool:
        """A check that took too long is still running."""
        return self._running is not None and not self._running.done()

    def cancel(self) -> None:
        if self._running is not None:
            self._running.cancel()

    async def __call__(self) -> bool:
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._run())
        try:
            passed = await asyncio.wait_for(asyncio.shield(self._running), self._timeout)
        except Exception:  # timed out, or the check raised: a failed check
            passed = False
        if passed:
            self.up, self.failed = True, 0
            return True
        self.failed += 1
        if self.up and self.failed < self._failures:
            log.warning(
                "dependency check failed; still counted as up",
                extra={"dependency": self.name, "failed_checks": self.failed},
            )
        else:
            self.up = False
        return self.up


class EdgeApp:
    name = "edge"
    service_names = (edge_pb2.DESCRIPTOR.services_by_name["EdgeService"].full_name,)

    def __init__(self, settings: EdgeSettings) -> None:
        self.settings = settings
        try:
            self.tiers = load_tiers(settings.tiers_file)
        except TierConfigError as exc:
            sys.stderr.write(f"aimesh: cannot start: AIMESH_EDGE_TIERS_FILE: {exc}\n")
            raise SystemExit(2) from None
        self.redis: Redis | None = None
        self.downstream: Downstream | None = None
        self.pipeline: Pipeline | None = None
        self.keys: KeyStore | None = None
        self.retrieval_up = False
        self._llm_check = Hysteresis("llm", self._llm_ready)
        self._guardrails_check = Hysteresis("guardrails", self._guardrails_ready)
        self._policies_accepted = False
        self._retrieval_check = Hysteresis("retrieval", self._retrieval_ready)
        self._tasks: list[asyncio.Task[None]] = []

    def register(self, server: aio.Server) -> None:
        s = self.settings
        if s.redis_url:
            # A blocking pool: a burst waits briefly for a connection instead
            # of failing with "too many connections".
            pool = BlockingConnectionPool.from_url(
                s.redis_url,
                max_connections=s.redis_max_connections,
                timeout=s.redis_timeout_seconds,
                socket_timeout=s.redis_timeout_seconds,
                socket_connect_timeout=s.redis_timeout_seconds,
                # After Redis restarts, each pooled connection fails once (its
                # socket is to the old server): try such a command once more on
                # a fresh connection. Only connection errors, which almost always
                # mean the command never ran (were a reply lost, an admission is
                # counted twice or a reservation held twice until it expires;
                # never a charge: settlement is idempotent). Never timeouts.
                retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
                decode_responses=True,
            )
            self.redis = Redis.from_pool(pool)
        ledger = self.ledger = Ledger(s.ledger_dir)
        if self.redis is not None:
            limiter = RateLimiter(
                RedisRateLimiter(self.redis, s.redis_prefix, s.rate_window_seconds),
                s.redis_failure_mode,
            )
            budgets = Budgets(
                RedisBudgets(self.redis, s.redis_prefix, ledger), s.redis_failure_mode
            )
        else:
            self._local_limiter = LocalRateLimiter(s.rate_window_seconds)
            limiter = RateLimiter(self._local_limiter, s.redis_failure_mode)
            budgets = Budgets(LocalBudgets(ledger), s.redis_failure_mode)
        self.keys = KeyStore(
            file=s.api_keys_file,
            redis=self.redis if s.api_keys_in_redis else None,
            redis_hash=f"{s.redis_prefix}api_keys",
            reload_seconds=s.api_keys_reload_seconds,
        )
        gate = Gate(
            self.keys,
            self.tiers,
            limiter,
            unauthenticated_limit=s.unauthenticated_requests_per_window,
            window_seconds=s.rate_window_seconds,
        )
        self.downstream = Downstream.open(s)
        cache = ResponseCache(self.redis, s.redis_prefix, s.cache_ttl_seconds)
        downstream = self.downstream
        self.catalogue = CatalogueCache(lambda: downstream.llm, s.models_refresh_seconds)
        self.budgets = budgets
        self.pipeline = Pipeline(s, gate, budgets, cache, self.catalogue, self.downstream)
        documents = Documents(self.downstream, cache)
        edge_pb2_grpc.add_EdgeServiceServicer_to_server(
            EdgeServicer(s, self.pipeline, documents), server
        )

    def checks(self) -> Mapping[str, Check]:
        checks: dict[str, Check] = {"llm": self._llm_check, "guardrails": self._guardrails_check}
        if self.redis is not None and self.settings.redis_failure_mode == "closed":
            checks["redis"] = self._redis_ready
        return checks

    async def _llm_ready(self) -> bool:
        assert self.downstream is not None
        if not await self.downstream.serving("llm"):
            return False
        with contextlib.suppress(grpc.RpcError):
            await self.catalogue.get()
        return self.catalogue.loaded

    async def _guardrails_ready(self) -> bool:
        assert self.downstream is not None
        if not await self.downstream.serving("guardrails"):
            return False
        return self._policies_accepted or await self._policies_accepted_by_guardrails()

    async def _policies_accepted_by_guardrails(self) -> bool:
        """Guardrails refuses a policy that names a finding type it does not know; a
        misspelt AIMESH_EDGE_*_POLICY_ACTIONS would fail every guarded call, so the
        edge stays NOT_SERVING and says why until guardrails accepts both policies."""
        assert self.downstream is not None and self.pipeline is not None
        stub = self.downstream.guardrails
        try:
            await unary(
                stub.CheckInput(
                    guardrails_pb2.CheckInputRequest(text="ok", policy=self.pipeline.input_policy),
                    timeout=POLICY_PROBE_TIMEOUT_SECONDS,
                )
            )
            await unary(
                stub.CheckOutput(
                    guardrails_pb2.CheckOutputRequest(
                        text="ok", policy=self.pipeline.output_policy
                    ),
                    timeout=POLICY_PROBE_TIMEOUT_SECONDS,
                )
            )
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                log.error(
                    "guardrails refuses the edge's policy (AIMESH_EDGE_INPUT_POLICY_ACTIONS "
                    "or AIMESH_EDGE_OUTPUT_POLICY_ACTIONS)",
                    extra={"dependency": "guardrails", "reason": exc.details()},
                )
            return False
        self._policies_accepted = True
        return True

    async def _retrieval_ready(self) -> bool:
        assert self.downstream is not None
        return await self.downstream.serving("retrieval")

    async def _redis_ready(self) -> bool:
        assert self.redis is not None
        try:
            return bool(await self.redis.ping())
        except (RedisError, OSError):
            return False

    async def _watch_retrieval(self) -> None:
        assert self.downstream is not None
        while True:
            up = await self._retrieval_check()
            if up != self.retrieval_up:
                log.log(
                    logging.INFO if up else logging.WARNING,
                    "retrieval ready" if up else "retrieval not ready; Ask and documents fail",
                )
            self.retrieval_up = up
            DEPENDENCY_UP.labels("retrieval").set(1 if up else 0)
            await asyncio.sleep(self.settings.health_check_interval_seconds)

    async def _restore_budgets(self) -> None:
        """Put this process's spend back when Redis lost it, even while idle."""
        while True:
            await self.budgets.restore_if_lost()
            await asyncio.sleep(self.settings.health_check_interval_seconds)

    async def _prune_local_limits(self) -> None:
        while True:
            await asyncio.sleep(self.settings.rate_window_seconds)
            self._local_limiter.prune()

    async def start(self) -> None:
        assert self.keys is not None
        await self.keys.load()
        self._tasks.append(asyncio.create_task(self._watch_retrieval()))
        if self.redis is None:
            self._tasks.append(asyncio.create_task(self._prune_local_limits()))
        else:
            self._tasks.append(asyncio.create_task(self._restore_budgets()))
        if not self.settings.api_keys_file and not self.settings.api_keys_in_redis:
            log.warning("no API key source configured: every call will be UNAUTHENTICATED")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for check in (self._llm_check, self._guardrails_check, self._retrieval_check):
            check.cancel()
        if self.downstream is not None:
            await self.downstream.close()
        if self.redis is not None:
            await self.redis.aclose()
        self.ledger.close()
