from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.guardrails.findings import Action
from services.guardrails.guard import Guard
from services.guardrails.policy import Policy
from services.guardrails.stream import StreamBlocked, StreamRedactor, hold_from

VALUES = [
    "jane.doe@example.com",
    "4556 7712 6146 2002",
    "(505) 498-8487",
    "201-82-2178",
    "GB68GLWD90803549522072",
    "86.231.85.193",
    "sk-proj-A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6",
]
TEXT = (
    "Hello! Reach me at jane.doe@example.com or (505) 498-8487. My card 4556 7712 6146 2002 "
    "and SSN 201-82-2178 are on file; IBAN GB68GLWD90803549522072, from 86.231.85.193, "
    "key sk-proj-A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6. Thanks again, jane.doe@example.com!"
)


def run(guard: Guard, policy: Policy, chunks: list[str]) -> tuple[str, list[tuple[str, int, int]]]:
    redactor = StreamRedactor(guard, policy)
    out: list[str] = []
    found = []
    for chunk in chunks:
        text, findings = redactor.push(chunk)
        out.append(text)
        found += findings
    text, findings = redactor.flush()
    out.append(text)
    found += findings
    return "".join(out), [(f.type, f.start, f.end) for f in found]


def split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


def test_whole_text_equals_check(guard: Guard, policy: Policy) -> None:
    whole = guard.check_input(TEXT, policy.overridden(disabled={"injection"}))
    streamed, _ = run(guard, policy, [TEXT])
    assert streamed == whole.redacted_text


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13])
def test_fixed_chunk_sizes_never_leak(guard: Guard, policy: Policy, size: int) -> None:
    chunks = [TEXT[i : i + size] for i in range(0, len(TEXT), size)]
    streamed, found = run(guard, policy, chunks)
    for value in VALUES:
        assert value not in streamed
    assert streamed.count("<EMAIL_ADDRESS_1>") == 2  # consistent across the stream
    for kind, start, end in found:
        assert kind != "EMAIL_ADDRESS" or TEXT[start:end] == "jane.doe@example.com"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=40))
def test_random_chunkings_never_leak(guard: Guard, policy: Policy, cuts: list[int]) -> None:
    streamed, _ = run(guard, policy, split(TEXT, cuts))
    for value in VALUES:
        assert value not in streamed
    for digits in ("4556", "7712", "6146", "2002"):
        assert digits not in streamed


def test_holds_back_only_what_could_grow(guard: Guard, policy: Policy) -> None:
    redactor = StreamRedactor(guard, policy)
    assert redactor.push("the weather is nice tod") == ("the weather is nice ", [])
    text, _ = redactor.push("ay, call 555 ")
    assert text == "today, call "  # "555 " could become a phone number
    text, found = redactor.push("123 4567 please ")
    assert text == "<PHONE_NUMBER_1> please " and found[0].start == len(
        "the weather is nice today, call "
    )


def test_tagger_findings_wait_for_the_words_after_them(guard: Guard, policy: Policy) -> None:
    """Word by word, as a model streams: "the" at the end of "lives in the" can read
    as a place to the tagger; the stream waits for what follows, as a whole-text
    check sees it."""
    text = "Florindel lives in the city of Quorvik and works at the harbour today."
    pieces = [text[: text.index(" ")], *(" " + word for word in text.split(" ")[1:])]
    streamed, _ = run(guard, policy, pieces)
    whole = guard.check_input(text, policy.overridden(disabled={"injection"}))
    assert streamed == whole.redacted_text


def test_hold_from() -> None:
    assert hold_from("plain words here ", 0) == len("plain words here ")
    assert hold_from("call 555 12", 0) == len("call ")
    assert hold_from("dear John ", 0) == len("dear ")
    assert hold_from("abc", 0) == 0


def test_block_action_ends_stream(guard: Guard, policy: Policy) -> None:
    strict = policy.overridden(actions={"SECRET": Action.BLOCK})
    redactor = StreamRedactor(guard, strict)
    redactor.push("fine text ")
    with pytest.raises(StreamBlocked):
        redactor.push("key AKIAZ7Q2X4M9P3L8K5J6 ")
        redactor.flush()


def test_random_long_stream(guard: Guard, policy: Policy) -> None:
    rng = random.Random(5)
    text = " ".join(
        rng.choice(["word", "more", "text", "jane.doe@example.com", "4556 7712 6146 2002"])
        for _ in range(400)
    )
    chunks = split(text, [rng.randrange(len(text)) for _ in range(300)])
    streamed, _ = run(guard, policy, chunks)
    assert "jane.doe@example.com" not in streamed and "4556 7712" not in streamed


def test_hidden_unicode_removed_from_stream(guard: Guard, policy: Policy) -> None:
    streamed, found = run(guard, policy, ["safe te", "xt\u200b with ", "a hidden \u202e mark "])
    assert "\u200b" not in streamed and "\u202e" not in streamed
    assert [kind for kind, _, _ in found] == ["HIDDEN_UNICODE", "HIDDEN_UNICODE"]


def test_private_key_split_over_many_chunks(guard: Guard, policy: Policy) -> None:
    body = "\n".join(
        "MIIEowIBAAKCAQEAx7Qz" + f"{i:02d}" + "kR9vT3bW1yP8sL5mN2hJ6gF4dC0aZ" for i in range(30)
    )
    key = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"
    text = f"Here it is:\n{key}\nDone."
    streamed, found = run(guard, policy, [text[i : i + 7] for i in range(0, len(text), 7)])
    assert "MIIEow" not in streamed and "PRIVATE KEY" not in streamed
    assert ("SECRET", text.index("-----BEGIN"), text.index("Done.") - 1) in found
