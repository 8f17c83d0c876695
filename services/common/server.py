"""grpc.aio server bootstrap shared by every service.

A service supplies an `App`: its servicers, its dependency checks, and what to
open at start and close at stop. `run()` does the rest: settings, logging,
interceptors, health, reflection, metrics, keepalive and the SIGTERM drain.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, TypeVar

import grpc
from grpc import aio
from grpc_health.v1 import health, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from services.common import tls
from services.common.health import NOT_SERVING, Check, Readiness
from services.common.interceptors import ServerInterceptor
from services.common.logs import configure_logging
from services.common.metrics import start_metrics_server
from services.common.settings import ServiceSettings, SettingsError, load_settings

log = logging.getLogger("aimesh.server")
S = TypeVar("S", bound=ServiceSettings)


class App(Protocol):
    """What a service hands the runtime."""

    @property
    def name(self) -> str:
        """Short name used in logs, e.g. "llm"."""

    @property
    def service_names(self) -> Sequence[str]:
        """Full proto names of its services, e.g. "aimesh.llm.v1.LlmService"."""

    def register(self, server: aio.Server) -> None:
        """Add the servicers to the server."""

    def checks(self) -> Mapping[str, Check]:
        """Readiness checks of the dependencies, by name."""

    async def start(self) -> None:
        """Open clients and load models; health stays NOT_SERVING until done."""

    async def stop(self) -> None:
        """Close clients after the last call has finished."""


def server_options(settings: ServiceSettings) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.keepalive_time_ms", settings.keepalive_time_ms),
        ("grpc.keepalive_timeout_ms", settings.keepalive_timeout_ms),
        # Let clients keep long silent calls (a long generation) alive with pings.
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_ping_strikes", 0),
        ("grpc.max_connection_age_ms", settings.max_connection_age_ms),
        ("grpc.max_connection_age_grace_ms", settings.max_connection_age_grace_ms),
    ]


def _tls_mode(settings: ServiceSettings) -> str:
    if settings.tls_client_ca_file:
        return "mutual"
    return "on" if settings.tls_enabled else "off"


def _health_only_server(
    servicer: health.aio.HealthServicer, settings: ServiceSettings
) -> tuple[aio.Server, int]:
    """A plaintext port with nothing but the health service: for probes that
    cannot speak TLS (Kubernetes' gRPC probes) while the service port is mTLS.
    It answers the same statuses as the service port."""
    server = aio.server(options=[("grpc.max_connection_age_ms", settings.max_connection_age_ms)])
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port(f"{settings.host}:{settings.health_port}")
    return server, port


async def serve(app: App, settings: ServiceSettings, stop: asyncio.Event | None = None) -> None:
    """Serve until `stop` is set, then drain in order. Without an event of the
    caller's, SIGTERM and SIGINT set it."""
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

    server = aio.server(
        interceptors=[ServerInterceptor()],
        options=server_options(settings),
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    app.register(server)
    _enable_reflection(server, [*app.service_names, health.SERVICE_NAME])
    readiness = Readiness(health_servicer, app.service_names, app.checks())
    await readiness.set_all(NOT_SERVING)

    address = f"{settings.host}:{settings.port}"
    if settings.tls_enabled:
        credentials = tls.server_credentials(
            settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file
        )
        port = server.add_secure_port(address, credentials)
    else:
        port = server.add_insecure_port(address)
    health_server, health_port = None, None
    if settings.health_port is not None:
        health_server, health_port = _health_only_server(health_servicer, settings)
    metrics_server, metrics_port = start_metrics_server(settings.host, settings.metrics_port)
    await server.start()
    if health_server is not None:
        await health_server.start()
    log.info(
        "listening",
        extra={
            "port": port,
            "metrics_port": metrics_port,
            "tls": _tls_mode(settings),
            **({"health_port": health_port} if health_port is not None else {}),
        },
    )

    readiness_task: asyncio.Task[None] | None = None
    try:
        starting = asyncio.ensure_future(app.start())
        await asyncio.wait(
            [starting, asyncio.ensure_future(stop.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        if starting.done():
            starting.result()  # a failed start stops the service
            readiness_task = asyncio.create_task(
                readiness.run(settings.health_check_interval_seconds)
            )
            log.info("started")
            await stop.wait()
        else:
            starting.cancel()
    finally:
        # Drain: stop advertising, let balancers notice, finish in-flight calls.
        log.info("draining", extra={"grace_seconds": settings.grace_period_seconds})
        await readiness.shut_down()
        if readiness_task:
            readiness_task.cancel()
        await asyncio.sleep(settings.drain_delay_seconds)
        await server.stop(settings.grace_period_seconds)
        if health_server is not None:
            await health_server.stop(0)
        await app.stop()
        metrics_server.shutdown()
        log.info("stopped")


def main(settings_class: type[S], make_app: Callable[[S], App]) -> None:
    """Entry point of `python -m services.<name>`: exit 2 on a bad setting."""
    try:
        settings = load_settings(settings_class)
    except SettingsError as exc:
        sys.stderr.write(f"aimesh: cannot start: {exc}\n")
        raise SystemExit(2) from None
    app = make_app(settings)
    configure_logging(app.name, settings.log_level)
    asyncio.run(serve(app, settings))


REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"


def _enable_reflection(server: aio.Server, service_names: Sequence[str]) -> None:
    """Server reflection as v1alpha and as v1. grpcio-reflection serves only v1alpha
    (grpc/grpc#38576), while newer clients (grpcurl >= 1.9, Postman) ask v1 first; v1 is
    v1alpha under a new name, message for message, so one servicer answers both."""
    servicer = reflection.aio.ReflectionServicer([*service_names, reflection.SERVICE_NAME])
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    info = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(REFLECTION_V1, {"ServerReflectionInfo": info}),)
    )
