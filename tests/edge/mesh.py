"""The whole mesh for end-to-end tests: the four real services and the real Redis.

The llm service gets a one-model catalogue in which the embedded model has a
price, so costs and budgets are real numbers.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from aimesh.edge.v1 import edge_pb2, edge_pb2_grpc
from services.edge.auth import add_to_key_file, make_record, new_key
from tests.support import ServiceProcess

REDIS_URL = "redis://127.0.0.1:6379/0"
MODEL = "smollm2-135m"
# Micro-dollars per million tokens: 1 micro-dollar per input token, 2 per output token.
INPUT_PRICE, OUTPUT_PRICE = 1_000_000, 2_000_000

CATALOGUE = f"""
default_model: {MODEL}
providers:
  local:
    kind: local
  openai:
    kind: openai
    base_url: http://127.0.0.1:9/v1
models:
  gpt-4o-mini:
    provider: openai
    upstream_model: gpt-4o-mini
    context_window: 128000
    max_output_tokens: 16384
    input_micros_per_million_tokens: 150000
    output_micros_per_million_tokens: 600000
    fallbacks: [{MODEL}]
  {MODEL}:
    provider: local
    upstream_model: {MODEL}
    context_window: 4096
    max_output_tokens: 1024
    input_micros_per_million_tokens: {INPUT_PRICE}
    output_micros_per_million_tokens: {OUTPUT_PRICE}
    fallbacks: []
"""


def tier(requests: int, budget: int = 50_000_000, models: tuple[str, ...] = ("*",)) -> dict:
    return {
        "allowed_models": list(models),
        "key_requests_per_window": requests,
        "key_tokens_per_window": 1_000_000,
        "tenant_requests_per_window": 100_000,
        "tenant_tokens_per_window": 10_000_000,
        "daily_budget_micros": budget,
    }


TIERS = {
    "tight": tier(3),
    "budget": tier(1000, budget=200),
    "window": tier(10),
}
# tenant -> tier
TENANTS = {
    "acme": "paid",
    "globex": "paid",
    "cache": "paid",
    "pii": "paid",
    "empty": "paid",
    "tight": "tight",
    "budget": "budget",
    "window": "window",
    "free": "free",
}
UNAUTHENTICATED_LIMIT = 20


@dataclass
class Mesh:
    llm: ServiceProcess
    guardrails: ServiceProcess
    retrieval: ServiceProcess
    edge: ServiceProcess
    edge_env: dict[str, str]
    keys: dict[str, str]
    channel: grpc.Channel = field(init=False)
    stub: edge_pb2_grpc.EdgeServiceStub = field(init=False)

    def __post_init__(self) -> None:
        self.channel = grpc.insecure_channel(self.edge.target)
        self.stub = edge_pb2_grpc.EdgeServiceStub(self.channel)

    def auth(self, tenant: str, request_id: str | None = None) -> list[tuple[str, str]]:
        metadata = [("authorization", f"Bearer {self.keys[tenant]}")]
        if request_id:
            metadata.append(("x-request-id", request_id))
        return metadata

    def stop(self) -> None:
        self.channel.close()
        for service in (self.edge, self.retrieval, self.guardrails, self.llm):
            service.terminate()


def start_mesh(tmp: Path) -> Mesh:
    catalogue = tmp / "catalogue.yaml"
    catalogue.write_text(CATALOGUE)
    tiers_file = tmp / "tiers.json"
    tiers_file.write_text(json.dumps(TIERS))
    keys_file = tmp / "api_keys.json"
    keys = {tenant: new_key() for tenant in TENANTS}
    for tenant, key in keys.items():
        add_to_key_file(keys_file, make_record(key, tenant, TENANTS[tenant]))

    started: list[ServiceProcess] = []
    try:
        llm = ServiceProcess("llm", {"AIMESH_LLM_CATALOGUE_PATH": str(catalogue)}).start()
        started.append(llm)
        guardrails = ServiceProcess("guardrails").start()
        started.append(guardrails)
        retrieval = ServiceProcess(
            "retrieval", {"AIMESH_RETRIEVAL_QDRANT_PATH": str(tmp / "qdrant")}
        ).start()
        started.append(retrieval)
        edge_env = {
            "AIMESH_EDGE_LLM_TARGET": llm.target,
            "AIMESH_EDGE_GUARDRAILS_TARGET": guardrails.target,
            "AIMESH_EDGE_RETRIEVAL_TARGET": retrieval.target,
            "AIMESH_EDGE_REDIS_URL": REDIS_URL,
            "AIMESH_EDGE_REDIS_PREFIX": f"test:e2e:{uuid.uuid4().hex[:12]}:",
            "AIMESH_EDGE_API_KEYS_FILE": str(keys_file),
            "AIMESH_EDGE_TIERS_FILE": str(tiers_file),
            "AIMESH_EDGE_LEDGER_DIR": str(tmp / "ledger"),
            "AIMESH_EDGE_UNAUTHENTICATED_REQUESTS_PER_WINDOW": str(UNAUTHENTICATED_LIMIT),
            # Users may give their own email address; model output is still redacted.
            "AIMESH_EDGE_INPUT_POLICY_ACTIONS": json.dumps({"EMAIL_ADDRESS": "report"}),
        }
        edge = ServiceProcess("edge", edge_env).start()
    except BaseException:
        for service in reversed(started):
            service.terminate()
        raise
    return Mesh(llm, guardrails, retrieval, edge, edge_env, keys)


def details(error: grpc.RpcError) -> dict[str, object]:
    """The google.rpc details of a failed call, by kind."""
    found: dict[str, object] = {}
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        for kind in (
            error_details_pb2.ErrorInfo,
            error_details_pb2.RetryInfo,
            error_details_pb2.QuotaFailure,
            error_details_pb2.BadRequest,
        ):
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                found[kind.__name__] = message
    return found


def user(content: str) -> list[edge_pb2.Message]:
    return [edge_pb2.Message(role="user", content=content)]
