"""The edge's own Prometheus series (aimesh_edge_*)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("aimesh_edge_requests_total", "Edge requests by RPC and tier.", ("rpc", "tier"))
REJECTIONS = Counter(
    "aimesh_edge_rejections_total",
    "Requests refused before or during the pipeline, by reason.",
    ("rpc", "reason"),
)
TOKENS = Counter(
    "aimesh_edge_tokens_total",
    "Tokens consumed, by tenant, model and direction (input/output).",
    ("tenant", "model", "direction"),
)
COST = Counter(
    "aimesh_edge_cost_micros_total",
    "Cost charged, in micro-dollars, by tenant and model.",
    ("tenant", "model"),
)
TIME_TO_FIRST_TOKEN = Histogram(
    "aimesh_edge_time_to_first_token_seconds",
    "From the start of a streamed call to its first text sent to the client.",
    ("rpc",),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CACHE = Counter(
    "aimesh_edge_cache_lookups_total", "Response cache lookups by result (hit/miss).", ("result",)
)
STORE_FAILURES = Counter(
    "aimesh_edge_store_failures_total",
    "Redis operations that failed, by component and the failure mode applied.",
    ("component", "mode"),
)
# Today's (UTC) settled spend of each tenant across every replica, as this edge
# last saw it in Redis, and its daily budget: "budget nearly spent" alerts.
BUDGET_SPENT = Gauge(
    "aimesh_edge_budget_spent_micros",
    "Settled spend of the tenant's daily budget today, in micro-dollars.",
    ("tenant",),
)
BUDGET_LIMIT = Gauge(
    "aimesh_edge_budget_limit_micros", "The tenant's daily budget, in micro-dollars.", ("tenant",)
)
BUDGET_USED = Gauge(
    "aimesh_edge_budget_used_ratio",
    "Share of the tenant's daily budget spent today (settled spend / budget).",
    ("tenant",),
)
ESCALATIONS = Counter(
    "aimesh_edge_escalations_total", "Ask calls that found nothing relevant and escalated."
)
REDACTIONS = Counter(
    "aimesh_edge_output_redactions_total", "Responses whose output guardrails redacted."
)
