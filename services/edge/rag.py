"""Retrieval-augmented prompts: numbered sources within the context window, and
the citations an answer actually used."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from services.edge.validation import estimate_tokens

SYSTEM_PROMPT = (
    "You answer questions using only the numbered sources below. "
    "Cite the sources you use with their numbers in square brackets, like [1]. "
    "If the sources do not contain the answer, say that you do not know.\n\nSources:\n"
)
NOTHING_FOUND = (
    "I could not find anything relevant to your question in your documents, so I cannot "
    "answer it from them. A person should follow up on this question."
)
_MARKER = re.compile(r"\[(\d{1,3})\]")
_WORD = re.compile(r"[^\W_]{4,}", re.UNICODE)
# Without [n] markers, a source counts as used when it shares at least this
# share of the words that the best-matching source shares with the answer.
_OVERLAP_SHARE = 0.5
_STOPWORDS = {
    "that",
    "this",
    "with",
    "from",
    "have",
    "were",
    "which",
    "their",
    "there",
    "about",
    "would",
    "could",
    "should",
    "these",
    "those",
    "into",
    "than",
    "then",
    "them",
    "they",
    "what",
    "when",
    "where",
    "will",
    "your",
    "also",
    "been",
    "being",
    "does",
    "some",
}


@dataclass(frozen=True)
class Source:
    index: int
    document_id: str
    title: str
    text: str
    start: int
    end: int
    score: float


def source_block(source: Source) -> str:
    title = f" {source.title}" if source.title else ""
    return f"[{source.index}]{title}\n{source.text.strip()}\n\n"


def assemble(
    candidates: list[Source], token_room: int, chars_per_token: float
) -> tuple[str, list[Source]]:
    """The system prompt with as many sources as fit in `token_room` tokens, best
    first, renumbered 1..n; a source that does not fit whole is cut to fit."""
    used: list[Source] = []
    body = ""
    room = token_room - estimate_tokens(SYSTEM_PROMPT, chars_per_token)
    for candidate in candidates:
        source = replace(candidate, index=len(used) + 1)
        block = source_block(source)
        cost = estimate_tokens(block, chars_per_token)
        if cost > room:
            # Cut to fit when at least a useful part does (about 50 tokens).
            keep_chars = int((room - 8) * chars_per_token) - len(source.title)
            if keep_chars < 200:
                continue
            cut = replace(source, text=source.text[:keep_chars], end=source.start + keep_chars)
            block = source_block(cut)
            cost = estimate_tokens(block, chars_per_token)
            source = cut
        used.append(source)
        body += block
        room -= cost
    return SYSTEM_PROMPT + body, used


def _content_words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)} - _STOPWORDS


def cited_sources(answer: str, sources: list[Source]) -> list[Source]:
    """The sources the answer used: those it cites as [n]; failing any valid
    marker, those sharing the most content words with it; failing that, the
    best-ranked source it was given (it was grounded on them). Never a source
    it was not given."""
    if not sources:
        return []
    by_index = {s.index: s for s in sources}
    marked = sorted({int(m) for m in _MARKER.findall(answer) if int(m) in by_index})
    if marked:
        return [by_index[i] for i in marked]
    words = _content_words(answer)
    shared = [len(words & _content_words(s.text)) for s in sources]
    best = max(shared)
    if best == 0:
        return [sources[0]]
    return [s for s, n in zip(sources, shared, strict=True) if n >= _OVERLAP_SHARE * best]
