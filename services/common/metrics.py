"""The standard gRPC server series, and the /metrics HTTP endpoint.

Names and labels follow go-grpc-prometheus, so existing dashboards work.
Services define their own `aimesh_*` series next to their domain code.
"""

from __future__ import annotations

import logging
from wsgiref.simple_server import WSGIServer

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

_LABELS = ("grpc_type", "grpc_service", "grpc_method")

STARTED = Counter("grpc_server_started_total", "RPCs started on the server.", _LABELS)
HANDLED = Counter(
    "grpc_server_handled_total", "RPCs completed on the server.", (*_LABELS, "grpc_code")
)
HANDLING_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time from the start of an RPC to its status, streams included.",
    _LABELS,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
MSG_SENT = Counter("grpc_server_msg_sent_total", "Stream messages sent by the server.", _LABELS)
DEPENDENCY_UP = Gauge(
    "aimesh_dependency_up", "1 when a dependency's readiness check passes.", ("dependency",)
)


def start_metrics_server(host: str, port: int) -> tuple[WSGIServer, int]:
    """Serve /metrics in a daemon thread; return the server and its bound port."""
    server, _thread = start_http_server(port, addr=host)
    bound = int(server.server_port)
    log.info("metrics listening", extra={"metrics_port": bound})
    return server, bound
