"""How provider answers become error kinds and Retry-After delays."""

from __future__ import annotations

import email.utils
import time

import pytest

from services.llm.providers.base import ProviderError, kind_for_status, retry_after_seconds, scrub


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (429, "rate_limit", True),
        (500, "server_error", True),
        (502, "server_error", True),
        (503, "server_error", True),
        (529, "server_error", True),
        (408, "timeout", True),
        (409, "server_error", True),
        (401, "auth", False),
        (403, "auth", False),
        (404, "not_found", False),
        (400, "bad_request", False),
        (422, "bad_request", False),
    ],
)
def test_status_kinds(status: int, kind: str, retryable: bool) -> None:
    assert kind_for_status(status) == kind
    assert ProviderError(kind_for_status(status), "x").retryable is retryable


def test_retry_after_forms() -> None:
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after": "0.5"}) == 0.5
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    delay = retry_after_seconds({"retry-after": later})
    assert delay is not None and 25 <= delay <= 31
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"retry-after": "-3"}) == 0.0


def test_scrub_removes_the_key_and_bounds_the_length() -> None:
    assert scrub("bad key sk-abc123456 given", "sk-abc123456") == "bad key *** given"
    assert len(scrub("x" * 1000, "")) <= 303
