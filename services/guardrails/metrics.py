"""aimesh_guardrails_* series."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

FINDINGS = Counter(
    "aimesh_guardrails_findings_total",
    "Findings by type, detector family and the action taken.",
    ("check", "type", "action"),
)
VERDICTS = Counter("aimesh_guardrails_verdicts_total", "Check verdicts.", ("check", "verdict"))
CHECK_SECONDS = Histogram(
    "aimesh_guardrails_check_seconds",
    "Time spent scanning one text (or one stream chunk), excluding gRPC.",
    ("check",),
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
STREAM_HELD_CHARS = Histogram(
    "aimesh_guardrails_stream_held_chars",
    "Characters RedactStream held back after a chunk, waiting to see if they grow into PII.",
    buckets=(0, 4, 8, 16, 32, 64, 128, 256, 512),
)
