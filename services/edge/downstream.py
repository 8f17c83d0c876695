"""Channels and stubs to llm, guardrails and retrieval; their health; their errors.

Downstream failures become the edge's own errors here, in one place: the
client learns what kind of failure it was and when to retry, never a
downstream message or stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Generator
from typing import Any, Protocol, TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from aimesh.guardrails.v1 import guardrails_pb2_grpc
from aimesh.llm.v1 import llm_pb2_grpc
from aimesh.retrieval.v1 import retrieval_pb2_grpc
from services.common import errors, tls
from services.common.clients import connect
from services.edge.settings import EdgeSettings

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_SECONDS = 1.5
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class UnaryCall(Protocol[T_co]):
    """What the edge needs of a grpc.aio unary call."""

    def cancel(self) -> bool: ...

    def __await__(self) -> Generator[Any, None, T_co]: ...


async def unary(call: UnaryCall[T]) -> T:
    """The reply of a unary call, awaited by a task of its own. If the caller is
    cancelled (its client went away), the call is cancelled and that task ends by
    itself: grpc.aio (1.85) leaks a call's native batch when the task awaiting it
    is cancelled instead (grpc/grpc#43360; edge/generation.py's docstring)."""
    task: asyncio.Future[T] = asyncio.ensure_future(call)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        call.cancel()
        await ended(task)
        raise


async def ended(task: asyncio.Future[Any]) -> None:
    """Wait for a task whose calls were cancelled to end by itself."""
    with contextlib.suppress(BaseException):
        # Shielded: were this wait cancelled too, the task would still not be.
        await asyncio.shield(task)


_RETRYABLE = {
    "llm": [
        ("aimesh.llm.v1.LlmService", "ListModels"),
        ("aimesh.llm.v1.LlmService", "CountTokens"),
    ],
    "guardrails": [
        ("aimesh.guardrails.v1.GuardrailsService", "CheckInput"),
        ("aimesh.guardrails.v1.GuardrailsService", "CheckOutput"),
    ],
    "retrieval": [
        ("aimesh.retrieval.v1.RetrievalService", "Search"),
        ("aimesh.retrieval.v1.RetrievalService", "Embed"),
    ],
}
# In-flight calls on a replaced channel get this long to finish.
_REPLACED_CHANNEL_GRACE_SECONDS = 30.0


class Downstream:
    """The three services' stubs, always over the current channel of each.

    A channel whose service went away retries with a short backoff (0.2 s
    growing to 2 s, services/common/clients.py) but, until its next attempt,
    fails calls at once. So when a health check fails on the channel, a new
    channel is tried; if the service answers there, it replaces the old one:
    a restarted service is used again at once. Each channel has its own
    connections (a local subchannel pool): otherwise gRPC would hand the new
    channel the old one's connection, backoff and all.
    """

    def __init__(
        self, targets: dict[str, str], credentials: grpc.ChannelCredentials | None = None
    ) -> None:
        self.targets = targets
        self.credentials = credentials
        self.channels: dict[str, aio.Channel] = {}
        self._closing: set[asyncio.Task[None]] = set()
        for name in targets:
            self._install(name, self._connect(name))

    @classmethod
    def open(cls, settings: EdgeSettings) -> Downstream:
        credentials = None
        if settings.downstream_tls_enabled:
            credentials = tls.channel_credentials(
                settings.downstream_tls_ca_file,
                settings.downstream_tls_cert_file,
                settings.downstream_tls_key_file,
            )
        return cls(
            {
                "llm": settings.llm_target,
                "guardrails": settings.guardrails_target,
                "retrieval": settings.retrieval_target,
            },
            credentials,
        )

    def _connect(self, name: str) -> aio.Channel:
        return connect(
            self.targets[name],
            max_message_bytes=MAX_MESSAGE_BYTES,
            retryable_methods=_RETRYABLE[name],
            credentials=self.credentials,
            options=[("grpc.use_local_subchannel_pool", 1)],
        )

    def _install(self, name: str, channel: aio.Channel) -> None:
        self.channels[name] = channel
        if name == "llm":
            self.llm = llm_pb2_grpc.LlmServiceStub(channel)
        elif name == "guardrails":
            self.guardrails = guardrails_pb2_grpc.GuardrailsServiceStub(channel)
        else:
            self.retrieval = retrieval_pb2_grpc.RetrievalServiceStub(channel)

    @staticmethod
    async def _check(channel: aio.Channel) -> bool:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = await unary(
                stub.Check(health_pb2.HealthCheckRequest(), timeout=HEALTH_TIMEOUT_SECONDS)
            )
        except grpc.RpcError:
            return False
        return bool(response.status == health_pb2.HealthCheckResponse.SERVING)

    async def serving(self, name: str) -> bool:
        """True when the service's own health says SERVING (on a fresh
        connection, which then replaces the current one, if need be)."""
        if await self._check(self.channels[name]):
            return True
        probe = self._connect(name)
        if not await self._check(probe):
            await probe.close()
            return False
        old = self.channels[name]
        self._install(name, probe)
        log.info("reconnected", extra={"dependency": name})
        task = asyncio.create_task(old.close(_REPLACED_CHANNEL_GRACE_SECONDS))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        return True

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.channels.values()), *self._closing)


