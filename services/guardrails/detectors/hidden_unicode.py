"""Invisible characters that smuggle instructions past a human reader.

Unicode tag characters (U+E0000-E007F) spell out ASCII invisibly; bidi
controls reorder what is displayed; zero-width characters split trigger
words. A zero-width joiner between two emoji (family, flags) is ordinary
text and is not reported.
"""

from __future__ import annotations

import re

from services.guardrails.findings import HIDDEN_UNICODE, Finding

DETECTOR = "unicode.hidden"

TAGS = re.compile("[\U000e0000-\U000e007f]+")
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]+")
ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\u180e\ufeff\u00ad]+")
_ANY = re.compile(
    "[\U000e0000-\U000e007f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b\u200c\u200d\u2060\u180e\ufeff\u00ad]"
)


def _is_emoji_join(text: str, start: int, end: int) -> bool:
    if text[start:end] != "\u200d" or start == 0 or end >= len(text):
        return False
    return ord(text[start - 1]) >= 0x2000 and ord(text[end]) >= 0x2000


def detect(text: str) -> list[Finding]:
    if not _ANY.search(text):
        return []
    found: list[Finding] = []
    for m in TAGS.finditer(text):
        found.append(Finding(HIDDEN_UNICODE, m.start(), m.end(), 1.0, DETECTOR, "tag characters"))
    for m in BIDI.finditer(text):
        found.append(Finding(HIDDEN_UNICODE, m.start(), m.end(), 0.8, DETECTOR, "bidi controls"))
    for m in ZERO_WIDTH.finditer(text):
        if m.start() == 0 and m.group() == "\ufeff":
            continue  # a byte-order mark at the start is harmless
        if _is_emoji_join(text, m.start(), m.end()):
            continue
        found.append(
            Finding(HIDDEN_UNICODE, m.start(), m.end(), 0.7, DETECTOR, "zero-width characters")
        )
    found.sort(key=lambda f: f.start)
    return found


def decode_tags(text: str) -> str:
    """The ASCII that tag characters spell, so the injection check can read it."""
    return "".join(chr(ord(c) - 0xE0000) for c in text if 0xE0020 <= ord(c) <= 0xE007E)
