"""Channels to other aimesh services: request ids propagated, sane options.

Every call made on these channels carries the current request's x-request-id,
and a channel whose service went away tries again within two seconds.
Targets like `dns:///llm-headless:50051` spread calls over every pod with
client-side round-robin; only idempotent unary methods may be retried by the
channel itself (never a generation stream).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import grpc
from grpc import aio

from services.common.context import outgoing_metadata


def _with_request_id(client_call_details: aio.ClientCallDetails) -> aio.ClientCallDetails:
    metadata = aio.Metadata(*(client_call_details.metadata or ()))
    for key, value in outgoing_metadata():
        if key not in metadata:
            metadata[key] = value
    return aio.ClientCallDetails(
        client_call_details.method,
        client_call_details.timeout,
        metadata,
        client_call_details.credentials,
        client_call_details.wait_for_ready,
    )


class _RequestIdUnaryUnary(aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_request_id(details), request)


class _RequestIdUnaryStream(aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_request_id(details), request)


class _RequestIdStreamUnary(aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(_with_request_id(details), requests)


class _RequestIdStreamStream(aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(_with_request_id(details), requests)


def service_config(retryable_methods: Sequence[tuple[str, str]] = ()) -> str:
    """Round-robin over resolved addresses; retry UNAVAILABLE on the given
    idempotent (service, method) pairs."""
    config: dict[str, Any] = {"loadBalancingConfig": [{"round_robin": {}}]}
    if retryable_methods:
        config["methodConfig"] = [
            {
                "name": [{"service": s, "method": m} for s, m in retryable_methods],
                "retryPolicy": {
                    "maxAttempts": 3,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    return json.dumps(config)


# A restarted service is found again within about this long: gRPC's default
# reconnect backoff grows to two minutes, far longer than a pod restart takes.
INITIAL_RECONNECT_BACKOFF_MS = 200
MAX_RECONNECT_BACKOFF_MS = 2_000


def connect(
    target: str,
    *,
    max_message_bytes: int = 16 * 1024 * 1024,
    retryable_methods: Sequence[tuple[str, str]] = (),
    credentials: grpc.ChannelCredentials | None = None,
    options: Sequence[tuple[str, Any]] = (),
) -> aio.Channel:
    """A channel to another aimesh service: TLS with `credentials`
    (services/common/tls.py), plaintext inside a trusted network otherwise.
    `options` add to, or override, the channel options below."""
    defaults: dict[str, Any] = {
        "grpc.max_receive_message_length": max_message_bytes,
        "grpc.max_send_message_length": max_message_bytes,
        "grpc.keepalive_time_ms": 30_000,
        "grpc.keepalive_timeout_ms": 10_000,
        "grpc.keepalive_permit_without_calls": 1,
        "grpc.initial_reconnect_backoff_ms": INITIAL_RECONNECT_BACKOFF_MS,
        "grpc.max_reconnect_backoff_ms": MAX_RECONNECT_BACKOFF_MS,
        "grpc.service_config": service_config(retryable_methods),
        "grpc.enable_retries": 1,
    }
    defaults.update(options)
    interceptors = [
        _RequestIdUnaryUnary(),
        _RequestIdUnaryStream(),
        _RequestIdStreamUnary(),
        _RequestIdStreamStream(),
    ]
    channel_options = list(defaults.items())
    if credentials is not None:
        return aio.secure_channel(
            target, credentials, options=channel_options, interceptors=interceptors
        )
    return aio.insecure_channel(target, options=channel_options, interceptors=interceptors)
