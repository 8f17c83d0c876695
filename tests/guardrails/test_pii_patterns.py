from __future__ import annotations

import pytest

from services.guardrails.detectors import pii_patterns


def kinds(text: str) -> list[tuple[str, str]]:
    return [(f.type, text[f.start : f.end]) for f in pii_patterns.detect(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "write to jane.doe+news@example.co.uk today",
            ("EMAIL_ADDRESS", "jane.doe+news@example.co.uk"),
        ),
        ("call (505) 498-8487 x683 now", ("PHONE_NUMBER", "(505) 498-8487 x683")),
        ("ring +44 20 7946 0958", ("PHONE_NUMBER", "+44 20 7946 0958")),
        ("card 4556 7712 6146 2002 expired", ("CREDIT_CARD", "4556 7712 6146 2002")),
        ("card 4556-7712-6146-2002", ("CREDIT_CARD", "4556-7712-6146-2002")),
        ("IBAN GB68GLWD90803549522072 please", ("IBAN_CODE", "GB68GLWD90803549522072")),
        ("IBAN DE89 3704 0044 0532 0130 00.", ("IBAN_CODE", "DE89 3704 0044 0532 0130 00")),
        ("my SSN is 201-82-2178", ("US_SSN", "201-82-2178")),
        ("ssn: 201822178", ("US_SSN", "201822178")),
        ("from 86.231.85.193 at noon", ("IP_ADDRESS", "86.231.85.193")),
        (
            "v6 3b20:9a3a:1b2f:7ce:9ef1:4787:85fc:261e",
            ("IP_ADDRESS", "3b20:9a3a:1b2f:7ce:9ef1:4787:85fc:261e"),
        ),
        ("born 10/16/1987 in", ("DATE_TIME", "10/16/1987")),
        ("at 2002-11-22 18:02:08 sharp", ("DATE_TIME", "2002-11-22 18:02:08")),
        ("on March 3rd, 2021 we", ("DATE_TIME", "March 3rd, 2021")),
        ("see you Thursday", ("DATE_TIME", "Thursday")),
    ],
)
def test_finds(text: str, expected: tuple[str, str]) -> None:
    assert expected in kinds(text)


@pytest.mark.parametrize(
    "text",
    [
        "order 4556 7712 6146 2003 shipped",  # fails Luhn
        "IBAN GB68GLWD90803549522073",  # fails mod 97
        "ticket 666-12-3456 and 900-12-3456",  # invalid SSN areas
        "version 999.1.2.3 of the tool",  # not an IP
        "the year 2024 and 17 apples",
        "no personal data here, just prose about gardening",
        "build 1.2.3 released",
        "date 13/45/2020 is not real",
    ],
)
def test_rejects(text: str) -> None:
    assert kinds(text) == []


def test_offsets_are_code_points() -> None:
    text = "héllo 😀 mail a@b.io"
    (finding,) = pii_patterns.detect(text)
    assert text[finding.start : finding.end] == "a@b.io"


def test_validators() -> None:
    assert pii_patterns.luhn_ok("4556771261462002")
    assert not pii_patterns.luhn_ok("4556771261462003")
    assert pii_patterns.iban_ok("GB68GLWD90803549522072")
    assert not pii_patterns.iban_ok("GB00GLWD90803549522072")
    assert not pii_patterns.ssn_ok("000", "12", "3456")
