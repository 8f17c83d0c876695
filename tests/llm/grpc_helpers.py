"""Small helpers for the gRPC-level llm tests."""

from __future__ import annotations

import urllib.request
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from aimesh.llm.v1 import llm_pb2


def user(text: str) -> list[llm_pb2.Message]:
    return [llm_pb2.Message(role="user", content=text)]


async def details(call: grpc.aio.Call) -> dict[str, Any]:
    """The google.rpc details of a failed call, by type name."""
    status = await rpc_status.aio.from_call(call)
    found: dict[str, Any] = {}
    if status is None:
        return found
    for packed in status.details:
        for kind in (
            error_details_pb2.BadRequest,
            error_details_pb2.ErrorInfo,
            error_details_pb2.RetryInfo,
            error_details_pb2.QuotaFailure,
        ):
            if packed.Is(kind.DESCRIPTOR):
                detail = kind()
                packed.Unpack(detail)
                found[kind.DESCRIPTOR.name] = detail
    return found


def scrape(metrics_port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as reply:
        return str(reply.read().decode())
