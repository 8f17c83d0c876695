"""The Dockerfile cannot be built here (no container engine): check what it promises."""

from __future__ import annotations

import re

from tests.k8s.manifests import K8S

ROOT = K8S.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_base_image_is_pinned() -> None:
    image = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.M)
    assert image, "the base image is one ARG shared by both stages"
    assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", image.group(1))
    assert DOCKERFILE.count("FROM ${PYTHON_IMAGE} AS") == 2  # multi-stage, same base


def test_installs_the_lock_file_without_resolving() -> None:
    assert "pip install --no-deps -r" in DOCKERFILE
    assert "COPY requirements.txt" in DOCKERFILE


def test_dev_tools_left_out_of_the_image_are_pinned_and_never_imported() -> None:
    excluded = re.search(r"grep -viE '\^\(([^)]*)\)==", DOCKERFILE)
    assert excluded
    names = excluded.group(1).split("|")
    pinned = {
        line.split("==")[0].lower() for line in (ROOT / "requirements.txt").read_text().splitlines()
    }
    assert set(names) <= pinned, "a stale name in the Dockerfile's exclusion list"
    modules = {name.replace("-", "_") for name in names} | {"kubectl", "buf"}
    sources = [*(ROOT / "services").rglob("*.py"), *(ROOT / "aimesh").rglob("*.py")]
    for path in sources:
        text = path.read_text()
        for module in modules:
            assert not re.search(rf"^\s*(import|from) {module}\b", text, re.M), (path, module)


def test_copies_the_code_and_runs_as_non_root() -> None:
    for folder in ("aimesh/", "services/", "protos/"):
        assert re.search(rf"^COPY {folder} ", DOCKERFILE, re.M), folder
    user = re.findall(r"^USER (\S+)$", DOCKERFILE, re.M)
    assert user and user[-1] == "10001:10001"
    assert re.search(r'^ENTRYPOINT \["python", "-m"\]$', DOCKERFILE, re.M)


def test_uid_matches_the_pod_security_context() -> None:
    deployment = (K8S / "llm" / "deployment.yaml").read_text()
    assert "runAsUser: 10001" in deployment and "runAsGroup: 10001" in deployment


def test_dockerignore_lets_in_only_what_the_image_copies() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in lines
    assert {"!requirements.txt", "!aimesh/", "!services/", "!protos/"} <= set(lines)
