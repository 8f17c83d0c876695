"""The manifests agree with each other and with the services' real settings.

Ports (container, probe, Service target, settings), environment variable names
(each one a real setting of its service), drain timing, security context,
resources, NetworkPolicy selectors and the downstream DNS names.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest
from pydantic import AliasChoices

from services.common.settings import ServiceSettings
from tests.k8s.manifests import (
    K8S,
    OVERLAYS,
    SERVICES,
    config_env,
    container_port,
    containers,
    get,
    matches,
    objects,
    of_kind,
    pod_labels,
    pod_spec,
    workloads,
)

GRPC_PORT = 50051
METRICS_PORT = 9090
CASES = [(overlay, service) for overlay in OVERLAYS for service in SERVICES]


def settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"services.{service}.settings")
    classes = [
        c
        for c in vars(module).values()
        if isinstance(c, type) and issubclass(c, ServiceSettings) and c is not ServiceSettings
    ]
    assert len(classes) == 1, classes
    return classes[0]


def setting_env_names(service: str) -> set[str]:
    """Every environment variable the service reads: prefix + field, and aliases."""
    cls = settings_class(service)
    names = {cls.env_prefix() + field.upper() for field in cls.model_fields}
    for info in cls.model_fields.values():
        alias = info.validation_alias
        if isinstance(alias, str):
            names.add(alias)
        elif isinstance(alias, AliasChoices):
            names.update(c for c in alias.choices if isinstance(c, str))
    return names


def container_env(overlay: str, service: str) -> dict[str, Any]:
    """Name -> value (str) or valueFrom (dict), ConfigMap entries included."""
    container = main_container(overlay, service)
    env: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        env.update(config_env(overlay, source["configMapRef"]["name"]))
    for var in container.get("env", []):
        env[var["name"]] = var.get("value", var.get("valueFrom"))
    return env


def main_container(overlay: str, service: str) -> dict[str, Any]:
    deployment = get(overlay, "Deployment", service)
    found = [c for c in pod_spec(deployment)["containers"] if c["name"] == service]
    assert len(found) == 1
    return found[0]


# Read by libraries rather than by the settings classes.
RUNTIME_ENV = {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"}


def cpu_cores(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


@pytest.mark.parametrize(("overlay", "service"), CASES)
def test_environment_names_are_real_settings(overlay: str, service: str) -> None:
    """A misspelt AIMESH_* variable would stop the pod at start: catch it here."""
    env = container_env(overlay, service)
    unknown = set(env) - setting_env_names(service) - RUNTIME_ENV
    assert not unknown, f"{service}: not settings of the service: {sorted(unknown)}"
    limit = cpu_cores(main_container(overlay, service)["resources"]["limits"]["cpu"])
    for name in {n for n in env if n.endswith("_THREADS")}:
        assert 1 <= int(env[name]) <= limit, f"{name}: threads beyond the CPU limit"


@pytest.mark.parametrize(("overlay", "service"), CASES)
def test_configmap_values_are_valid_settings(overlay: str, service: str) -> None:
    """The ConfigMap loads through the service's own settings class."""
    cls = settings_class(service)
    prefix = cls.env_prefix()
    values = {
        name[len(prefix) :].lower(): value
        for name, value in config_env(overlay, service).items()
        if name.startswith(prefix)
    }
    settings = cls.model_validate(values)
    assert settings.host == "0.0.0.0"
    assert settings.port == GRPC_PORT
    assert settings.metrics_port == METRICS_PORT


@pytest.mark.parametrize(("overlay", "service"), CASES)
def test_ports_agree_everywhere(overlay: str, service: str) -> None:
    container = main_container(overlay, service)
    assert container_port(container, "grpc") == GRPC_PORT
    assert container_port(container, "metrics") == METRICS_PORT
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        port = container[probe]["grpc"]["port"]
        assert isinstance(port, int) and port == GRPC_PORT, probe
    for name in (service, f"{service}-headless"):
        spec = get(overlay, "Service", name)["spec"]
        grpc_port = next(p for p in spec["ports"] if p["name"] == "grpc")
        assert grpc_port["appProtocol"] == "grpc"
        assert container_port(container, grpc_port["targetPort"]) == GRPC_PORT
        assert matches(spec["selector"], pod_labels(get(overlay, "Deployment", service)))
    assert get(overlay, "Service", f"{service}-headless")["spec"]["clusterIP"] == "None"


