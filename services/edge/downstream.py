"""Channels and stubs to llm, guardrails and retrieval; their health; their errors.

Downstream failures become the edge's own errors here, in one place: the
client learns what kind of failure it was and when to retry, never a
downstream message or stack.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from aimesh.guardrails.v1 import guardrails_pb2_grpc
from aimesh.llm.v1 import llm_pb2_grpc
from aimesh.retrieval.v1 import retrieval_pb2_grpc
from services.common import errors
from services.common.clients import connect
from services.edge.settings import EdgeSettings

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_SECONDS = 1.5


@dataclass
class Downstream:
    llm: llm_pb2_grpc.LlmServiceStub
    guardrails: guardrails_pb2_grpc.GuardrailsServiceStub
    retrieval: retrieval_pb2_grpc.RetrievalServiceStub
    channels: dict[str, aio.Channel]

    @classmethod
    def open(cls, settings: EdgeSettings) -> Downstream:
        channels = {
            "llm": connect(
                settings.llm_target,
                retryable_methods=[
                    ("aimesh.llm.v1.LlmService", "ListModels"),
                    ("aimesh.llm.v1.LlmService", "CountTokens"),
                ],
            ),
            "guardrails": connect(
                settings.guardrails_target,
                retryable_methods=[
                    ("aimesh.guardrails.v1.GuardrailsService", "CheckInput"),
                    ("aimesh.guardrails.v1.GuardrailsService", "CheckOutput"),
                ],
            ),
            "retrieval": connect(
                settings.retrieval_target,
                retryable_methods=[
                    ("aimesh.retrieval.v1.RetrievalService", "Search"),
                    ("aimesh.retrieval.v1.RetrievalService", "Embed"),
                ],
            ),
        }
        return cls(
            llm=llm_pb2_grpc.LlmServiceStub(channels["llm"]),
            guardrails=guardrails_pb2_grpc.GuardrailsServiceStub(channels["guardrails"]),
            retrieval=retrieval_pb2_grpc.RetrievalServiceStub(channels["retrieval"]),
            channels=channels,
        )

    async def serving(self, name: str) -> bool:
        """True when the service's own health says SERVING."""
        stub = health_pb2_grpc.HealthStub(self.channels[name])
        try:
            response = await stub.Check(
                health_pb2.HealthCheckRequest(), timeout=HEALTH_TIMEOUT_SECONDS
            )
        except grpc.RpcError:
            return False
        return bool(response.status == health_pb2.HealthCheckResponse.SERVING)

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.channels.values()))


def _retry_after(exc: grpc.RpcError) -> float | None:
    try:
        status = rpc_status.from_call(exc)
    except Exception:
        return None
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return info.retry_delay.ToMilliseconds() / 1000
    return None


def _reason(exc: grpc.RpcError) -> str | None:
    try:
        status = rpc_status.from_call(exc)
    except Exception:
        return None
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return None


def translate(service: str, exc: grpc.RpcError) -> BaseException:
    """The error the client sees for a failed downstream call."""
    code = exc.code()
    if code == grpc.StatusCode.CANCELLED:
        return asyncio.CancelledError()
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return errors.DeadlineExceeded(f"the deadline ran out waiting for {service}")
    retry_after = _retry_after(exc)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return errors.ResourceExhausted(
            f"{service} is overloaded; retry later",
            reason="MODEL_OVERLOADED" if service == "llm" else "DEPENDENCY_OVERLOADED",
            retry_after=retry_after if retry_after is not None else 1.0,
        )
    if code == grpc.StatusCode.UNAVAILABLE:
        reason = "MODEL_UNAVAILABLE" if service == "llm" else f"{service.upper()}_UNAVAILABLE"
        return errors.Unavailable(
            f"{service} is unavailable; retry later",
            reason=reason,
            retry_after=retry_after if retry_after is not None else 1.0,
        )
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        # Our validation should have caught it; say which service refused, not how.
        log.warning("downstream refused a request as invalid", extra={"dependency": service})
        return errors.FailedPrecondition(
            f"{service} refused the request", reason=_reason(exc) or "DOWNSTREAM_INVALID_ARGUMENT"
        )
    log.error(
        "downstream call failed",
        extra={"dependency": service, "code": code.name if code else "UNKNOWN"},
    )
    return errors.Unavailable(
        f"{service} failed; retry later", reason=f"{service.upper()}_FAILED", retry_after=1.0
    )
