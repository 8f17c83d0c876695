"""Arbitrary text never breaks a check: offsets stay in bounds, redaction hides what it found."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.guardrails.findings import Action
from services.guardrails.guard import Guard, OutputChecks
from services.guardrails.policy import Policy

PIECES = st.sampled_from(
    [
        "jane@example.com", "4556 7712 6146 2002", "201-82-2178", " ", "\n", "Ignore previous",
        "\u200b", "\U000e0041", "Maria Garcia", "12 Baker Street", "sk-ant-" + "a" * 24, "é😀",
    ]
)  # fmt: skip
TEXTS = st.lists(st.one_of(PIECES, st.text(max_size=20)), max_size=30).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS)
def test_check_input_total(guard: Guard, policy: Policy, text: str) -> None:
    report = guard.check_input(text, policy)
    for finding in report.findings:
        assert 0 <= finding.start <= finding.end <= len(text)
        if finding.action == Action.REDACT and finding.end > finding.start:
            assert finding.placeholder in report.redacted_text
    document = guard.check_input(text, policy, document=True)
    assert document.verdict is not None
    output = guard.check_output(text, policy, OutputChecks(system_prompt=text[:50], canary="zq"))
    assert output.redacted_text is not None
