"""Render the kustomize overlays and index what they contain, for tests/k8s."""

from __future__ import annotations

import functools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
BIN = Path(sys.executable).parent
KUBECTL = BIN / "kubectl"
KUBERNETES_VALIDATE = BIN / "kubernetes-validate"

OVERLAYS = ("dev", "prod")
SERVICES = ("edge", "llm", "retrieval", "guardrails")
# Kinds the Kubernetes schemas do not cover: validated by test_custom_resources.
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule"}

Obj = dict[str, Any]


def render_text(overlay: str) -> str:
    return subprocess.run(
        [str(KUBECTL), "kustomize", str(K8S / "overlays" / overlay)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout


@functools.cache
def _render(overlay: str) -> tuple[str, tuple[Obj, ...]]:
    text = render_text(overlay)
    return text, tuple(o for o in yaml.safe_load_all(text) if o)


def rendered_text(overlay: str) -> str:
    return _render(overlay)[0]


def objects(overlay: str) -> tuple[Obj, ...]:
    return _render(overlay)[1]


def of_kind(overlay: str, kind: str) -> list[Obj]:
    return [o for o in objects(overlay) if o["kind"] == kind]


def get(overlay: str, kind: str, name: str) -> Obj:
    found = [o for o in of_kind(overlay, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"{overlay}: expected one {kind}/{name}, found {len(found)}"
    return found[0]


def workloads(overlay: str) -> list[Obj]:
    return [o for o in objects(overlay) if o["kind"] in ("Deployment", "StatefulSet")]


def pod_spec(workload: Obj) -> Obj:
    spec: Obj = workload["spec"]["template"]["spec"]
    return spec


def pod_labels(workload: Obj) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def containers(workload: Obj) -> Iterator[Obj]:
    spec = pod_spec(workload)
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def container_port(container: Obj, name_or_number: str | int) -> int:
    """The container port a Service targetPort or a NetworkPolicy port names."""
    for port in container.get("ports", []):
        if name_or_number in (port.get("name"), port["containerPort"]):
            return int(port["containerPort"])
    raise AssertionError(f"container {container['name']} has no port {name_or_number!r}")


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def config_env(overlay: str, service: str) -> dict[str, str]:
    data: dict[str, str] = get(overlay, "ConfigMap", service)["data"]
    return data


# Grafana's template variables, replaced by sample values so queries parse.
_GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$namespace": "aimesh"}


def promql_metrics(expr: str) -> set[str]:
    """Every metric a PromQL expression selects; raises on a syntax error."""
    for variable, value in _GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    names: set[str] = set()

    def visit(node: object) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            assert node.name, f"a selector without a metric name in {expr}"
            names.add(node.name)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names
