"""LiteLLM proxy for the overhead comparison, in its own virtualenv under var/bench/.

LiteLLM is a competitor measured by the bench, not a dependency of aimesh: it
pulls in hundreds of packages whose pins would clash with requirements.txt, so
it lives in a separate virtualenv that the bench creates on its first run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

# The one pin of the bench-only LiteLLM (separate venv: its dependencies would clash with
# ours). 1.106.12: newer [proxy] extras need packages PyPI does not serve here, and 1.107.0
# is reported as a compromised release.
LITELLM_REQUIREMENT = "litellm[proxy]==1.106.12"

ROOT = Path(__file__).resolve().parent.parent
VENV_DIR = ROOT / "var" / "bench" / "litellm-venv"
_STAMP = VENV_DIR / ".installed"


def ensure_litellm() -> Path:
    """Create the virtualenv and install LiteLLM once; return the `litellm` executable."""
    executable = VENV_DIR / "bin" / "litellm"
    if _STAMP.exists() and _STAMP.read_text().strip() == LITELLM_REQUIREMENT:
        return executable
    print(f"(installing {LITELLM_REQUIREMENT} into {VENV_DIR}, first run only)", file=sys.stderr)
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV_DIR)
    pip = [str(VENV_DIR / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True, stdout=sys.stderr)
    subprocess.run([*pip, LITELLM_REQUIREMENT], check=True, stdout=sys.stderr)
    _STAMP.write_text(LITELLM_REQUIREMENT + "\n")
    return executable


# A fixed master key: without one the proxy refuses to start; with no database it
# is a plain comparison, the counterpart of aimesh's API key check.
MASTER_KEY = "sk-bench-0123456789abcdef0123456789abcdef0123456789abcdef"


def litellm_config(upstream_url: str, *models: str) -> str:
    """config.yaml: the models on the upstream, no database, a fixed master key."""
    entries = "".join(
        f"  - model_name: {model}\n"
        "    litellm_params:\n"
        f"      model: openai/{model}\n"
        f"      api_base: {upstream_url}\n"
        "      api_key: sk-bench\n"
        for model in models
    )
    return (
        "model_list:\n" + entries + "litellm_settings:\n"
        "  drop_params: true\n"
        "  telemetry: false\n"
        "general_settings:\n"
        f"  master_key: {MASTER_KEY}\n"
    )


def litellm_env() -> dict[str, str]:
    """Offline, quiet, no telemetry: the proxy must not reach the internet."""
    return {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY": "False",
        "LITELLM_LOG": "ERROR",
        "DISABLE_SCHEMA_UPDATE": "True",
    }
