"""ServiceMonitors, the PrometheusRule and the Grafana dashboard: schemas and real metric names."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.k8s.crd_schemas import errors
from tests.k8s.live_metrics import exported_metrics
from tests.k8s.manifests import (
    K8S,
    OVERLAYS,
    SERVICES,
    container_port,
    get,
    matches,
    of_kind,
    promql_metrics,
)

DASHBOARD = K8S / "observability" / "aimesh-dashboard.json"


@pytest.fixture(scope="module")
def exported() -> set[str]:
    """Every series name any service exports, from live /metrics scrapes."""
    return set().union(*exported_metrics().values())


def dashboard_exprs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        return found + [e for value in node.values() for e in dashboard_exprs(value)]
    if isinstance(node, list):
        return [e for value in node for e in dashboard_exprs(value)]
    return []


def rule_exprs(overlay: str) -> list[tuple[str, str]]:
    rules = get(overlay, "PrometheusRule", "aimesh")["spec"]["groups"]
    return [(r.get("alert") or r["record"], r["expr"]) for g in rules for r in g["rules"]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_match_the_prometheus_operator_schemas(overlay: str) -> None:
    custom = of_kind(overlay, "ServiceMonitor") + of_kind(overlay, "PrometheusRule")
    assert len(custom) == len(SERVICES) + 1
    for obj in custom:
        assert errors(obj) == [], f"{obj['kind']}/{obj['metadata']['name']}"


def test_the_schema_check_has_teeth() -> None:
    monitor = json.loads(json.dumps(get("dev", "ServiceMonitor", "llm")))
    monitor["spec"]["endpoints"][0]["scrapeInterval"] = "30s"  # the field is `interval`
    assert any("scrapeInterval" in e for e in errors(monitor))
    rule = json.loads(json.dumps(get("dev", "PrometheusRule", "aimesh")))
    del rule["spec"]["groups"][0]["rules"][0]["expr"]
    assert errors(rule)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_monitor_scrapes_its_service_metrics_port_once(overlay: str) -> None:
    for service in SERVICES:
        monitor = get(overlay, "ServiceMonitor", service)["spec"]
        selected = [
            s
            for s in of_kind(overlay, "Service")
            if matches(monitor["selector"]["matchLabels"], s["metadata"]["labels"])
            and all(
                e["operator"] == "DoesNotExist" and e["key"] not in s["metadata"]["labels"]
                for e in monitor["selector"].get("matchExpressions", [])
            )
        ]
        assert [s["metadata"]["name"] for s in selected] == [service]
        ports = {p["name"]: p for p in selected[0]["spec"]["ports"]}
        assert [e["port"] for e in monitor["endpoints"]] == ["metrics"]
        target = ports["metrics"]["targetPort"]
        deployment = get(overlay, "Deployment", service)
        assert (
            container_port(deployment["spec"]["template"]["spec"]["containers"][0], target) == 9090
        )


def test_alert_rules_cover_what_operators_need() -> None:
    alerts = {name for name, _ in rule_exprs("prod")}
    needed = {
        "AimeshHighErrorRate",
        "AimeshHighLatencyP99",
        "AimeshProviderCircuitOpen",
        "AimeshBudgetNearlySpent",
        "AimeshBudgetExhausted",
        "AimeshRateLimitRejectionsSurging",
        "AimeshGuardrailBlocksSurging",
    }
    assert needed <= alerts


def test_every_alert_names_only_exported_metrics(exported: set[str]) -> None:
    for name, expr in rule_exprs("prod"):
        used = promql_metrics(expr)
        assert used, f"{name} selects no metric"
        assert used <= exported, f"{name}: not exported: {sorted(used - exported)}"


def test_dashboard_parses_and_every_query_names_an_exported_metric(exported: set[str]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["panels"]
    exprs = dashboard_exprs(dashboard["panels"])
    assert len(exprs) >= 10
    for expr in exprs:
        used = promql_metrics(expr)
        assert used, f"query selects no metric: {expr}"
        assert used <= exported, f"not exported: {sorted(used - exported)} in {expr}"


def test_dashboard_shows_the_mesh_at_a_glance() -> None:
    text = DASHBOARD.read_text()
    for metric in (
        "grpc_server_handled_total",  # requests and errors
        "grpc_server_handling_seconds_bucket",  # latency
        "aimesh_edge_time_to_first_token_seconds_bucket",
        "aimesh_edge_tokens_total",  # tokens per tenant and model
        "aimesh_edge_cost_micros_total",  # cost per tenant and model
        "aimesh_edge_cache_lookups_total",
        "aimesh_guardrails_findings_total",
    ):
        assert metric in text, metric


def test_dashboard_is_shipped_as_a_grafana_sidecar_configmap() -> None:
    for overlay in OVERLAYS:
        config = get(overlay, "ConfigMap", "aimesh-grafana-dashboard")
        assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert json.loads(config["data"]["aimesh-dashboard.json"]) == json.loads(
            DASHBOARD.read_text()
        )