@pytest.mark.parametrize(("overlay", "service"), CASES)
def test_image_runs_the_service_module(overlay: str, service: str) -> None:
    container = main_container(overlay, service)
    assert container["args"] == [f"services.{service}"]
    assert (K8S.parent / "services" / service / "__main__.py").is_file()
    assert container["image"].startswith("registry.example.com/aimesh/aimesh:")


@pytest.mark.parametrize(("overlay", "service"), CASES)
def test_termination_grace_outlasts_the_drain(overlay: str, service: str) -> None:
    cls = settings_class(service)
    prefix = cls.env_prefix()
    env = config_env(overlay, service)
    drain = float(env[prefix + "DRAIN_DELAY_SECONDS"])
    grace = float(env[prefix + "GRACE_PERIOD_SECONDS"])
    period = pod_spec(get(overlay, "Deployment", service))["terminationGracePeriodSeconds"]
    assert period > drain + grace
    # Connections are aged out well before they would outlive a rollout, and the
    # age grace lets an in-flight stream finish on an old connection.
    assert int(env[prefix + "MAX_CONNECTION_AGE_MS"]) <= 300_000
    assert int(env[prefix + "MAX_CONNECTION_AGE_GRACE_MS"]) >= grace * 1000


@pytest.mark.parametrize(("overlay", "service"), CASES)
def test_liveness_is_more_patient_than_readiness(overlay: str, service: str) -> None:
    """Waiting for a dependency makes a pod unready, not restarted."""
    container = main_container(overlay, service)

    def window(probe: str) -> int:
        p = container[probe]
        return int(p.get("periodSeconds", 10)) * int(p.get("failureThreshold", 3))

    assert window("livenessProbe") >= 10 * window("readinessProbe")
    assert window("startupProbe") >= 120  # model loads


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_is_locked_down(overlay: str) -> None:
    for workload in workloads(overlay):
        name = workload["metadata"]["name"]
        spec = pod_spec(workload)
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["serviceAccountName"] == name
        get(overlay, "ServiceAccount", name)
        mounted = set()
        for container in containers(workload):
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, name
            assert ctx["readOnlyRootFilesystem"] is True, name
            assert ctx["capabilities"]["drop"] == ["ALL"], name
            assert "add" not in ctx["capabilities"], name
            resources = container["resources"]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[kind]), f"{name} {kind}"
            mounted |= {m["mountPath"] for m in container.get("volumeMounts", [])}
        assert "/tmp" in mounted, f"{name}: read-only root needs a writable /tmp"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_writable_paths_in_settings_are_mounted(overlay: str) -> None:
    """Any directory or file a ConfigMap points the service at is on a volume."""
    for service in SERVICES:
        mounts = [m["mountPath"] for m in main_container(overlay, service).get("volumeMounts", [])]
        for name, value in config_env(overlay, service).items():
            if name.endswith(("_DIR", "_FILE", "_PATH")) and value.startswith("/"):
                assert any(value.startswith(m + "/") or value == m for m in mounts), name


