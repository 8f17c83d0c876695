"""Output-only checks: canary tokens, system-prompt leakage, JSON schema conformance."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
from jsonschema_specifications import REGISTRY as SPECIFICATIONS
from referencing.exceptions import Unresolvable

from services.guardrails.findings import CANARY_LEAK, JSON_SCHEMA, SYSTEM_PROMPT_LEAK, Finding

_WORDS = re.compile(r"\w+")
_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n?```\s*$", re.DOTALL | re.IGNORECASE)
SHINGLE = 6  # words; a run this long copied from the system prompt is a leak


def canary(text: str, token: str) -> list[Finding]:
    if not token:
        return []
    # Matched case-insensitively in the text itself: offsets into a lower-cased copy
    # would drift after a character whose lower case is longer ("İ" -> "i̇").
    found = [
        Finding(CANARY_LEAK, m.start(), m.end(), 1.0, "output.canary", "canary token in output")
        for m in re.finditer(re.escape(token), text, re.IGNORECASE)
    ]
    if not found:
        # The model may space or punctuate the token out: compare alphanumerics only.
        squeezed = re.sub(r"[\W_]+", "", token.lower())
        if len(squeezed) >= 8 and squeezed in re.sub(r"[\W_]+", "", text.lower()):
            found.append(
                Finding(CANARY_LEAK, 0, len(text), 0.9, "output.canary", "canary token, disguised")
            )
    return found


def system_prompt_leak(text: str, system_prompt: str, min_words: int = SHINGLE) -> list[Finding]:
    """Spans of the output that repeat runs of >= min_words words of the system prompt."""
    prompt_words = [w.lower() for w in _WORDS.findall(system_prompt)]
    if len(prompt_words) < min_words:
        # A very short prompt: only a verbatim copy of all of it counts.
        copy = re.search(re.escape(system_prompt.strip()), text, re.IGNORECASE)
        if copy is None or not prompt_words:
            return []
        return [
            Finding(
                SYSTEM_PROMPT_LEAK, copy.start(), copy.end(), 0.9, "output.leak",
                "system prompt copied",
            )
        ]  # fmt: skip
    shingles = {
        tuple(prompt_words[i : i + min_words]) for i in range(len(prompt_words) - min_words + 1)
    }
    matches = list(_WORDS.finditer(text))
    words = [m.group().lower() for m in matches]
    covered = [False] * len(words)
    for i in range(len(words) - min_words + 1):
        if tuple(words[i : i + min_words]) in shingles:
            for j in range(i, i + min_words):
                covered[j] = True
    found: list[Finding] = []
    i = 0
    total = len(shingles) + min_words - 1
    while i < len(words):
        if not covered[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(words) and covered[j + 1]:
            j += 1
        run = j - i + 1
        score = min(1.0, 0.6 + 0.4 * run / max(total, 1))
        found.append(
            Finding(
                SYSTEM_PROMPT_LEAK,
                matches[i].start(),
                matches[j].end(),
                round(score, 4),
                "output.leak",
                f"{run} words copied from the system prompt",
            )
        )
        i = j + 1
    return found


class SchemaUnusable(ValueError):
    """The caller's schema cannot be applied (a $ref that does not resolve)."""


def parse_schema(schema_text: str) -> dict[str, Any]:
    """The schema, or ValueError with a reason fit for a client."""
    try:
        schema = json.loads(schema_text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(schema, dict):
        raise ValueError("a JSON schema must be an object")
    try:
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"not a valid JSON schema: {exc.message}") from None
    return schema


def json_schema(text: str, schema: dict[str, Any]) -> list[Finding]:
    body = text
    fenced = _FENCE.match(text)
    if fenced:
        body = fenced.group(1)
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        return [
            Finding(JSON_SCHEMA, 0, len(text), 1.0, "output.json_schema", f"not JSON: {exc.msg}")
        ]
    # The registry holds only the drafts' meta-schemas: a $ref is followed within the
    # caller's schema or to a meta-schema, never fetched (without a registry jsonschema
    # fetches remote refs: a caller could make the service request any URL, and wait on it).
    validator = jsonschema.validators.validator_for(schema)(schema, registry=SPECIFICATIONS)
    try:
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    except Unresolvable as exc:
        raise SchemaUnusable(
            f"$ref {exc.ref!r} does not resolve: only references within the schema are followed"
        ) from None
    found = []
    for error in errors[:10]:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        found.append(
            Finding(
                JSON_SCHEMA,
                0,
                len(text),
                1.0,
                "output.json_schema",
                f"schema violation at {where}: {_expected(error)}",
            )
        )
    return found


def _expected(error: jsonschema.ValidationError) -> str:
    """What the schema asked for, in the schema's own terms: the output's values stay
    out of the message (jsonschema's own messages quote them)."""
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        return "missing required " + ", ".join(json.dumps(name) for name in missing)
    wanted = json.dumps(error.validator_value)
    if len(wanted) > 60:
        wanted = wanted[:57] + "..."
    return f"{error.validator} {wanted} not met"
