"""A dependency that restarts is used again at once, not after gRPC's reconnect backoff."""

from __future__ import annotations

import grpc
import pytest

from aimesh.guardrails.v1 import guardrails_pb2, guardrails_pb2_grpc
from services.common import errors
from services.edge.downstream import Downstream, translate
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


async def test_an_output_the_policy_blocks_is_permission_denied_with_its_reason() -> None:
    """guardrails ends a RedactStream with PERMISSION_DENIED when the policy
    blocks a finding: the client is told why, as for a unary reply, and it is
    not reported as guardrails failing."""
    policy = guardrails_pb2.Policy(actions={"EMAIL_ADDRESS": guardrails_pb2.ACTION_BLOCK})
    with ServiceProcess("guardrails") as guardrails:
        async with grpc.aio.insecure_channel(guardrails.target) as channel:
            call = guardrails_pb2_grpc.GuardrailsServiceStub(channel).RedactStream(
                iter(
                    [
                        guardrails_pb2.RedactStreamRequest(text="Write to bob@", policy=policy),
                        guardrails_pb2.RedactStreamRequest(text="example.com today."),
                    ]
                ),
                timeout=30,
            )
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                async for _ in call:
                    pass
    error = translate("guardrails", caught.value)
    assert isinstance(error, errors.PermissionDenied)
    assert error.reason == "EMAIL_ADDRESS"
