"""Every overlay renders with kubectl kustomize and passes kubernetes-validate --strict.

The schemas ship inside the kubernetes-validate package, so this runs offline.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.k8s.manifests import (
    CUSTOM_KINDS,
    K8S,
    KUBERNETES_VALIDATE,
    OVERLAYS,
    objects,
    rendered_text,
)

# The newest Kubernetes the validator knows, and the oldest we support (the
# fields used, such as PDB unhealthyPodEvictionPolicy and gRPC probes, are GA there).
KUBERNETES_VERSIONS = ("1.37.0", "1.31.0")


def validate(text: str, version: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KUBERNETES_VALIDATE), "--strict", "--quiet", "-k", version, "-"],
        input=text,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_strictly(overlay: str, version: str) -> None:
    result = validate(rendered_text(overlay), version)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert not [line for line in lines if not line.startswith("WARN")], result.stdout
    # Only the custom resources lack a schema here; they have their own test.
    for line in lines:
        assert any(f"kind {kind} " in line for kind in CUSTOM_KINDS), line


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_namespaced_into_aimesh(overlay: str) -> None:
    for obj in objects(overlay):
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["name"] == "aimesh"
        else:
            assert obj["metadata"].get("namespace") == "aimesh", obj["metadata"]["name"]


def test_strict_validation_catches_a_misspelt_field() -> None:
    """Proves the check has teeth: `periodSecond` passes without --strict."""
    docs = [o for o in yaml.safe_load_all(rendered_text("dev")) if o]
    deployment = next(o for o in docs if o["kind"] == "Deployment")
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    probe["periodSecond"] = probe.pop("periodSeconds")
    result = validate(yaml.safe_dump(deployment), KUBERNETES_VERSIONS[0])
    assert result.returncode != 0
    assert "periodSecond" in result.stdout


def test_every_manifest_file_is_part_of_a_kustomization() -> None:
    """A file no kustomization lists would silently never be deployed."""
    listed: set[Path] = set()
    for kustomization in K8S.rglob("kustomization.yaml"):
        spec = yaml.safe_load(kustomization.read_text())
        entries = [
            *spec.get("resources", []),
            *(p["path"] for p in spec.get("patches", []) if "path" in p),
        ]
        for generator in spec.get("configMapGenerator", []):
            entries += generator.get("files", [])
        listed |= {(kustomization.parent / entry).resolve() for entry in entries}
    for path in K8S.rglob("*"):
        if path.suffix in (".yaml", ".json") and path.name != "kustomization.yaml":
            assert path.resolve() in listed, f"{path.relative_to(K8S)} is in no kustomization"
