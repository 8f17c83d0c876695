"""The metric names each service really exports, from a live /metrics scrape."""

from __future__ import annotations

import tempfile
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.k8s.manifests import SERVICES
from tests.support import ServiceProcess

# The series a family exposes, by type (the text format's suffixes).
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
    "stateset": ("",),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "unknown": ("",),
}


def series_names(exposition: str) -> set[str]:
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def scrape(service: str, scratch: str) -> set[str]:
    """Start the real service, read /metrics once it listens, stop it.

    Metrics are registered at import, so the scrape does not wait for models
    to load; the service is stopped before it is SERVING.
    """
    env = (
        {
            # Anything a service writes goes to a scratch folder, not the checkout.
            "TMPDIR": scratch,
            "AIMESH_EDGE_REDIS_PREFIX": "test:k8s:",
        }
        if service == "edge"
        else {"TMPDIR": scratch}
    )
    process = ServiceProcess(service, env, wait_serving=False, start_timeout=120)
    with process:
        url = f"http://127.0.0.1:{process.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=30) as response:
            return series_names(response.read().decode())


def exported_metrics() -> dict[str, set[str]]:
    with tempfile.TemporaryDirectory(prefix="aimesh-k8s-") as scratch:
        return {service: scrape(service, scratch) for service in SERVICES}
