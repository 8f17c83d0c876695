"""A dependency that restarts is used again at once, not after gRPC's reconnect backoff."""

from __future__ import annotations

from services.edge.downstream import Downstream
from tests.support import ServiceProcess


async def test_a_restarted_dependency_is_reconnected_at_once() -> None:
    first = ServiceProcess("guardrails").start()
    port = first.port
    downstream = Downstream(
        {"llm": "127.0.0.1:9", "guardrails": first.target, "retrieval": "127.0.0.1:9"}
    )
    try:
        assert await downstream.serving("guardrails")
        first.kill()
        assert not await downstream.serving("guardrails")
        with ServiceProcess("guardrails", {"AIMESH_GUARDRAILS_PORT": str(port)}):
            # The old channel is in backoff; a fresh connection finds the service.
            assert await downstream.serving("guardrails")
        assert not await downstream.serving("llm")
    finally:
        first.kill()
        await downstream.close()
