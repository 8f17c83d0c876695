"""The standard health service, reporting the truth about dependencies.

A service names its dependencies as async checks. Every service name is
NOT_SERVING until the service has started and every check passes; a failing
check turns them NOT_SERVING again until it recovers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from grpc_health.v1 import health, health_pb2

from services.common.metrics import DEPENDENCY_UP

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[bool]]
CHECK_TIMEOUT_SECONDS = 2.0

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class Readiness:
    """Runs dependency checks and sets the health status of every service name."""

    def __init__(
        self,
        servicer: health.aio.HealthServicer,
        service_names: Sequence[str],
        checks: Mapping[str, Check],
    ) -> None:
        self._servicer = servicer
        self._names = ["", *service_names]  # "" is the server as a whole
        self._checks = dict(checks)
        self._healthy: dict[str, bool] = {}
        self._shutting_down = False

    async def set_all(self, status: int) -> None:
        for name in self._names:
            await self._servicer.set(name, status)

    async def evaluate(self) -> bool:
        """Run every check once and publish the result."""
        ok = True
        for name, check in self._checks.items():
            try:
                passed = bool(await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS))
            except Exception as exc:  # a check that raises is a failed check
                passed = False
                log.debug("readiness check raised", extra={"dependency": name, "error": repr(exc)})
            if self._healthy.get(name) != passed:
                log.log(
                    logging.INFO if passed else logging.WARNING,
                    "dependency ready" if passed else "dependency not ready",
                    extra={"dependency": name},
                )
            self._healthy[name] = passed
            DEPENDENCY_UP.labels(name).set(1 if passed else 0)
            ok = ok and passed
        if not self._shutting_down:
            await self.set_all(SERVING if ok else NOT_SERVING)
        return ok

    async def run(self, interval: float) -> None:
        while not self._shutting_down:
            await self.evaluate()
            await asyncio.sleep(interval)

    async def shut_down(self) -> None:
        """NOT_SERVING everywhere, for good: the first step of a drain."""
        self._shutting_down = True
        await self._servicer.enter_graceful_shutdown()
