"""Structured PII by pattern plus validation (Luhn, IBAN mod 97, SSN ranges, IP parsing).

Validation is what keeps precision up: a 16-digit order number that fails
Luhn is not a card, 999-12-3456 is not an SSN.

Every pattern runs on the original text (case-insensitive where needed), never
on a transformed copy: "İ".lower() is two code points, so positions found in a
lower-cased copy would drift from the text they are applied to.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable

from services.guardrails.findings import Finding

DETECTOR = "pii.pattern"


def _mark_ranges() -> str:
    """Combining marks (category M) of the BMP as a character-class body.

    `\\w` does not match them, yet they are part of words in Indic, Thai, Arabic
    and decomposed Latin text. All BMP marks lie in the three blocks scanned here.
    """
    ranges: list[str] = []
    for low, high in ((0x0300, 0x3100), (0xA600, 0xAC00), (0xFB00, 0xFE30)):
        start = -1
        for cp in range(low, high + 1):
            is_mark = cp < high and unicodedata.category(chr(cp))[0] == "M"
            if is_mark and start < 0:
                start = cp
            elif not is_mark and start >= 0:
                ranges.append(f"\\u{start:04x}-\\u{cp - 1:04x}")
                start = -1
    return "".join(ranges)


_MARK = f"[{_mark_ranges()}]"
# Scripts written without spaces between words: where such text meets an ASCII
# address, the script change is the address's boundary.
_UNSPACED = (
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\U00020000-\U0003ffff]"
)
_UNSPACED_RE = re.compile(_UNSPACED)
_LABEL_CHAR = rf"(?:[^\W_]|{_MARK})"  # a letter or digit of any script, or a mark

# Each pattern starts with a character class or a lookahead of one, so that the
# regex engine only tries positions that can start a match (3-30x faster on
# prose than a leading look-behind); boundaries are look-behinds after it.
# Internationalised domains (RFC 6531): labels of letters and digits of any
# script; the top-level label is letters (or punycode). An ASCII top-level label
# may be followed directly by Chinese/Japanese/Thai text.
EMAIL_DOMAIN = re.compile(
    rf"@(?:{_LABEL_CHAR}(?:(?:{_LABEL_CHAR}|-){{0,61}}{_LABEL_CHAR})?\.)+"
    rf"(?:[A-Za-z]{{2,24}}(?![A-Za-z0-9]|(?!{_UNSPACED})[^\W_]|{_MARK})"
    rf"|xn--[A-Za-z0-9-]{{1,59}}(?![\w-]|{_MARK})"
    rf"|(?:[^\W\d_]|{_MARK}){{2,24}}(?!\w|{_MARK}))"
)
# Local-part characters besides letters, digits and marks of any script: the
# usual atext punctuation, the apostrophe (o'neil) and its typographic form.
_LOCAL_PUNCT = frozenset("._%+-'\u2019")
# Leading punctuation of a run is quoting or sentence punctuation, not the address.
_LOCAL_LEADING = frozenset(".%+-'\u2019")
CREDIT_CARD = re.compile(r"\d(?<![\d-]\d)(?<!\d\.\d)(?:[ .-]?\d){12,18}(?![\d-]|\.\d)")
# With dots, only the usual groupings (4-4-4-4[-1..3], Amex 4-6-5, Diners 4-6-4):
# a dotted digit run is otherwise a decimal number or a version.
_DOTTED_CARD = re.compile(r"\d{4}(?:\.\d{4}){3}(?:\.\d{1,3})?|\d{4}\.\d{6}\.\d{4,5}")
IBAN = re.compile(
    r"(?=\d\d)(?<=[A-Za-z]{2})(?<![A-Za-z0-9][A-Za-z]{2})\d{2}"
    r"(?:[A-Za-z0-9]{11,30}|(?: [A-Za-z0-9]{4}){2,7}(?: [A-Za-z0-9]{1,3})?)\b"
)
SSN = re.compile(r"(\d{3})(?<![\d-]\d{3})([- ]?)(\d{2})\2(\d{4})(?![\d-])")
SSN_CONTEXT = re.compile(r"\b(?:ssn|social security|ss#|ss no)\b", re.IGNORECASE)
# May end a sentence ("... from 10.0.0.1."), never a longer dotted number.
IPV4 = re.compile(r"\d(?<![\d.]\d)\d{0,2}\.(?:\d{1,3}\.){2}\d{1,3}(?!\d|\.\d)")
IPV6 = re.compile(
    r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}(?::|(?::[0-9A-Fa-f]{1,4}){1,6}|[0-9A-Fa-f]{1,4})(?![\w:])"
    r"|(?<![\w:])::(?:[0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{1,4}(?![\w:])"
)
# A dotted quad right after a version word or a "v" is a version, not an address;
# so is one with a pre-release suffix.
_VERSION_BEFORE = re.compile(
    r"(?:\b(?:versions?|ver|releases?|rel|builds?|revision|rev|patch|firmware|fw)\.?"
    r"\s*[:#=]?\s*|\bv\.?\s?)\Z",
    re.IGNORECASE,
)
_VERSION_AFTER = re.compile(r"[-+~]?(?:alpha|beta|rc|dev|pre|snapshot)(?![^\W\d_])", re.IGNORECASE)
# International prefix and country code may be followed by an area code in
# parentheses and/or a single-digit group (+33 1 23 45 67 89, +44 7...). Never
# part of a larger token: not glued to a letter, digit, hyphen or "digit." on the
# left, nor to a letter, digit, "-digit" or ".digit" on the right (a label such
# as "555-123-4567-Fax" may follow).
PHONE = re.compile(
    r"(?=[+(\d])(?<![\w+-])(?<!\d\.)"
    r"(?:(?:\+|00)(?:\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?(?:\d[ .-]){0,2}"
    r"|(?:\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?)"
    r"\d{2,4}(?:[ .-]?\d{2,4}){1,4}(?:[ ]?(?:x|ext\.?)[ ]?\d{1,6})?(?!\w|[-.]\d)"
)
# Words that make a number a phone number: in the 30 characters before it, or a
# label right after it ("964 046 140 fax", "555-123-4567-Office").
_PHONE_CONTEXT = re.compile(
    r"\b(?:tel|tél|fax|call|ring|dial|sms|cell|handy|contact|answering|(?:text|reach) (?:me|us)"
    r"|(?:my|our|your) number)\b"
    r"|\b(?:phone|telephone|téléphone|telefon|telefono|teléfono|telefone|mobil|whatsapp|hotline"
    r"|messag)"
    r"|\b(?:desk|office|home|work|direct|landline)\s*:"
    r"|[\u260e\U0001f4de\U0001f4f1]",
    re.IGNORECASE,
)
_PHONE_LABEL_AFTER = re.compile(
    r"[ \t]*[-,:(]?[ \t]*(?:office|fax|mobile|cell|home|work|desk|tel|phone|direct|landline)\b",
    re.IGNORECASE,
)
# A label right before the number that makes it a reference, not a phone number:
# the label and a word for number ("order no.", "booking #"); a bare "Booking:" may
# well precede the phone number to call. Not "account/customer number": those are
# personal and stay redacted as phones.
_REFERENCE_BEFORE = re.compile(
    r"""\b(?:
        (?:order|invoice|ticket|tracking|reference|ref|booking|confirmation|transaction|
           receipt|shipment|parcel|serial)(?:[ -]?(?:number|no|nr|num|id|code)\b|\s*\#)
      | (?:case|bestell|rechnungs|auftrags)[ -]?(?:number|no|nr|num|id|nummer)\b
      )\.?\s*(?:is|was|[:#=])?\s*\Z""",
    re.IGNORECASE | re.VERBOSE,
)
_ISBN_BEFORE = re.compile(r"\bISBN(?:-?1[03])?\s*:?\s*[\dXx -]*\Z", re.IGNORECASE)
# Thousands grouping: a 1-3 digit head (not 0) and groups of exactly three digits
# after one consistent separator.
_GROUPED_AMOUNT = re.compile(r"[1-9]\d{0,2}([ .,])\d{3}(?:\1\d{3})+")
_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_YEAR = r"(?:19\d\d|20\d\d|2100)"  # a year outside 1900-2100 is not a date
_TIME = r"(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?(?:\s?[ap]\.?m\.?)?"
_DATE_END = r"(?![\w/]|[-.:]\d)"
NUMERIC_DATE_TIME = re.compile(
    rf"""(?ix)(?=\d)(?<![\w/.-])(?:
        (?:\d{{4}}-\d{{1,2}}-\d{{1,2}}(?:[ T]{_TIME}(?:Z|[+-]\d\d:?\d\d)?)?)
      | (?:\d{{1,2}}[/.-]\d{{1,2}}[/.-](?:\d{{4}}|\d{{2}})(?:[ ,]+{_TIME})?)
      | (?:\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTHS}\.?(?:,?\s+{_YEAR})?)
      | (?:{_TIME}(?=\W|$))
    ){_DATE_END}"""
)
# Dates that start with a word: found by a cheap case-insensitive scan of the
# text for the first three letters of month and day names (an ASCII class, then
# a look-behind to confirm), then matched in full at each hit.
_NAME_START = re.compile(
    r"[ADFJMNOSTWadfjmnostw][A-Ua-u][B-Yb-y]"
    r"(?<=(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|mon|tue|wed|thu|fri|sat|sun))"
)
WORD_DATE_TIME = re.compile(
    rf"""(?ix)(?<![\w/.-])(?:
        (?:{_MONTHS}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+{_YEAR})?)
      | (?:{_MONTHS}\s+{_YEAR})
      | (?:(?:mon|tues|wednes|thurs|fri|satur|sun)day)
    ){_DATE_END}"""
)
_NUMERIC_DATE = re.compile(r"(\d{1,4})[/.-](\d{1,2})[/.-](\d{1,4})")

_SSN_SHAPE = re.compile(r"\d{3}-\d{2}-\d{4}")
_BIN_PREFIX = re.compile(r"^(?:3[47]|3[068]|4|5[1-5]|2[2-7]|6(?:011|5|4[4-9]|22)|35)")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(value: str) -> bool:
    compact = value.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def ssn_ok(area: str, group: str, serial: str) -> bool:
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    # Well-known fake numbers used in examples.
    return f"{area}{group}{serial}" not in ("123456789", "078051120", "219099999")


def isbn_ok(value: str) -> bool:
    """A valid ISBN-13 (978/979 prefix) or ISBN-10, separators ignored."""
    compact = re.sub(r"[ -]", "", value).upper()
    if len(compact) == 13 and compact.isdigit() and compact[:3] in ("978", "979"):
        return sum(int(ch) * (3 if i % 2 else 1) for i, ch in enumerate(compact)) % 10 == 0
    if len(compact) == 10 and compact[:9].isdigit() and (compact[9].isdigit() or compact[9] == "X"):
        check = 10 if compact[9] == "X" else int(compact[9])
        return (sum(int(ch) * (10 - i) for i, ch in enumerate(compact[:9])) + check) % 11 == 0
    return False


def _overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(s < end and start < e for s, e in spans)


def detect(text: str) -> list[Finding]:
    """All structured PII in text. Earlier kinds win overlaps with later ones."""
    found: list[Finding] = []
    taken: list[tuple[int, int]] = []  # findings, and look-alikes later kinds must skip

    def add(kind: str, start: int, end: int, score: float) -> None:
        found.append(Finding(kind, start, end, score, DETECTOR, f"{kind} pattern"))
        taken.append((start, end))

    if "@" in text:
        for m in EMAIL_DOMAIN.finditer(text):
            start = _email_local_start(text, m.start())
            if start is not None:
                add("EMAIL_ADDRESS", start, m.end(), 0.95)
    if not _DIGIT.search(text):
        _word_dates(text, taken, add)
        return found
    for m in IBAN.finditer(text):
        start = m.start() - 2  # the country code, matched by the look-behind
        if iban_ok(text[start : m.end()]) and not _overlaps(taken, start, m.end()):
            add("IBAN_CODE", start, m.end(), 0.95)
    for m in CREDIT_CARD.finditer(text):
        value = m.group()
        digits = re.sub(r"\D", "", value)
        if (
            13 <= len(digits) <= 19
            and ("." not in value or _DOTTED_CARD.fullmatch(value))
            and _BIN_PREFIX.match(digits)
            and luhn_ok(digits)
            and not _overlaps(taken, m.start(), m.end())
        ):
            add("CREDIT_CARD", m.start(), m.end(), 0.95)
    for m in SSN.finditer(text):
        if _overlaps(taken, m.start(), m.end()) or not ssn_ok(m.group(1), m.group(3), m.group(4)):
            continue
        if m.group(2):
            add("US_SSN", m.start(), m.end(), 0.85)
        elif SSN_CONTEXT.search(text, max(0, m.start() - 40), m.start()):
            add("US_SSN", m.start(), m.end(), 0.7)
    for m in IPV4.finditer(text):
        if _overlaps(taken, m.start(), m.end()):
            continue
        if _is_version(text, m.start(), m.end()):
            taken.append(m.span())  # neither a date nor a phone number either
        elif _valid_ip(m.group()):
            add("IP_ADDRESS", m.start(), m.end(), 0.9)
    if text.count(":") >= 2:
        for m in IPV6.finditer(text):
            if not _overlaps(taken, m.start(), m.end()) and _valid_ip(m.group()):
                add("IP_ADDRESS", m.start(), m.end(), 0.9)
    for m in NUMERIC_DATE_TIME.finditer(text):
        if _overlaps(taken, m.start(), m.end()):
            continue
        if not _year_ok(m.group()):
            taken.append(m.span())  # 2.14.1023: a version, not a date nor a phone number
        elif _plausible_date(m.group()):
            add("DATE_TIME", m.start(), m.end(), 0.8)
    _word_dates(text, taken, add)
    for m in PHONE.finditer(text):
        start, end = m.start(), m.end()
        if _overlaps(taken, start, end):
            continue
        value = m.group()
        n_digits = sum(ch.isdigit() for ch in value)
        main = value.split("x")[0].split("ext")[0]
        main_digits = sum(ch.isdigit() for ch in main)
        separated = any(ch in " .-()" for ch in main.strip()) or value.startswith("+")
        if (
            not 7 <= main_digits <= 15
            or n_digits > 21
            or not separated
            or len(set(main) - set(" .-()+")) == 1
        ):
            continue
        if _SSN_SHAPE.fullmatch(value):
            continue  # 3-2-4 digits is an SSN's shape (an invalid one), not a phone's
        if _not_a_phone(text, start, value, main.rstrip(), main_digits):
            continue
        add("PHONE_NUMBER", start, end, 0.75)
    return found


def _email_local_start(text: str, at: int) -> int | None:
    """Where the local part of the address whose "@" is at text[at] starts, or None.

    The local part is the whole run of local-part characters (letters, digits and
    marks of any script, RFC 6531; ``._%+-'``) before the "@", never a tail of it;
    the run ends where text in a script without spaces meets ASCII ("请联系jane@").
    Leading quotes, dots and dashes are trimmed. More than 64 characters: not an
    address.
    """
    i = at
    while i > 0 and _local_char(text[i - 1]):
        if i < at and _script_break(text[i - 1], text[i]):
            break
        i -= 1
        if at - i > 80:
            return None  # a run longer than any local part (a blob, a hash)
    while i < at and text[i] in _LOCAL_LEADING:
        i += 1
    if i == at or at - i > 64:
        return None
    return i


def _local_char(ch: str) -> bool:
    if ch.isalnum() or ch in _LOCAL_PUNCT:
        return True
    return ch > "\x7f" and unicodedata.category(ch)[0] == "M"  # a combining mark


def _script_break(left: str, right: str) -> bool:
    """True between a letter of a script written without spaces and ASCII."""
    if left.isascii() == right.isascii():
        return False
    other = right if left.isascii() else left
    return _UNSPACED_RE.match(other) is not None


def _is_version(text: str, start: int, end: int) -> bool:
    return (
        _VERSION_BEFORE.search(text, max(0, start - 20), start) is not None
        or _VERSION_AFTER.match(text, end) is not None
    )


def _not_a_phone(text: str, start: int, value: str, main: str, digits: int) -> bool:
    """Look-alikes of a phone number: ISBNs, amounts, dotted numbers, references."""
    window = max(0, start - 30)
    # Not ISBN-10 by checksum alone: one ten-digit phone number in 11 passes it. A
    # hyphenated ISBN-10 ends in a one-character group, which no phone match does.
    compact = re.sub(r"\D", "", main)
    if (len(compact) == 13 and isbn_ok(compact)) or _ISBN_BEFORE.search(text, window, start):
        return True
    if value.startswith("+"):
        return False  # an international number is a phone, whatever stands before it
    if _REFERENCE_BEFORE.search(text, max(0, start - 40), start):
        return True
    if _PHONE_CONTEXT.search(text, window, start) or _PHONE_LABEL_AFTER.match(
        text, start + len(value)
    ):
        return False
    if _GROUPED_AMOUNT.fullmatch(main):
        return True  # 1 250 000, 12.500.000: an amount
    # Three or more groups separated by dots only: a version, an amount or a date
    # unless it has the length of a whole phone number (555.123.4567, 01.23.45.67.89).
    return set(main) - set("0123456789") == {"."} and main.count(".") >= 2 and digits < 9


def _valid_ip(value: str) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    # Version strings like 0.9.1.2 are common in prose.
    return not (address.version == 4 and value.startswith("0."))


_DIGIT = re.compile(r"\d")


def _word_dates(
    text: str, taken: list[tuple[int, int]], add: Callable[[str, int, int, float], None]
) -> None:
    position = 0
    for hit in _NAME_START.finditer(text):
        start = hit.start()
        if start < position:
            continue
        m = WORD_DATE_TIME.match(text, start)
        if m and not _overlaps(taken, m.start(), m.end()):
            add("DATE_TIME", m.start(), m.end(), 0.8)
            position = m.end()


def _year_ok(value: str) -> bool:
    """A four-digit year in a numeric date lies in 1900-2100."""
    m = _NUMERIC_DATE.match(value)
    if not m:
        return True
    year = m.group(1) if len(m.group(1)) == 4 else m.group(3)
    return len(year) != 4 or 1900 <= int(year) <= 2100


def _plausible_date(value: str) -> bool:
    m = _NUMERIC_DATE.match(value)
    if not m:
        return True
    a, b, c = (int(g) for g in m.groups())
    if len(m.group(1)) == 4:  # y-m-d
        return 1 <= b <= 12 and 1 <= c <= 31
    # m/d/y or d/m/y
    return 1 <= min(a, b) <= 12 and 1 <= max(a, b) <= 31