def _peer_labels(peer: dict[str, Any], overlay: str) -> list[dict[str, str]]:
    """Pod labels of the workloads a NetworkPolicy peer selects in our namespace."""
    if "namespaceSelector" in peer or "ipBlock" in peer:
        return []
    selector = peer["podSelector"].get("matchLabels", {})
    return [pod_labels(w) for w in workloads(overlay) if matches(selector, pod_labels(w))]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_select_real_pods_and_ports(overlay: str) -> None:
    policies = {p["metadata"]["name"]: p["spec"] for p in of_kind(overlay, "NetworkPolicy")}
    deny = policies.pop("default-deny")
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    for workload in workloads(overlay):
        name = workload["metadata"]["name"]
        spec = policies[name]
        assert matches(spec["podSelector"]["matchLabels"], pod_labels(workload))
        assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
        container = pod_spec(workload)["containers"][0]
        for rule in spec.get("ingress", []):
            for port in rule["ports"]:
                container_port(container, port["port"])  # a port the pod really has
            for peer in rule.get("from", []):
                if "podSelector" in peer and "namespaceSelector" not in peer:
                    assert _peer_labels(peer, overlay), f"{name}: ingress from no pod"
        for rule in spec.get("egress", []):
            for peer in rule.get("to", []):
                if "podSelector" in peer and "namespaceSelector" not in peer:
                    assert _peer_labels(peer, overlay), f"{name}: egress to no pod"


def _allowed(overlay: str, source: str, target: str, port: int) -> bool:
    """Both the source's egress and the target's ingress let source reach target:port."""
    policies = {p["metadata"]["name"]: p["spec"] for p in of_kind(overlay, "NetworkPolicy")}
    source_labels = pod_labels(
        next(w for w in workloads(overlay) if w["metadata"]["name"] == source)
    )
    target_workload = next(w for w in workloads(overlay) if w["metadata"]["name"] == target)
    target_labels = pod_labels(target_workload)
    target_container = pod_spec(target_workload)["containers"][0]

    def resolves_to(rule_port: int | str) -> int | None:
        if isinstance(rule_port, int):
            return rule_port
        named = [p for p in target_container["ports"] if p.get("name") == rule_port]
        return int(named[0]["containerPort"]) if named else None

    def port_ok(rule: dict[str, Any]) -> bool:
        if "ports" not in rule:
            return True
        return any(resolves_to(p["port"]) == port for p in rule["ports"])

    egress = any(
        port_ok(rule)
        and any(
            "podSelector" in peer
            and "namespaceSelector" not in peer
            and matches(peer["podSelector"].get("matchLabels", {}), target_labels)
            for peer in rule.get("to", [])
        )
        for rule in policies[source].get("egress", [])
    )
    ingress = any(
        port_ok(rule)
        and any(
            "podSelector" in peer
            and "namespaceSelector" not in peer
            and matches(peer["podSelector"].get("matchLabels", {}), source_labels)
            for peer in rule.get("from", [])
        )
        for rule in policies[target].get("ingress", [])
    )
    return egress and ingress


