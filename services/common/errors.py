"""Domain errors, and the one place they become gRPC statuses with google.rpc details.

Servicers raise these; the server interceptor turns them into a status. Any
other exception becomes a bare INTERNAL naming only the request id: no stack
trace, message or secret of ours ever reaches a client.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

ERROR_DOMAIN = "aimesh.dev"


class ServiceError(Exception):
    """An error a client should see. `reason` is stable UPPER_SNAKE_CASE (AIP-193)."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    default_reason = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = metadata or {}

    def details(self) -> list[Message]:
        return [
            error_details_pb2.ErrorInfo(
                reason=self.reason, domain=ERROR_DOMAIN, metadata=self.metadata
            )
        ]


class InvalidArgument(ServiceError):
    """Bad input. Each violation names the offending field (`messages[2].role`)."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "INVALID_ARGUMENT"

    def __init__(self, field: str, description: str, *more: tuple[str, str]) -> None:
        self.violations = [(field, description), *more]
        summary = "; ".join(f"{f}: {d}" for f, d in self.violations)
        super().__init__(summary)

    def details(self) -> list[Message]:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                for f, d in self.violations
            ]
        )
        return [bad_request, *super().details()]


class Unauthenticated(ServiceError):
    code = grpc.StatusCode.UNAUTHENTICATED
    default_reason = "UNAUTHENTICATED"


class PermissionDenied(ServiceError):
    code = grpc.StatusCode.PERMISSION_DENIED
    default_reason = "PERMISSION_DENIED"


class NotFound(ServiceError):
    code = grpc.StatusCode.NOT_FOUND
    default_reason = "NOT_FOUND"


class FailedPrecondition(ServiceError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    default_reason = "FAILED_PRECONDITION"


class Unimplemented(ServiceError):
    code = grpc.StatusCode.UNIMPLEMENTED
    default_reason = "UNIMPLEMENTED"


class _Retryable(ServiceError):
    """An error worth retrying later; carries RetryInfo when the delay is known."""

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        retry_after: float | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, reason=reason, metadata=metadata)
        self.retry_after = retry_after

    def details(self) -> list[Message]:
        details = super().details()
        if self.retry_after is not None:
            delay = duration_pb2.Duration()
            delay.FromMilliseconds(max(0, round(self.retry_after * 1000)))
            details.append(error_details_pb2.RetryInfo(retry_delay=delay))
        return details


class ResourceExhausted(_Retryable):
    """A rate limit, budget or queue bound was hit; violations name which."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_reason = "RESOURCE_EXHAUSTED"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        retry_after: float | None = None,
        violations: Sequence[tuple[str, str]] = (),
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, reason=reason, retry_after=retry_after, metadata=metadata)
        self.violations = list(violations)

    def details(self) -> list[Message]:
        details = super().details()
        if self.violations:
            details.append(
                error_details_pb2.QuotaFailure(
                    violations=[
                        error_details_pb2.QuotaFailure.Violation(subject=s, description=d)
                        for s, d in self.violations
                    ]
                )
            )
        return details


class Unavailable(_Retryable):
    """A dependency is down; the caller may retry after `retry_after` seconds."""

    code = grpc.StatusCode.UNAVAILABLE
    default_reason = "UNAVAILABLE"


class DeadlineExceeded(ServiceError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    default_reason = "DEADLINE_EXCEEDED"


def to_grpc_status(error: ServiceError) -> grpc.Status:
    """The status, with packed details, that `context.abort_with_status` sends."""
    packed = []
    for detail in error.details():
        any_detail = any_pb2.Any()
        any_detail.Pack(detail)
        packed.append(any_detail)
    status = status_pb2.Status(code=error.code.value[0], message=error.message, details=packed)
    return rpc_status.to_status(status)


def internal_error(request_id: str) -> ServiceError:
    """What a client sees for a bug of ours: nothing but the id to report."""
    return ServiceError(f"internal error; request id {request_id}", reason="INTERNAL")
