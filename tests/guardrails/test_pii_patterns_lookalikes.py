"""PII patterns: code-point offsets after "İ" and emoji, internationalised e-mail,
dotted cards, international phone formats, and look-alikes that are not PII
(versions, amounts, ISBNs, references)."""

from __future__ import annotations

import unicodedata

import pytest

from services.guardrails.detectors import pii_patterns
from services.guardrails.guard import decide
from services.guardrails.policy import Policy
from services.guardrails.redaction import Placeholders

# Text before a value that is longer once lower-cased ("İ") or outside the BMP.
PREFIXES = ["", "İ ", "😀 İstanbul İİ ", "İzmir 👩‍💻 "]


def found(text: str) -> list[tuple[str, str]]:
    return [(f.type, text[f.start : f.end]) for f in pii_patterns.detect(text)]


def redacted(text: str) -> str:
    return decide(text, pii_patterns.detect(text), Policy(), Placeholders()).redacted_text


def assert_whole(text: str, kind: str, value: str) -> None:
    """One finding of kind whose code-point span is exactly value's place in text."""
    start = text.index(value)
    spans = [(f.start, f.end) for f in pii_patterns.detect(text) if f.type == kind]
    assert spans == [(start, start + len(value))], (text, found(text))


# -- 1. offsets: no lower-cased copy ----------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Meeting in İzmir on March 5, 2024 with the team", "March 5, 2024"),
        ("İstanbul toplant\u0131s\u0131: March 5, 2024 at 10:30", "March 5, 2024"),
        ("İİİ see you on Friday", "Friday"),
        ("İ DECEMBER 2023 report", "DECEMBER 2023"),
        ("İ on 5th of March, 2021", "5th of March, 2021"),
    ],
)
def test_word_dates_after_dotted_capital_i(prefix: str, text: str, value: str) -> None:
    assert "İ".lower() != "i"  # two code points: the reason for this test
    text = prefix + text
    start = text.index(value)
    assert ("DATE_TIME", value) in found(text)
    assert any(
        f.type == "DATE_TIME" and (f.start, f.end) == (start, start + len(value))
        for f in pii_patterns.detect(text)
    )


def test_istanbul_keeps_date_and_time() -> None:
    text = "İstanbul toplant\u0131s\u0131: March 5, 2024 at 10:30"
    assert sorted(found(text)) == [("DATE_TIME", "10:30"), ("DATE_TIME", "March 5, 2024")]
    assert redacted(text) == "İstanbul toplant\u0131s\u0131: <DATE_TIME_1> at <DATE_TIME_2>"


def test_izmir_same_as_ascii() -> None:
    dotted = pii_patterns.detect("Meeting in İzmir on March 5, 2024 with the team")
    plain = pii_patterns.detect("Meeting in Izmir on March 5, 2024 with the team")
    assert [(f.type, f.start, f.end) for f in dotted] == [("DATE_TIME", 20, 33)]
    assert [(f.type, f.start, f.end) for f in plain] == [("DATE_TIME", 20, 33)]


def test_word_date_scan_is_ascii_case_insensitive() -> None:
    assert found("MARCH 5, 2024 and march 6, 2024 and mArCh 7") == [
        ("DATE_TIME", "MARCH 5, 2024"),
        ("DATE_TIME", "march 6, 2024"),
        ("DATE_TIME", "mArCh 7"),
    ]


# -- 2. e-mail -------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("write to müller@firma.de today", "müller@firma.de"),
        (
            "cc jean-pierre.o'neil+news@example.co.uk please",
            "jean-pierre.o'neil+news@example.co.uk",
        ),
        ("josé@example.com", "josé@example.com"),
        ("mail o\u2019neil@example.ie now", "o\u2019neil@example.ie"),  # typographic apostrophe
        ("user@bücher.de", "user@bücher.de"),
        ("пишите: пользователь@пример.рф.", "пользователь@пример.рф"),
        ("ईमेल उपयोगकर्ता@उदाहरण.भारत।", "उपयोगकर्ता@उदाहरण.भारत"),  # marks in both parts
        ("θέμα@παράδειγμα.ελ", "θέμα@παράδειγμα.ελ"),
        ("jane@xn--bcher-kva.de", "jane@xn--bcher-kva.de"),
        ("请联系jane@example.com谢谢", "jane@example.com"),  # Chinese text either side
        ("say 'jane@example.com'", "jane@example.com"),  # quotes are not the local part
        ("...jane@example.com.", "jane@example.com"),
        ("(_jane@example.com)", "_jane@example.com"),
        ("a@b.io", "a@b.io"),
    ],
)
def test_email_whole_local_part(prefix: str, text: str, value: str) -> None:
    assert_whole(prefix + text, "EMAIL_ADDRESS", value)


