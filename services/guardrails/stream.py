"""RedactStream: redact model output chunk by chunk without letting a split value through.

What is held back after each chunk, and why:
- the trailing partial word (no whitespace after it yet): it can still grow
  into an e-mail, a card number or a key;
- the trailing run of "joinable" words that could still be the start of a
  longer value: words with digits or '@' (phone numbers and cards written in
  groups, "221B Baker ..."), groups of an IBAN, and Capitalised words (a first
  name whose last name has not arrived), at most MAX_RUN_WORDS words;
- any finding that reaches into the held-back part;
- a name or place the tagger found with fewer than TAGGER_RIGHT_WORDS words
  after it: the tagger reads the words on both sides, and "lives in the" alone
  can read as a place that "lives in the city of Quorvik" does not.
Everything before that is scanned together with CONTEXT characters of text
already released (for look-behinds and context words), redacted and sent at
once. Half-closing the request stream flushes the rest. If more than
max_hold characters pile up (an endless digit run), they are released
redacted as they stand. Finding offsets are code-point offsets into the whole
original output.
"""

from __future__ import annotations

import re
import time

from services.guardrails import metrics
from services.guardrails.detectors import hidden_unicode, ner
from services.guardrails.findings import Action, Finding
from services.guardrails.guard import Guard, decide
from services.guardrails.policy import Policy
from services.guardrails.redaction import Placeholders

CONTEXT = 64
MAX_RUN_WORDS = 10  # an IBAN written in groups has up to 9
TAGGER_RIGHT_WORDS = 3
_WORD = re.compile(r"\S+")
_WORD_BEFORE = re.compile(r"(\S+)(\s*)$")


class StreamBlocked(Exception):
    """A finding whose action is BLOCK appeared; the stream must end."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.type)
        self.finding = finding


def _joinable(word: str) -> bool:
    stripped = word.strip(",;:()[]\"'-")  # "-----BEGIN" too
    if not stripped:
        return word in ("(", "+", "-")
    return (
        any(ch.isdigit() for ch in stripped)
        or "@" in stripped
        or stripped[0].isupper()
        or stripped.lower() in ("x", "ext", "ext.", "apt", "apt.", "suite", "no.")
        or bool(re.fullmatch(r"[+()\-./]+", stripped))
    )


def hold_from(text: str, floor: int) -> int:
    """Index from which text must be held back; text[floor:] is unreleased."""
    cut = len(text)
    while cut > floor and not text[cut - 1].isspace():
        cut -= 1  # the trailing partial word
    partial = text[cut:]
    if partial and not _joinable(partial):
        return cut  # a plain word: nothing before it can still grow
    words = 0
    while cut > floor and words < MAX_RUN_WORDS:
        m = _WORD_BEFORE.search(text, floor, cut)
        if m is None or not _joinable(m.group(1)):
            break
        cut = m.start(1)
        words += 1
    return cut


def _undecided(finding: Finding, text: str) -> bool:
    """A finding that more text could still change: it reaches the end, or the
    tagger found it without the words that follow it."""
    if finding.end == len(text):
        return True
    if finding.detector != ner.DETECTOR:
        return False
    after = _WORD.finditer(text, finding.end)
    return sum(1 for _ in zip(range(TAGGER_RIGHT_WORDS), after, strict=False)) < TAGGER_RIGHT_WORDS


class StreamRedactor:
    def __init__(self, guard: Guard, policy: Policy, *, max_hold: int = 4096) -> None:
        self.guard = guard
        self.policy = policy
        self.max_hold = max_hold
        self.placeholders = Placeholders()
        self.text = ""  # context (already released) + pending
        self.base = 0  # absolute offset of self.text[0]
        self.pending = 0  # index in self.text where unreleased text starts

    def push(self, chunk: str) -> tuple[str, list[Finding]]:
        self.text += chunk
        return self._release(final=False)

    def flush(self) -> tuple[str, list[Finding]]:
        return self._release(final=True)

    @property
    def held(self) -> int:
        return len(self.text) - self.pending

    def _release(self, *, final: bool) -> tuple[str, list[Finding]]:
        text, start = self.text, self.pending
        if start >= len(text):
            return "", []
        started = time.perf_counter()
        found = self.guard.sensitive(text, self.policy)
        if self.policy.runs("unicode"):
            found += hidden_unicode.detect(text)
        found = [f for f in found if f.end > start]
        forced = not final and len(text) - start > self.max_hold
        cut = len(text) if final or forced else hold_from(text, start)
        for finding in found:
            if finding.start < cut < finding.end or (
                not (final or forced) and _undecided(finding, text)
            ):
                cut = min(cut, max(start, finding.start))
        released = [f for f in found if f.end <= cut]
        for finding in released:
            # A value begun in released context (should not happen): redact the rest.
            finding.start = max(finding.start, start)
        piece = text[start:cut]
        local = [f.shifted(-start) for f in released]
        report = decide(piece, local, self.policy, self.placeholders)
        for finding in report.findings:
            metrics.FINDINGS.labels("stream", finding.type, finding.action.name).inc()
            if finding.action == Action.BLOCK:
                raise StreamBlocked(finding.shifted(self.base + start))
        keep_from = max(0, cut - CONTEXT)
        self.base += keep_from
        self.text = text[keep_from:]
        self.pending = cut - keep_from
        metrics.STREAM_HELD_CHARS.observe(self.held)
        metrics.CHECK_SECONDS.labels("stream").observe(time.perf_counter() - started)
        return report.redacted_text, [
            f.shifted(self.base - keep_from + start) for f in report.findings
        ]
