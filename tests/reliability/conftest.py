"""The whole mesh as real processes, shared by the reliability tests of a module."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import ROOT, ServiceProcess

API_KEY = "reliability-test-key-0123456789abcdef"


@dataclass
class Mesh:
    llm: ServiceProcess
    retrieval: ServiceProcess
    guardrails: ServiceProcess
    edge: ServiceProcess
    api_key: str

    def by_name(self, name: str) -> ServiceProcess:
        return {
            "llm": self.llm,
            "retrieval": self.retrieval,
            "guardrails": self.guardrails,
            "edge": self.edge,
        }[name]


def start_mesh(
    tmp: Path,
    redis_prefix: str,
    *,
    env: dict[str, dict[str, str]] | None = None,
    redis_url: str = "redis://127.0.0.1:6379/0",
) -> Mesh:
    """Start the four services; `env` adds settings per service name (a fixed
    AIMESH_<NAME>_PORT lets a test restart a service where the edge expects it)."""
    env = env or {}
    keys_file = tmp / "api_keys.json"
    subprocess.run(
        [sys.executable, "-m", "services.edge.keys", "dev-key", "--file", str(keys_file)],
        cwd=ROOT,
        env={**os.environ, "AIMESH_DEV_API_KEY": API_KEY},
        check=True,
        capture_output=True,
    )
    llm = ServiceProcess("llm", env.get("llm")).start()
    retrieval_env = {
        "AIMESH_RETRIEVAL_QDRANT_PATH": str(tmp / "qdrant"),
        **env.get("retrieval", {}),
    }
    retrieval = ServiceProcess("retrieval", retrieval_env).start()
    guardrails = ServiceProcess("guardrails", env.get("guardrails")).start()
    edge_env = {
        "AIMESH_EDGE_API_KEYS_FILE": str(keys_file),
        "AIMESH_EDGE_LLM_TARGET": llm.target,
        "AIMESH_EDGE_RETRIEVAL_TARGET": retrieval.target,
        "AIMESH_EDGE_GUARDRAILS_TARGET": guardrails.target,
        "AIMESH_EDGE_REDIS_URL": redis_url,
        "AIMESH_EDGE_REDIS_PREFIX": redis_prefix,
        "AIMESH_EDGE_LEDGER_DIR": str(tmp / "ledger"),
        **env.get("edge", {}),
    }
    edge = ServiceProcess("edge", edge_env).start()
    return Mesh(llm, retrieval, guardrails, edge, API_KEY)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    tmp = tmp_path_factory.mktemp("mesh")
    started = start_mesh(tmp, f"aimesh-test-{os.getpid()}-{tmp.name}:")
    try:
        yield started
    finally:
        for service in (started.edge, started.guardrails, started.retrieval, started.llm):
            service.terminate()
