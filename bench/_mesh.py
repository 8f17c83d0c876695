"""aimesh's own services for the bench, with the openai provider on the fake upstream.

The llm service gets a one-model catalogue whose only model is served by the
`openai` provider at the upstream's base URL; the embedded local model is off
(it would only cost start time). The edge gets one API key on a `bench` tier
whose limits and budget are far above what a bench run spends, so every call
goes through authentication, both rate-limit quotas and the budget reservation
in Redis without ever being refused. Retrieval is not started: Chat does not
need it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

from services.edge.auth import add_to_key_file, make_record, new_key
from tests.support import ServiceProcess

REDIS_URL = "redis://127.0.0.1:6379/0"
MODEL = "bench-gpt"
# The upstream streams this one's pieces 20 ms apart (bench/_fake_openai.py).
PACED_MODEL = "bench-gpt-paced"
# gpt-4o-mini's list prices, so the budget path does real arithmetic.
CATALOGUE = """
default_model: {model}
providers:
  openai:
    kind: openai
    base_url: {upstream}
models:
  {model}:
    provider: openai
    upstream_model: {model}
    context_window: 128000
    max_output_tokens: 16384
    input_micros_per_million_tokens: 150000
    output_micros_per_million_tokens: 600000
    fallbacks: []
  {paced}:
    provider: openai
    upstream_model: {paced}
    context_window: 128000
    max_output_tokens: 16384
    input_micros_per_million_tokens: 150000
    output_micros_per_million_tokens: 600000
    fallbacks: []
"""
BENCH_TIER = {
    "bench": {
        "allowed_models": ["*"],
        "key_requests_per_window": 1_000_000_000,
        "key_tokens_per_window": 1_000_000_000_000,
        "tenant_requests_per_window": 1_000_000_000,
        "tenant_tokens_per_window": 1_000_000_000_000,
        "daily_budget_micros": 1_000_000_000_000,
    }
}


def start_llm(workdir: Path, upstream_url: str) -> ServiceProcess:
    catalogue = workdir / "catalogue.yaml"
    catalogue.write_text(CATALOGUE.format(model=MODEL, paced=PACED_MODEL, upstream=upstream_url))
    env = {
        "AIMESH_LLM_CATALOGUE_PATH": str(catalogue),
        "AIMESH_LLM_OPENAI_API_KEY": "sk-bench",
        "AIMESH_LLM_OPENAI_BASE_URL": upstream_url,
        "AIMESH_LLM_LOCAL_ENABLED": "false",
        # The production default (tests poll every 0.2 s, which would add CPU and Redis calls).
        "AIMESH_LLM_HEALTH_CHECK_INTERVAL_SECONDS": "5",
    }
    return ServiceProcess("llm", env).start()


@dataclass
class Edge:
    guardrails: ServiceProcess
    edge: ServiceProcess
    api_key: str
    redis_prefix: str

    def stop(self) -> None:
        self.edge.terminate()
        self.guardrails.terminate()


def start_edge(workdir: Path, llm: ServiceProcess, redis_url: str = REDIS_URL) -> Edge:
    """Guardrails and the edge in front of an llm service already running."""
    tiers = workdir / "tiers.json"
    tiers.write_text(json.dumps(BENCH_TIER))
    keys = workdir / "api_keys.json"
    api_key = new_key()
    add_to_key_file(keys, make_record(api_key, "bench", "bench"))
    guardrails = ServiceProcess(
        "guardrails", {"AIMESH_GUARDRAILS_HEALTH_CHECK_INTERVAL_SECONDS": "5"}
    ).start()
    prefix = f"bench:{uuid.uuid4().hex[:12]}:"
    try:
        edge = ServiceProcess(
            "edge",
            {
                "AIMESH_EDGE_LLM_TARGET": llm.target,
                "AIMESH_EDGE_GUARDRAILS_TARGET": guardrails.target,
                # Nothing listens there: Chat does not need retrieval.
                "AIMESH_EDGE_RETRIEVAL_TARGET": "127.0.0.1:9",
                "AIMESH_EDGE_REDIS_URL": redis_url,
                "AIMESH_EDGE_REDIS_PREFIX": prefix,
                "AIMESH_EDGE_API_KEYS_FILE": str(keys),
                "AIMESH_EDGE_TIERS_FILE": str(tiers),
                "AIMESH_EDGE_LEDGER_DIR": str(workdir / "ledger"),
                "AIMESH_EDGE_HEALTH_CHECK_INTERVAL_SECONDS": "5",
            },
        ).start()
    except BaseException:
        guardrails.terminate()
        raise
    return Edge(guardrails, edge, api_key, prefix)


def clear_redis_prefix(prefix: str, redis_url: str = REDIS_URL) -> None:
    """Remove what a bench edge left in the shared Redis."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=prefix + "*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)
    finally:
        client.close()