def test_email_decomposed_accent() -> None:
    text = unicodedata.normalize("NFD", "write josé@example.com")
    assert text != "write josé@example.com"
    assert_whole(text, "EMAIL_ADDRESS", unicodedata.normalize("NFD", "josé@example.com"))


def test_email_redaction_leaves_nothing_of_the_name() -> None:
    assert redacted("write müller@firma.de now") == "write <EMAIL_ADDRESS_1> now"
    assert redacted("cc jean-pierre.o'neil+news@example.co.uk") == "cc <EMAIL_ADDRESS_1>"


@pytest.mark.parametrize(
    "text",
    [
        "x" * 70 + "@example.com",  # longer than a local part: a blob, never its tail
        "ü" * 70 + "@example.com",
        "@handle and a@b",
        "price 5@ 3.50",
    ],
)
def test_email_rejects(text: str) -> None:
    assert [k for k, _ in found(text) if k == "EMAIL_ADDRESS"] == []


# -- 3. look-alikes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "version 1.0.0.0",
        "Version: 10.20.30.40 is out",  # neither an IP nor a phone number
        "upgrade to v1.2.3.4",
        "V10.0.0.1",
        "release 2.3.4.5 notes",
        "build 10.0.0.1",
        "fw 1.2.3.4",
        "1.2.3.4-beta and 1.2.3.5-rc1",
        "from 2.14.1023 to 2.15.0",
        "call 2.14.1023",  # a date shape with a year outside 1900-2100
        "dated 14.07.1789 and 01/01/2201 and 1023-01-05",
        "population of 1 250 000 people",
        "Umsatz lag bei 12.500.000 Euro",
        "250 000 000 habitants",
        "45.12.2023 and 12.500.000,50",
        "order number is 4000-1234-5678",
        "Order #555-123-4567 shipped",
        "tracking number: 030 1234567",
        "Ticket no. 555 123 4567",
        "Rechnungsnummer 030 1234567",
        "case number: 555-123-4567",
        "Invoice INV-2024-000123",
        "ISBN 978-3-16-148410-0",
        "ISBN: 978 3 16 148410 0",
        "ISBN 0-306-40615-2",
        "ISBN-13 9783161484100",
        "see 978-3161484100",  # ISBN-13 checksum
        "ref ab555-123-4567 and 555-123-4567-1",  # glued to a larger token
    ],
)
def test_lookalikes_are_not_pii(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Invoice INV-2024-000123", "Invoice INV-2024-000123"),
        ("ISBN 978-3-16-148410-0", "ISBN 978-3-16-148410-0"),
        ("version 1.0.0.0", "version 1.0.0.0"),
    ],
)
def test_lookalikes_not_redacted(text: str, expected: str) -> None:
    assert redacted(text) == expected


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("from 10.0.0.1 at noon", "IP_ADDRESS", "10.0.0.1"),
        ("gateway 192.168.1.20.", "IP_ADDRESS", "192.168.1.20"),
        ("server 10.0.0.1", "IP_ADDRESS", "10.0.0.1"),  # "ver" only as a word
        ("conversion 10.0.0.1", "IP_ADDRESS", "10.0.0.1"),
        ("born 10/16/1987 in", "DATE_TIME", "10/16/1987"),
        ("on 1.1.1900", "DATE_TIME", "1.1.1900"),
        ("in June 1999", "DATE_TIME", "June 1999"),
        ("my number is 612 345 678", "PHONE_NUMBER", "612 345 678"),  # phone context
        ("Tel. 1 250 000", "PHONE_NUMBER", "1 250 000"),
        ("612 345 678 fax", "PHONE_NUMBER", "612 345 678"),  # a label after it
        # A bare label may precede the number to call; "+" makes it a phone anyway.
        ("Booking: +44 20 7946 0958", "PHONE_NUMBER", "+44 20 7946 0958"),
        ("Order confirmation: 555-123-4567", "PHONE_NUMBER", "555-123-4567"),
        ("order no. +1 202 555 0143", "PHONE_NUMBER", "+1 202 555 0143"),
        ("555-123-4567-Office", "PHONE_NUMBER", "555-123-4567"),
        ("070 123 456", "PHONE_NUMBER", "070 123 456"),  # amounts never start with 0
        ("+1 250 000", "PHONE_NUMBER", "+1 250 000"),
        ("555.123.4567", "PHONE_NUMBER", "555.123.4567"),
        ("01.23.45.67.89", "PHONE_NUMBER", "01.23.45.67.89"),
        ("in case 555-123-4567 fails", "PHONE_NUMBER", "555-123-4567"),
        ("order desk at 555-123-4567", "PHONE_NUMBER", "555-123-4567"),
        ("account number 555-123-4567", "PHONE_NUMBER", "555-123-4567"),  # stays redacted
    ],
)
def test_real_values_still_found(prefix: str, text: str, kind: str, value: str) -> None:
    assert_whole(prefix + text, kind, value)


