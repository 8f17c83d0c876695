"""Chunking with the real MiniLM tokenizer: budgets, overlap, ranges, edge cases."""

from __future__ import annotations

import itertools

import pytest

from services.retrieval.chunking import Chunker, sentence_spans
from services.retrieval.server import chunk_tokenizer

TOKENIZER = chunk_tokenizer()


def tokens(text: str) -> int:
    return len(TOKENIZER.encode(text, add_special_tokens=False).ids)


def offsets(texts):
    return [list(e.offsets) for e in TOKENIZER.encode_batch(list(texts), add_special_tokens=False)]


def chunker(budget: int = 40, overlap: int = 10) -> Chunker:
    return Chunker(offsets, budget, overlap)


def check_ranges(text: str, chunks) -> None:
    for i, chunk in enumerate(chunks):
        assert chunk.index == i
        assert 0 <= chunk.start < chunk.end <= len(text)
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip()


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t  \n"])
def test_empty_text_has_no_chunks(text):
    assert chunker().split(text) == []


def test_short_text_is_one_chunk_covering_it():
    text = "  One sentence only.  "
    [chunk] = chunker().split(text)
    assert (chunk.start, chunk.end, chunk.text) == (2, 20, "One sentence only.")


def test_sentences_are_packed_within_the_budget_with_overlap():
    text = " ".join(f"Sentence number {i} talks about topic {i} in some detail." for i in range(40))
    chunks = chunker(budget=40, overlap=12).split(text)
    check_ranges(text, chunks)
    assert len(chunks) > 5
    for chunk in chunks:
        assert tokens(chunk.text) <= 40
        assert chunk.text.endswith(".")  # cut at sentence ends
    for before, after in itertools.pairwise(chunks):
        assert after.start < before.end  # overlap: the next chunk repeats a sentence
        assert after.start > before.start  # and always advances
    # Every sentence lies wholly inside some chunk.
    for start, end in sentence_spans(text):
        assert any(c.start <= start and end <= c.end for c in chunks)


def test_without_overlap_chunks_are_disjoint():
    text = " ".join(f"Fact {i} is short." for i in range(60))
    chunks = chunker(budget=30, overlap=0).split(text)
    for before, after in itertools.pairwise(chunks):
        assert after.start >= before.end


def test_a_sentence_longer_than_the_budget_is_cut_at_word_pieces():
    text = " ".join(f"word{i}" for i in range(500))  # no sentence end at all
    chunks = chunker(budget=50, overlap=5).split(text)
    check_ranges(text, chunks)
    assert all(tokens(c.text) <= 50 for c in chunks)
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    assert "word499" in chunks[-1].text


def test_unicode_ranges_are_code_points():
    text = (
        "Émile a mangé des crêpes 🥞🥞 au café. "
        "日本語の文です。もう一つの文です。 "
        "Zalgo t̷e̷x̷t and emoji 👩‍👩‍👧 family! "
    ) * 20
    chunks = chunker(budget=32, overlap=8).split(text)
    check_ranges(text, chunks)
    assert all(tokens(c.text) <= 32 for c in chunks)
    joined = "".join(text[c.start : c.end] for c in chunks)
    assert "🥞" in joined and "日本語" in joined


def test_huge_document_is_covered_end_to_end():
    sentence = "The quick brown fox jumps over the lazy dog near the river bank. "
    text = sentence * 20_000  # about 1.3 MB
    chunks = Chunker(offsets, 200, 32).split(text)
    check_ranges(text, chunks)
    assert all(tokens(c.text) <= 200 for c in chunks[:50])
    assert chunks[0].start == 0
    assert chunks[-1].end == len(text.rstrip())


def test_overlap_must_be_smaller_than_the_budget():
    with pytest.raises(ValueError):
        Chunker(offsets, 10, 10)
