"""Invisible characters that smuggle instructions past a human reader.

Unicode tag characters (U+E0000-E007F) spell out ASCII invisibly; bidi
controls reorder what is displayed; zero-width characters split trigger
words. Some invisible characters are ordinary text where they stand and are
not reported (``ordinary``; normalize.py asks the same before it names the
``invisible`` disguise):

- a leading byte-order mark;
- one ZWJ (U+200D) inside an emoji ZWJ sequence: after a pictograph (optionally
  followed by VS16 U+FE0F or a skin-tone modifier U+1F3FB-1F3FF) and before a
  pictograph. Pictographs here are Extended_Pictographic kept to the blocks ZWJ
  sequences use: U+1F000-1FAFF without the enclosed alphanumerics U+1F100-1F1FF
  (boxed letters, regional indicators) and the skin-tone modifiers, U+2300-23FF,
  U+2600-27BF, U+2B00-2BFF, and arrows U+2190-21FF only when VS16 follows them;
- one ZWNJ (U+200C) or ZWJ between two letters or marks of the same script where
  that script's orthography uses joiners: Arabic, Syriac, N'Ko, and the Indic
  scripts Devanagari to Malayalam plus Sinhala (the script is the first word of the
  character's Unicode name), e.g. Persian "mi<ZWNJ>khaham", Devanagari "k<virama><ZWJ>ssa";
- one LRM, RLM or ALM (U+200E, U+200F, U+061C) next to a right-to-left letter
  (bidi class R or AL: Hebrew, Arabic, ...);
- the tag characters of the three RGI subdivision flags (England, Scotland, Wales:
  U+1F3F4, tags "gbeng", "gbsct" or "gbwls", cancel tag U+E007F). Other subdivision
  tag sequences render as a plain black flag with invisible letters, so a row of
  them could still spell a hidden instruction: they are reported and decoded.

Bidi overrides and isolates (U+202A-202E, U+2066-2069: Trojan source) are
always reported, as is any run of two or more invisible characters.
"""

from __future__ import annotations

import re
import unicodedata

from services.guardrails.findings import HIDDEN_UNICODE, Finding

DETECTOR = "unicode.hidden"

TAGS = re.compile("[\U000e0000-\U000e007f]+")
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]+")
ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\u180e\ufeff\u00ad]+")
_ANY = re.compile(
    "[\U000e0000-\U000e007f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b\u200c\u200d\u2060\u180e\ufeff\u00ad]"
)

ZWNJ, ZWJ, VS16 = "\u200c", "\u200d", "\ufe0f"
BLACK_FLAG = "\U0001f3f4"
CANCEL_TAG = "\U000e007f"
# Scripts whose orthography puts ZWNJ/ZWJ between letters (first word of the name).
JOINING_SCRIPTS = frozenset(
    "ARABIC SYRIAC NKO DEVANAGARI BENGALI GURMUKHI GUJARATI ORIYA TAMIL TELUGU KANNADA "
    "MALAYALAM SINHALA".split()
)
_DIRECTION_MARKS = frozenset("\u200e\u200f\u061c")


def _tags(ascii_text: str) -> str:
    return "".join(chr(0xE0000 + ord(c)) for c in ascii_text)


# The tag characters of a flag (what follows U+1F3F4), as TAGS finds them: one run.
FLAG_TAGS = frozenset(_tags(region) + CANCEL_TAG for region in ("gbeng", "gbsct", "gbwls"))
_FLAG = re.compile(BLACK_FLAG + "(?:" + "|".join(sorted(FLAG_TAGS)) + ")")


def _pictograph(ch: str, following: str) -> bool:
    cp = ord(ch)
    if 0x1F000 <= cp <= 0x1FAFF:
        return not (0x1F100 <= cp <= 0x1F1FF or 0x1F3FB <= cp <= 0x1F3FF)
    if 0x2300 <= cp <= 0x23FF or 0x2600 <= cp <= 0x27BF or 0x2B00 <= cp <= 0x2BFF:
        return True
    return 0x2190 <= cp <= 0x21FF and following == VS16


def _emoji_join(text: str, start: int) -> bool:
    """text[start] is a ZWJ between the parts of an emoji ZWJ sequence."""
    before = start - 1
    if before >= 0 and (text[before] == VS16 or 0x1F3FB <= ord(text[before]) <= 0x1F3FF):
        before -= 1  # the pictograph's presentation selector or skin tone
    after = start + 1
    if before < 0 or after >= len(text):
        return False
    return _pictograph(text[before], text[before + 1]) and _pictograph(
        text[after], text[after + 1 : after + 2]
    )


def _joining_script(ch: str) -> str | None:
    if not ch or unicodedata.category(ch)[0] not in "LM":
        return None
    script = unicodedata.name(ch, "").split(" ", 1)[0]
    return script if script in JOINING_SCRIPTS else None


def _rtl_letter(ch: str) -> bool:
    return bool(ch) and ch.isalpha() and unicodedata.bidirectional(ch) in ("R", "AL")


def ordinary(text: str, start: int, end: int) -> bool:
    """Whether the invisible characters text[start:end] are ordinary text where they
    stand (see the module docstring), not something hidden."""
    run = text[start:end]
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    if run == "\ufeff":
        return start == 0
    if run == ZWJ and _emoji_join(text, start):
        return True
    if run in (ZWNJ, ZWJ):
        script = _joining_script(before)
        return script is not None and script == _joining_script(after)
    if run in _DIRECTION_MARKS:
        return _rtl_letter(before) or _rtl_letter(after)
    return before == BLACK_FLAG and run in FLAG_TAGS


def detect(text: str) -> list[Finding]:
    if not _ANY.search(text):
        return []
    found: list[Finding] = []
    for pattern, score, what in (
        (TAGS, 1.0, "tag characters"),
        (BIDI, 0.8, "bidi controls"),
        (ZERO_WIDTH, 0.7, "zero-width characters"),
    ):
        for m in pattern.finditer(text):
            if not ordinary(text, m.start(), m.end()):
                found.append(Finding(HIDDEN_UNICODE, m.start(), m.end(), score, DETECTOR, what))
    found.sort(key=lambda f: f.start)
    return found


def decode_tags(text: str) -> str:
    """The ASCII that tag characters spell, so the injection check can read it
    (the letters of an England, Scotland or Wales flag are no message)."""
    if BLACK_FLAG in text:
        text = _FLAG.sub(BLACK_FLAG, text)
    return "".join(chr(ord(c) - 0xE0000) for c in text if 0xE0020 <= ord(c) <= 0xE007E)
