"""The llm service's own series, after the OpenTelemetry GenAI conventions.

gen_ai.client.token.usage -> aimesh_llm_token_usage_total{token_type=input|output},
gen_ai.client.operation.duration -> aimesh_llm_operation_duration_seconds,
gen_ai.server.time_to_first_token -> aimesh_llm_time_to_first_token_seconds,
gen_ai.server.time_per_output_token -> aimesh_llm_time_per_output_token_seconds;
plus what a gateway adds: errors by kind, retries, fallbacks, circuit state,
cost, and the local model's queue. `model` is the catalogue name.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

TOKEN_USAGE = Counter(
    "aimesh_llm_token_usage",
    "Tokens consumed, by direction (token_type: input or output).",
    ("operation", "provider", "model", "token_type"),
)
OPERATION_DURATION = Histogram(
    "aimesh_llm_operation_duration_seconds",
    "Time of one generation as the caller sees it, retries and fallbacks included.",
    ("operation", "provider", "model", "outcome"),
    buckets=_LATENCY_BUCKETS,
)
TIME_TO_FIRST_TOKEN = Histogram(
    "aimesh_llm_time_to_first_token_seconds",
    "From the request to the first text of a stream.",
    ("provider", "model"),
    buckets=_LATENCY_BUCKETS,
)
TIME_PER_OUTPUT_TOKEN = Histogram(
    "aimesh_llm_time_per_output_token_seconds",
    "Decode time per output token after the first, per stream.",
    ("provider", "model"),
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1),
)
PROVIDER_ERRORS = Counter(
    "aimesh_llm_provider_errors",
    "Failed provider calls, by kind (rate_limit, server_error, timeout, connection, ...).",
    ("provider", "model", "kind"),
)
RETRIES = Counter(
    "aimesh_llm_retries", "Retries of a provider call after a failure.", ("provider", "model")
)
FALLBACKS = Counter(
    "aimesh_llm_fallbacks",
    "Moves to the next model of the fallback chain, one per hop, by why from_model was "
    "given up (no_credentials, not_started, not_configured, circuit_open, queue_full, "
    "or the kind of its last error).",
    ("from_model", "to_model", "reason"),
)
CIRCUIT_STATE = Gauge(
    "aimesh_llm_circuit_state",
    "Circuit breaker per provider and model: 0 closed, 1 half-open, 2 open.",
    ("provider", "model"),
)
COST = Counter(
    "aimesh_llm_cost_micros",
    "Cost of generations in micro-dollars (1e-6 USD), from the catalogue prices.",
    ("provider", "model"),
)
LOCAL_QUEUE_WAITING = Gauge(
    "aimesh_llm_local_queue_waiting", "Requests waiting for a slot of the local model."
)
LOCAL_QUEUE_BUSY = Gauge("aimesh_llm_local_slots_busy", "Slots of the local model in use.")
LOCAL_QUEUE_REJECTED = Counter(
    "aimesh_llm_local_queue_rejected", "Requests refused because the local queue was full."
)
