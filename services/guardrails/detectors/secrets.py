"""API keys, tokens and private keys of common providers, and high-entropy strings.

Provider patterns are precise (fixed prefixes); the entropy rule is the
catch-all and is kept narrow (mixed character classes, 20-100 characters,
not a plain word, hex digest or path) because prose is full of long tokens.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from services.guardrails.findings import SECRET, Finding

PROVIDERS: tuple[tuple[str, re.Pattern[str], float], ...] = (
    ("anthropic", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}"), 0.99),
    ("openai", re.compile(r"\bsk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"), 0.95),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"), 0.99),
    (
        "aws_secret_key",
        re.compile(r"(?i)(?<=aws_secret_access_key)[\s\"'=:]+[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"),
        0.95,
    ),
    ("github", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"), 0.99),
    ("slack", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), 0.99),
    ("slack_webhook", re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/]{20,}"), 0.99),
    ("google", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), 0.99),
    ("stripe", re.compile(r"\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}"), 0.99),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), 0.9),
    (
        "private_key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
            r"(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|[\s\S]*)"
        ),
        0.99,
    ),
    (
        "assignment",
        re.compile(
            r"(?i)\b(?:api[_-]?key|secret[_-]?key|access[_-]?token|auth[_-]?token|password|passwd|"
            r"client[_-]?secret)\b[\"']?\s*[:=]\s*[\"']?(?P<value>[^\s\"',;]{8,})"
        ),
        0.8,
    ),
)

# What an assignment may hold that is no secret: a masked value ("********"), or a
# reference to one kept elsewhere ("${DB_PASSWORD}", "{{ vault_pw }}", "<your-key>").
_NOT_A_VALUE = re.compile(r"[*•xX.#-]+|\$\{.*\}?|\$[A-Z_][A-Z0-9_]*|\{\{.*|<.*>?|%\(.*")


def _plausible(name: str, value: str) -> bool:
    """Whether a provider pattern's match can be a credential at all."""
    if name == "assignment":
        return not _NOT_A_VALUE.fullmatch(value)
    if name == "openai":
        # A key's random body always has digits; "sk-fading-circle-spinner" (a CSS
        # class) has none.
        return any(c.isdigit() for c in value[3:])
    return True


_CANDIDATE = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/=_-]{20,100}(?![A-Za-z0-9+/=_-])")
_HEX = re.compile(r"[0-9a-fA-F]+")


def entropy(value: str) -> float:
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _looks_random(token: str) -> bool:
    if _HEX.fullmatch(token):
        return False  # digests and ids; too common in benign text
    classes = (
        any(c.islower() for c in token)
        + any(c.isupper() for c in token)
        + any(c.isdigit() for c in token)
    )
    if classes < 3:
        return False
    digits = sum(c.isdigit() for c in token)
    return digits >= 2 and entropy(token) >= 4.0


# Every provider pattern but "assignment" starts with one of these: one cheap scan
# decides whether the dozen specific patterns need to run at all.
_PREFIXES = re.compile(
    r"(?=[sAgxhreE-])(?:sk-|sk_|rk_|AKIA|ASIA|ABIA|ACCA|gh[pousr]_|github_pat_|xox|"
    r"https://hooks|AIza|eyJ|-----BEGIN|aws_secret_access_key)",
    re.IGNORECASE,
)
_ASSIGNMENT_WORDS = ("key", "token", "secret", "passw")


def detect(text: str, *, entropy_rule: bool = True) -> list[Finding]:
    found: list[Finding] = []
    lowered = text.lower()
    providers = _PREFIXES.search(text) is not None
    assignment = any(word in lowered for word in _ASSIGNMENT_WORDS)
    for name, pattern, score in PROVIDERS:
        if not (assignment if name == "assignment" else providers):
            continue
        for m in pattern.finditer(text):
            start, end = (
                (m.start("value"), m.end("value")) if "value" in m.groupdict() else m.span()
            )
            if name == "aws_secret_key":
                start = end - 40
            if any(f.start < end and start < f.end for f in found):
                continue
            if not _plausible(name, text[start:end]):
                continue
            found.append(
                Finding(SECRET, start, end, score, f"secrets.{name}", f"{name} credential")
            )
    if entropy_rule:
        for m in _CANDIDATE.finditer(text):
            start, end = m.span()
            if any(f.start < end and start < f.end for f in found):
                continue
            if _looks_random(m.group()):
                found.append(
                    Finding(SECRET, start, end, 0.6, "secrets.entropy", "high-entropy string")
                )
    return found
