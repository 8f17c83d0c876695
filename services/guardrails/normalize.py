"""Undo the disguises attackers put on instructions before they are classified.

NFKC folds full-width and styled letters; a table folds Cyrillic and Greek
look-alikes inside words that also hold a Latin letter (real Russian or Greek
is left as it is); leetspeak is folded inside words that mix letters and digits;
characters separated by backslashes or spaces are joined; base64 and hex
runs that decode to readable text, and text spelled in tag characters, are
appended so the classifier sees the hidden payload. Invisible characters are
dropped, even where they are ordinary text (a joiner inside an emoji sequence or
a Persian word, an RLM in Arabic: hidden_unicode.ordinary), since they change
no word the classifier reads; only those that are not ordinary name the
``invisible`` disguise.
"""

# ruff: noqa: RUF001 (look-alike letters are the point of the table below)
from __future__ import annotations

import base64
import binascii
import functools
import html
import re
import unicodedata
import urllib.parse

from services.guardrails.detectors.hidden_unicode import decode_tags, ordinary

HOMOGLYPHS = str.maketrans(
    {
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i",
        "ј": "j", "ѕ": "s", "һ": "h", "ԁ": "d", "ɡ": "g", "к": "k", "м": "m", "т": "t",
        "в": "b", "н": "h", "л": "l", "ο": "o", "α": "a", "ε": "e", "ι": "i", "κ": "k",
        "ν": "v", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ѵ": "v", "ӏ": "l",
        "€": "e", "£": "l", "¡": "i", "ß": "b", "ø": "o", "ð": "d",
        # Small capitals, which NFKC leaves alone ("ignore" spelled in them).
        "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ꜰ": "f", "ɢ": "g", "ʜ": "h",
        "ɪ": "i", "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p",
        "ǫ": "q", "ʀ": "r", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y",
        "ᴢ": "z",
    }
)  # fmt: skip
LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
     "@": "a", "$": "s", "|": "l", "!": "i", "+": "t", "6": "g"}
)  # fmt: skip
_INVISIBLE = re.compile(
    "[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u00ad\U000e0000-\U000e007f]"
)
_INVISIBLE_RUN = re.compile(_INVISIBLE.pattern + "+")
_LEET_WORD = re.compile(r"(?<![a-z0-9@$|!+'])(?:[a-z']+[0-9@$|!+]|[0-9@$|!+]+[a-z])[a-z0-9@$|!+']*")
_SPACED = re.compile(r"(?:(?<=\s)|^)(?:\w[\\ .*_-]){3,}\w\b")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[ :]?){8,}(?![0-9A-Fa-f])")
# str.translate with a dict costs a dict look-up per character: run it only when needed.
_LOOKALIKES = "".join(chr(c) for c in HOMOGLYPHS)
_HOMOGLYPH_CHARS = re.compile("[" + re.escape(_LOOKALIKES) + "]")
_WITH_LATIN = re.compile(r"\S*[a-z]\S*")
_TAGS = re.compile("[\U000e0020-\U000e007e]")
_URL_ESCAPES = re.compile(r"(?:%[0-9A-Fa-f]{2}){4,}")
_BACKSLASHED = re.compile(r"\\(?=\S)")
# Traces of a disguise in the raw text: folding erases them, so a finding names the
# disguises that were undone.
_SPLIT = re.compile(r"(?:\\\S){4,}|(?:(?<=\s)|^)(?:\w[ .*_-]){4,}\w\b")
_MIXED_SCRIPT = re.compile(f"[A-Za-z][{re.escape(_LOOKALIKES)}]|[{re.escape(_LOOKALIKES)}][A-Za-z]")
_LEET_INSIDE = re.compile(r"[a-z][013-9@$!]+[a-z]", re.IGNORECASE)
# Not leetspeak though letters and digits mix: e-mail addresses, URLs, and hex ids,
# hashes and UUID parts. "2" ("b2b", "e2e"), "|" and "+" (code) are not counted either.
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+|\S*(?:://|www\.)\S*", re.IGNORECASE)
_PART = re.compile(r"[^\s\-_/.:,;()\[\]{}<>\"'=]+")
_HEX_ID = re.compile(r"[0-9a-f]+", re.IGNORECASE)
_TOKEN = re.compile(r"\S+")
# Full-width forms, mathematical alphanumerics, circled, squared and parenthesised letters.
_STYLED = re.compile("[\uff01-\uff5e\U0001d400-\U0001d7ff\u2460-\u24ff\U0001f130-\U0001f189]")


def _readable(raw: bytes) -> str | None:
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not decoded:
        return None
    printable = sum(ch.isprintable() or ch.isspace() for ch in decoded)
    letters = sum(ch.isalpha() for ch in decoded)
    if printable / len(decoded) < 0.95 or letters / len(decoded) < 0.5:
        return None
    return decoded


# Cached for the last few texts: a flagged text is decoded again to name its disguises.
@functools.lru_cache(maxsize=4)
def decoded_payloads(text: str) -> tuple[str, ...]:
    """Readable text hidden in base64, hex, HTML entities, URL escapes or tag characters."""
    out: list[str] = []
    if "&#" in text or "&x" in text:
        unescaped = html.unescape(text)
        if unescaped != text:
            out.append(unescaped)
    if _URL_ESCAPES.search(text):
        out.append(urllib.parse.unquote(text))
    if _TAGS.search(text):
        spelled = decode_tags(text)  # not the letters of an England, Scotland or Wales flag
        if spelled:
            out.append(spelled)
    for m in _BASE64.finditer(text):
        token = m.group()
        if token.isalpha() and (token.islower() or token.isupper()):
            continue  # a long word, not base64
        try:
            raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        readable = _readable(raw)
        if readable:
            out.append(readable)
    for m in _HEX.finditer(text):
        try:
            raw = bytes.fromhex(re.sub(r"[ :]", "", m.group()))
        except ValueError:
            continue
        readable = _readable(raw)
        if readable:
            out.append(readable)
    return tuple(out)


def fold(text: str) -> str:
    """Lower-case text with look-alikes, leetspeak and spacing tricks undone."""
    text = _INVISIBLE.sub("", text)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    text = text.lower()
    if not text.isascii() and _HOMOGLYPH_CHARS.search(text):
        # Only runs that also hold a Latin letter are disguised English: real
        # Russian or Greek words are left alone, not garbled into Latin.
        text = _WITH_LATIN.sub(lambda m: m.group().translate(HOMOGLYPHS), text)
    if "\\" in text:
        text = _BACKSLASHED.sub("", text)
    text = _LEET_WORD.sub(lambda m: m.group().translate(LEET), text)
    return _SPACED.sub(lambda m: re.sub(r"[\\ .*_-]", "", m.group()), text)


def normalize(text: str) -> str:
    """What the injection classifier reads: the folded text plus its decoded payloads."""
    folded = fold(text)
    payloads = decoded_payloads(text)
    if payloads:
        folded += "\n" + "\n".join(fold(p) for p in payloads)
    return folded


def disguises(text: str) -> list[str]:
    """The disguises that folding and decoding undo in this text. Only a finding's
    message names them, so they are looked for only once a text is flagged."""
    found = ["payload"] if decoded_payloads(text) else []
    if _SPLIT.search(text):
        found.append("split")
    if _has_leet(text):
        found.append("leet")
    if not text.isascii():
        if any(not ordinary(text, *m.span()) for m in _INVISIBLE_RUN.finditer(text)):
            found.append("invisible")
        if _MIXED_SCRIPT.search(text):
            found.append("homoglyph")
        if _STYLED.search(text):
            found.append("styled")
    return found


def _has_leet(text: str) -> bool:
    """Letters around leet characters inside a word that is no address, id or hash."""
    for match in _LEET_INSIDE.finditer(text):
        start = match.start()
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        token = _TOKEN.match(text, start)
        if token is None or _ADDRESS.search(token.group()):
            continue
        parts = _PART.findall(token.group())
        if any(_LEET_INSIDE.search(part) and not _HEX_ID.fullmatch(part) for part in parts):
            return True
    return False
