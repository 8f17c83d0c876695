"""The guard: runs the detectors a policy enables, applies actions, redacts, decides."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.guardrails import metrics
from services.guardrails.detectors import hidden_unicode, output_checks, pii_patterns, secrets
from services.guardrails.detectors.injection import InjectionDetector
from services.guardrails.findings import Action, Finding, Report, Verdict
from services.guardrails.policy import Policy
from services.guardrails.redaction import Placeholders, redact

NerDetect = Callable[[str], list[Finding]]


@dataclass(frozen=True, slots=True)
class OutputChecks:
    system_prompt: str = ""
    canary: str = ""
    schema: dict[str, Any] | None = None


class Guard:
    def __init__(
        self,
        injection: InjectionDetector | None,
        ner: NerDetect | None,
        *,
        document_threshold_factor: float = 0.8,
    ) -> None:
        self.injection = injection
        self.ner = ner
        self.document_threshold_factor = document_threshold_factor

    # -- detection ---------------------------------------------------------------------------

    def sensitive(self, text: str, policy: Policy) -> list[Finding]:
        """PII and secrets: what both directions and the stream look for."""
        found: list[Finding] = []
        if policy.runs("secrets"):
            found += secrets.detect(text, entropy_rule=policy.runs("secrets.entropy"))
        if policy.runs("pii.pattern"):
            patterns = pii_patterns.detect(text)
            found += [p for p in patterns if not _overlaps_any(p, found)]
        if self.ner is not None and policy.runs("pii.ner"):
            found += [n for n in self.ner(text) if not _overlaps_any(n, found)]
        return found

    def check_input(self, text: str, policy: Policy, *, document: bool = False) -> Report:
        started = time.perf_counter()
        found: list[Finding] = []
        if policy.runs("unicode"):
            found += hidden_unicode.detect(text)
        if self.injection is not None and policy.runs("injection"):
            threshold = policy.injection_threshold
            if document:
                threshold *= self.document_threshold_factor
            found += self.injection.detect(text, threshold, document=document)
        found += self.sensitive(text, policy)
        report = decide(text, found, policy, Placeholders())
        _observe("input", report, started)
        return report

    def check_output(self, text: str, policy: Policy, checks: OutputChecks) -> Report:
        started = time.perf_counter()
        found: list[Finding] = []
        if checks.canary and policy.runs("output.canary"):
            found += output_checks.canary(text, checks.canary)
        if checks.system_prompt and policy.runs("output.leak"):
            found += output_checks.system_prompt_leak(text, checks.system_prompt)
        if checks.schema is not None and policy.runs("output.json_schema"):
            found += output_checks.json_schema(text, checks.schema)
        if policy.runs("unicode"):
            found += hidden_unicode.detect(text)
        found += self.sensitive(text, policy)
        report = decide(text, found, policy, Placeholders())
        _observe("output", report, started)
        return report


def decide(text: str, found: list[Finding], policy: Policy, placeholders: Placeholders) -> Report:
    """Apply the policy's threshold and actions, redact, and reach a verdict."""
    kept = [f for f in found if f.score >= policy.min_score]
    for finding in kept:
        finding.action = policy.action_for(finding.type)
    kept.sort(key=lambda f: (f.start, f.end))
    redacted = redact(text, kept, placeholders)
    blocking = [f for f in kept if f.action == Action.BLOCK]
    if blocking:
        top = max(blocking, key=lambda f: f.score)
        return Report(Verdict.BLOCK, kept, redacted, reason=top.type)
    if any(f.action == Action.REDACT for f in kept):
        return Report(Verdict.REDACT, kept, redacted)
    return Report(Verdict.ALLOW, kept, text)


def _overlaps_any(finding: Finding, others: list[Finding]) -> bool:
    return any(o.start < finding.end and finding.start < o.end for o in others)


def _observe(check: str, report: Report, started: float) -> None:
    metrics.CHECK_SECONDS.labels(check).observe(time.perf_counter() - started)
    metrics.VERDICTS.labels(check, report.verdict.name).inc()
    for finding in report.findings:
        metrics.FINDINGS.labels(check, finding.type, finding.action.name).inc()
