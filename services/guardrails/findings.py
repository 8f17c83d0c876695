"""The domain vocabulary: findings, actions and verdicts, independent of the proto."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Action(enum.IntEnum):
    """What a finding does to the verdict; values match aimesh.guardrails.v1.Action."""

    DEFAULT = 0
    REPORT = 1
    REDACT = 2
    BLOCK = 3


class Verdict(enum.IntEnum):
    """Values match aimesh.guardrails.v1.Verdict."""

    ALLOW = 1
    REDACT = 2
    BLOCK = 3


# Finding types that are not PII.
PROMPT_INJECTION = "PROMPT_INJECTION"
JAILBREAK = "JAILBREAK"
HIDDEN_UNICODE = "HIDDEN_UNICODE"
SECRET = "SECRET"
SYSTEM_PROMPT_LEAK = "SYSTEM_PROMPT_LEAK"
CANARY_LEAK = "CANARY_LEAK"
JSON_SCHEMA = "JSON_SCHEMA"

PII_TYPES = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "IP_ADDRESS",
    "DATE_TIME",
    "PERSON",
    "LOCATION",
    "STREET_ADDRESS",
)


@dataclass(slots=True)
class Finding:
    """One detected span; start and end are code-point offsets, end exclusive."""

    type: str
    start: int
    end: int
    score: float
    detector: str
    message: str = ""
    action: Action = Action.DEFAULT
    placeholder: str = ""

    def shifted(self, offset: int) -> Finding:
        return Finding(
            self.type,
            self.start + offset,
            self.end + offset,
            self.score,
            self.detector,
            self.message,
            self.action,
            self.placeholder,
        )


@dataclass(slots=True)
class Report:
    """The outcome of one check."""

    verdict: Verdict
    findings: list[Finding]
    redacted_text: str
    reason: str = ""