async def with_recovery(downstream: Downstream, name: str, call: Callable[[], UnaryCall[T]]) -> T:
    """Run an idempotent call; when it finds the service unavailable but a fresh
    connection finds it back, run it once more on that connection."""
    try:
        return await unary(call())
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.UNAVAILABLE or not await downstream.serving(name):
            raise
    return await unary(call())


M = TypeVar(
    "M", error_details_pb2.RetryInfo, error_details_pb2.ErrorInfo, error_details_pb2.BadRequest
)


def _detail(exc: grpc.RpcError, kind: type[M]) -> M | None:
    """The first google.rpc detail of this type in a downstream error."""
    try:
        status = rpc_status.from_call(exc)
    except Exception:
        return None
    for detail in status.details if status is not None else ():
        if detail.Is(kind.DESCRIPTOR):
            found = kind()
            detail.Unpack(found)
            return found
    return None


def _retry_after(exc: grpc.RpcError) -> float | None:
    info = _detail(exc, error_details_pb2.RetryInfo)
    return info.retry_delay.ToMilliseconds() / 1000 if info is not None else None


def _reason(exc: grpc.RpcError) -> str | None:
    info = _detail(exc, error_details_pb2.ErrorInfo)
    return info.reason if info is not None else None


# A downstream description passed on to the client is cut to this length.
_MAX_DESCRIPTION_CHARS = 500


def _violations(exc: grpc.RpcError) -> list[tuple[str, str]]:
    """The field violations of a downstream INVALID_ARGUMENT (the llm's field
    names are the edge's Chat fields); `messages` when it sent none."""
    bad = _detail(exc, error_details_pb2.BadRequest)
    found = [
        (v.field, v.description[:_MAX_DESCRIPTION_CHARS])
        for v in (bad.field_violations if bad is not None else ())
        if v.field
    ]
    return found or [("messages", "the model refused the request")]


def output_blocked(reason: str) -> errors.PermissionDenied:
    """The error for a model output that the tenant's guardrails policy blocks."""
    return errors.PermissionDenied(
        f"the output was blocked by guardrails ({reason})", reason=reason
    )


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
        if service == "llm" and _reason(exc) == "STREAM_INTERRUPTED":
            # Part of the answer may already have reached the client: say it is incomplete.
            return errors.Unavailable(
                "the model's stream was cut short; the output is incomplete",
                reason="STREAM_INTERRUPTED",
                retry_after=retry_after if retry_after is not None else 1.0,
                metadata={"incomplete": "true"},
            )
        reason = "MODEL_UNAVAILABLE" if service == "llm" else f"{service.upper()}_UNAVAILABLE"
        return errors.Unavailable(
            f"{service} is unavailable; retry later",
            reason=reason,
            retry_after=retry_after if retry_after is not None else 1.0,
        )
    if code == grpc.StatusCode.PERMISSION_DENIED and service == "guardrails":
        # The tenant's policy blocks what the model wrote (RedactStream ends so).
        return output_blocked(_reason(exc) or "OUTPUT_BLOCKED")
    if code == grpc.StatusCode.INVALID_ARGUMENT and service == "llm":
        # The model's judge of a request: a prompt too long for it (tokens the
        # edge can only estimate), or a request its provider refused. The
        # client's request is at fault, so it is told which field, as the llm said.
        first, *more = _violations(exc)
        return errors.InvalidArgument(*first, *more)
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
