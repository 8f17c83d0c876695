"""Split a document into chunks along sentences, within a token budget, with overlap.

Token counts come from the embedding model's own tokenizer, so a chunk never
exceeds what the model reads. Sentences are packed greedily until the budget;
the next chunk starts with the last sentences of the previous one (up to the
overlap budget) so that a fact spanning a boundary is found from either side.
A sentence longer than the budget is cut at word-piece boundaries. Ranges are
in code points (Python string indices), end exclusive, and always cover the
exact text of the chunk: `text[start:end] == chunk.text`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

# A sentence ends at ., ! or ? (optionally followed by closing quotes or
# brackets) before whitespace, or at a blank line; CJK full stops end one too.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n\s*\n|(?<=[\u3002\uff01\uff1f])")


class TokenOffsets(Protocol):
    def __call__(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """Character offsets (start, end) of each token of each text, no specials."""


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    tokens: int


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, surrounding whitespace excluded."""
    spans = []
    position = 0
    for match in _SENTENCE_END.finditer(text):
        spans.append((position, match.start()))
        position = match.end()
    spans.append((position, len(text)))
    out = []
    for start, end in spans:
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            out.append((start, end))
    return out


def _split_long(start: int, offsets: list[tuple[int, int]], budget: int, end: int) -> list[_Span]:
    """Cut one over-long sentence into pieces of at most `budget` tokens."""
    pieces = []
    for first in range(0, len(offsets), budget):
        window = offsets[first : first + budget]
        piece_start = start + window[0][0] if first else start
        last = first + budget
        piece_end = start + offsets[last][0] if last < len(offsets) else end
        pieces.append(_Span(piece_start, piece_end, len(window)))
    return pieces


class Chunker:
    def __init__(self, token_offsets: TokenOffsets, budget: int, overlap: int) -> None:
        if not 0 <= overlap < budget:
            raise ValueError("overlap must be at least 0 and smaller than the budget")
        self._offsets = token_offsets
        self.budget = budget
        self.overlap = overlap

    def split(self, text: str) -> list[Chunk]:
        sentences = sentence_spans(text)
        if not sentences:
            return []
        offsets = self._offsets([text[s:e] for s, e in sentences])
        units: list[_Span] = []
        for (start, end), sentence_offsets in zip(sentences, offsets, strict=True):
            # Trailing whitespace between pieces belongs to no chunk, so trim it.
            if len(sentence_offsets) > self.budget:
                for piece in _split_long(start, sentence_offsets, self.budget, end):
                    piece_end = piece.end
                    while piece_end > piece.start and text[piece_end - 1].isspace():
                        piece_end -= 1
                    units.append(_Span(piece.start, piece_end, piece.tokens))
            else:
                units.append(_Span(start, end, max(1, len(sentence_offsets))))
        return self._pack(text, units)

    def _pack(self, text: str, units: list[_Span]) -> list[Chunk]:
        chunks: list[Chunk] = []
        first = 0
        while first < len(units):
            tokens, last = 0, first
            while last < len(units) and (
                last == first or tokens + units[last].tokens <= self.budget
            ):
                tokens += units[last].tokens
                last += 1
            start, end = units[first].start, units[last - 1].end
            chunks.append(Chunk(len(chunks), start, end, text[start:end]))
            if last >= len(units):
                break
            # Step back over trailing units that fit the overlap, always advancing.
            back, carried = last, 0
            while back - 1 > first and carried + units[back - 1].tokens <= self.overlap:
                back -= 1
                carried += units[back].tokens
            first = back
        return chunks
