"""Typed, consistent redaction: the same value gets the same placeholder in one request."""

from __future__ import annotations

from services.guardrails.findings import Action, Finding


class Placeholders:
    """Allocates <TYPE_n> per distinct (type, value); lives for one request or stream."""

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}

    def get(self, kind: str, value: str) -> str:
        key = (kind, value)
        placeholder = self._by_value.get(key)
        if placeholder is None:
            n = self._counts.get(kind, 0) + 1
            self._counts[kind] = n
            placeholder = f"<{kind}_{n}>"
            self._by_value[key] = placeholder
        return placeholder

    def mapping(self) -> dict[str, str]:
        """placeholder -> original value, for callers allowed to restore."""
        return {p: v for (_, v), p in self._by_value.items()}


def redact(text: str, findings: list[Finding], placeholders: Placeholders) -> str:
    """Replace the spans of REDACT findings. Overlapping spans merge into one
    placeholder typed after the first of them, so no part of either escapes."""
    spans = sorted(
        (f for f in findings if f.action == Action.REDACT), key=lambda f: (f.start, -f.end)
    )
    groups: list[tuple[int, int, list[Finding]]] = []
    for finding in spans:
        if groups and finding.start < groups[-1][1]:
            start, end, members = groups[-1]
            groups[-1] = (start, max(end, finding.end), [*members, finding])
        else:
            groups.append((finding.start, finding.end, [finding]))
    out: list[str] = []
    cursor = 0
    for start, end, members in groups:
        out.append(text[cursor:start])
        placeholder = placeholders.get(members[0].type, text[start:end])
        for member in members:
            member.placeholder = placeholder
        out.append(placeholder)
        cursor = end
    out.append(text[cursor:])
    return "".join(out)
