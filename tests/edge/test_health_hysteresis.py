"""One slow or failed health check of a dependency does not take the edge out of
rotation: it counts as down after three failed checks in a row, and as up
again after one passed check."""

from __future__ import annotations

import asyncio
from pathlib import Path

from grpc_health.v1 import health_pb2

from services.edge.server import DOWN_AFTER_FAILED_CHECKS, Hysteresis
from tests.edge.harness import start_edge


async def test_a_dependency_is_down_only_after_consecutive_failed_checks(tmp_path: Path) -> None:
    edge = await start_edge(tmp_path)
    try:
        check = edge.app.checks()["guardrails"]
        assert isinstance(check, Hysteresis)
        guardrails = edge.dependencies["guardrails"].health
        assert await check()
        # Busy: its health answers after the edge's 1.5 s timeout.
        guardrails.delay = 2.5
        for _ in range(DOWN_AFTER_FAILED_CHECKS - 1):
            assert await check()
        assert not await check()
        guardrails.delay = 0
        for _ in range(100):  # the last slow check ends by itself
            if not check.busy:
                break
            await asyncio.sleep(0.05)
        assert await check()  # one passed check: up again
        # Not serving counts the same way; and every failure run starts afresh.
        await guardrails.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        for _ in range(DOWN_AFTER_FAILED_CHECKS - 1):
            assert await check()
        await guardrails.set("", health_pb2.HealthCheckResponse.SERVING)
        assert await check()
        await guardrails.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        for _ in range(DOWN_AFTER_FAILED_CHECKS - 1):
            assert await check()
        assert not await check()
    finally:
        await edge.stop()