def test_year_range_in_word_dates() -> None:
    assert found("March 5, 1023") == [("DATE_TIME", "March 5")]
    assert found("May 2500 people came") == []


# -- 4. dotted cards -------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(
    "value",
    [
        "4111.1111.1111.1111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "3782.822463.10005",  # Amex grouping
        "4556.7712.6146.2002",
    ],
)
def test_cards_with_dots(prefix: str, value: str) -> None:
    assert_whole(f"{prefix}card {value}. Thanks", "CREDIT_CARD", value)


@pytest.mark.parametrize(
    "text",
    [
        "4111.1111.1111.1112",  # fails Luhn
        "4111.1111-1111.1111",  # mixed separators with a dot
        "41111111.11111111",  # not a card grouping: a decimal number
        "1.4111.1111.1111.1111",  # part of a longer dotted number
        "4111.1111.1111.1111.5",
    ],
)
def test_dotted_card_lookalikes(text: str) -> None:
    assert [k for k, _ in found(text) if k == "CREDIT_CARD"] == []


# -- 5. phones -------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(
    "value",
    [
        "+33 1 23 45 67 89",
        "+33 (0)1 23 45 67 89",
        "0033 1 23 45 67 89",
        "+44 7 911 123 456",
        "+44 20 7946 0958",
        "(555) 123-4567",
        "+49 30 12345678",
        "030 1234567",
        "+1-202-555-0143 ext. 12",
        "03-1234-5678",
        "+91 98765 43210",
        "+(370) 28102626",
        "001-555-123-4567x123",
        "555-123-4567",
    ],
)
def test_phones_whole_span(prefix: str, value: str) -> None:
    assert_whole(f"{prefix}call {value} today", "PHONE_NUMBER", value)


def test_french_number_redacted_whole() -> None:
    assert redacted("appelez +33 1 23 45 67 89 svp") == "appelez <PHONE_NUMBER_1> svp"


def test_validators() -> None:
    assert pii_patterns.isbn_ok("978-3-16-148410-0")
    assert pii_patterns.isbn_ok("0-306-40615-2")
    assert pii_patterns.isbn_ok("0-8044-2957-X")
    assert not pii_patterns.isbn_ok("978-3-16-148410-1")
    assert not pii_patterns.isbn_ok("555-123-4567-8")
    assert pii_patterns.luhn_ok("4111111111111111")


def test_mark_class_covers_all_bmp_marks() -> None:
    """The regex class of combining marks is built from three blocks only."""
    import re

    mark = re.compile(pii_patterns._MARK)
    for cp in range(0x10000):
        ch = chr(cp)
        assert (mark.fullmatch(ch) is not None) == (unicodedata.category(ch)[0] == "M"), hex(cp)