# Who calls whom, as the design names it; nothing else inside the namespace.
CALLS = {
    ("edge", "llm", GRPC_PORT),
    ("edge", "retrieval", GRPC_PORT),
    ("edge", "guardrails", GRPC_PORT),
    ("edge", "redis", 6379),
    ("retrieval", "qdrant", 6333),
    ("retrieval", "qdrant", 6334),
}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_allow_exactly_the_designed_calls(overlay: str) -> None:
    names = [w["metadata"]["name"] for w in workloads(overlay)]
    for source in names:
        for target in names:
            if source == target:
                continue
            for port in {GRPC_PORT, 6379, 6333, 6334}:
                expected = (source, target, port) in CALLS
                assert _allowed(overlay, source, target, port) == expected, (source, target, port)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_clients_reach_only_the_edge(overlay: str) -> None:
    for policy in of_kind(overlay, "NetworkPolicy"):
        for rule in policy["spec"].get("ingress", []):
            if "from" not in rule:  # from anywhere
                assert policy["metadata"]["name"] == "edge"
                assert [p["port"] for p in rule["ports"]] == ["grpc"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_downstream_targets_name_real_headless_services(overlay: str) -> None:
    env = config_env(overlay, "edge")
    namespace = get(overlay, "Deployment", "edge")["metadata"]["namespace"]
    for service in ("llm", "retrieval", "guardrails"):
        target = env[f"AIMESH_EDGE_{service.upper()}_TARGET"]
        match = re.fullmatch(
            r"dns:///([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)", target
        )
        assert match, target
        name, ns, port = match.groups()
        assert (ns, name) == (namespace, f"{service}-headless")
        spec = get(overlay, "Service", name)["spec"]
        assert spec["clusterIP"] == "None"
        assert int(port) in [p["port"] for p in spec["ports"]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_retrieval_points_at_the_qdrant_service(overlay: str) -> None:
    env = container_env(overlay, "retrieval")
    namespace = get(overlay, "Deployment", "retrieval")["metadata"]["namespace"]
    url = env["AIMESH_RETRIEVAL_QDRANT_URL"]
    match = re.fullmatch(r"http://([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)", url)
    assert match, url
    name, ns, port = match.groups()
    assert ns == namespace
    assert int(port) in [p["port"] for p in get(overlay, "Service", name)["spec"]["ports"]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_references_never_values(overlay: str) -> None:
    assert not of_kind(overlay, "Secret")
    for service in SERVICES:
        for name, value in container_env(overlay, service).items():
            if re.search(r"(API_KEY|PASSWORD|TOKEN|SECRET|REDIS_URL)$", name):
                assert isinstance(value, dict) and "secretKeyRef" in value, name
    text = "\n".join(p.read_text() for p in K8S.rglob("*") if p.is_file())
    assert not re.search(r"\bsk-[A-Za-z0-9]{16,}|sk-ant-", text)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_scaling_objects_target_real_workloads(overlay: str) -> None:
    for hpa in of_kind(overlay, "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        get(overlay, ref["kind"], ref["name"])
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    for pdb in of_kind(overlay, "PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert [w for w in workloads(overlay) if matches(selector, pod_labels(w))]


def test_dev_runs_one_replica_of_each_without_autoscaling() -> None:
    assert not of_kind("dev", "HorizontalPodAutoscaler")
    for workload in workloads("dev"):
        assert workload["spec"]["replicas"] == 1


def test_prod_runs_several_replicas_spread_over_nodes_and_zones() -> None:
    for service in SERVICES:
        deployment = get("prod", "Deployment", service)
        spec = pod_spec(deployment)
        labels = pod_labels(deployment)
        # The HPA owns the count; a replicas field would reset it at every apply.
        assert "replicas" not in deployment["spec"]
        assert get("prod", "HorizontalPodAutoscaler", service)["spec"]["minReplicas"] >= 3
        terms = spec["affinity"]["podAntiAffinity"][
            "preferredDuringSchedulingIgnoredDuringExecution"
        ]
        assert any(
            t["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
            and matches(t["podAffinityTerm"]["labelSelector"]["matchLabels"], labels)
            for t in terms
        )
        spread = {c["topologyKey"]: c for c in spec["topologySpreadConstraints"]}
        assert matches(
            spread["topology.kubernetes.io/zone"]["labelSelector"]["matchLabels"], labels
        )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_stateful_stores_keep_their_data(overlay: str) -> None:
    redis = get(overlay, "StatefulSet", "redis")
    claims = {c["metadata"]["name"] for c in redis["spec"]["volumeClaimTemplates"]}
    assert "data" in claims
    assert {"mountPath": "/data", "name": "data"} in pod_spec(redis)["containers"][0][
        "volumeMounts"
    ]
    conf = get(overlay, "ConfigMap", "redis")["data"]["redis.conf"]
    assert re.search(r"^appendonly yes$", conf, re.M)
    assert re.search(r"^maxmemory-policy noeviction$", conf, re.M)
    qdrant = get(overlay, "StatefulSet", "qdrant")
    assert "storage" in {c["metadata"]["name"] for c in qdrant["spec"]["volumeClaimTemplates"]}


def test_every_object_is_labelled_part_of_aimesh() -> None:
    for obj in objects("prod"):
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "aimesh", obj["kind"]
