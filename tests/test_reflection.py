"""Every service lists its API by reflection to the real grpcurl client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2

from services.retrieval.settings import RetrievalSettings
from tests.support import ServiceProcess

GRPCURL = str(Path(sys.executable).parent / "grpcurl")

APIS = {
    "edge": "aimesh.edge.v1.EdgeService",
    "llm": "aimesh.llm.v1.LlmService",
    "retrieval": "aimesh.retrieval.v1.RetrievalService",
    "guardrails": "aimesh.guardrails.v1.GuardrailsService",
}


@pytest.mark.parametrize("name", sorted(APIS))
def test_grpcurl_lists_the_service(name, tmp_path):
    # Health may be NOT_SERVING while dependencies load; reflection works regardless.
    env = {}
    if name == "retrieval" and "qdrant_path" in RetrievalSettings.model_fields:
        env["AIMESH_RETRIEVAL_QDRANT_PATH"] = str(tmp_path / "qdrant")
    with ServiceProcess(name, env, wait_serving=False) as running:
        listing = subprocess.run(
            [GRPCURL, "-plaintext", running.target, "list"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listing.returncode == 0, listing.stderr
        services = set(listing.stdout.split())
        assert {APIS[name], "grpc.health.v1.Health"} <= services
        described = subprocess.run(
            [GRPCURL, "-plaintext", running.target, "describe", APIS[name]],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert described.returncode == 0, described.stderr
        assert "rpc " in described.stdout
        # Clients that speak only reflection v1 find the API too.
        assert APIS[name] in listed_by_reflection_v1(running.target)


def listed_by_reflection_v1(target: str) -> set[str]:
    """`list_services` over grpc.reflection.v1 (its messages are v1alpha's, field for field)."""
    with grpc.insecure_channel(target) as channel:
        info = channel.stream_stream(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        (response,) = info(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=30
        )
    return {service.name for service in response.list_services_response.service}
