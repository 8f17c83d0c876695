"""BM25-style sparse vectors for keyword search in Qdrant.

A document side vector holds, per term, BM25's saturated term frequency
tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avg_length)); Qdrant's IDF
modifier multiplies in the inverse document frequency at query time, counted
over the searching tenant's chunks only (store.py passes the tenant as the IDF
corpus), so the dot product with a query vector (1 per query term) is the BM25
score over that tenant's documents. Terms are lowercased words with English stop
words removed and a light plural/suffix stemmer, hashed to 32-bit indices.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter

from qdrant_client import models

K1 = 1.2
B = 0.75
# Chunks are bounded by the token budget, so a fixed average length is close enough
# (and needs no collection-wide statistics that would change on every upsert).
AVG_LENGTH = 120.0

_WORD = re.compile(r"\w+", re.UNICODE)
_STOP_WORDS = frozenset(
    """a an and are as at be but by for from has have if in into is it its no not of on or
    such that the their then there these they this to was were will with we our which been
    than those may can also""".split()
)


def _stem(word: str) -> str:
    # Light stemmer: enough to match plurals and common inflections of one word
    # ("increase", "increased", "increases", "increasing" all become "increas").
    if len(word) <= 3 or word.isdigit():
        return word
    for suffix in ("ies", "sses", "ing", "edly", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "ies":
                return word[:-3] + "y"
            if suffix == "sses":
                return word[:-2]
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            word = word[: -len(suffix)]
            break
    if len(word) > 4 and word.endswith("e"):
        word = word[:-1]
    return word


def terms(text: str) -> list[str]:
    words = (w.lower() for w in _WORD.findall(text))
    return [_stem(w) for w in words if w not in _STOP_WORDS]


def _index(term: str) -> int:
    return zlib.crc32(term.encode("utf-8"))


def document_vector(text: str) -> models.SparseVector:
    counts = Counter(_index(t) for t in terms(text))
    length = sum(counts.values())
    norm = K1 * (1 - B + B * length / AVG_LENGTH)
    indices = sorted(counts)
    values = [counts[i] * (K1 + 1) / (counts[i] + norm) for i in indices]
    return models.SparseVector(indices=indices, values=values)


def query_vector(text: str) -> models.SparseVector:
    indices = sorted({_index(t) for t in terms(text)})
    return models.SparseVector(indices=indices, values=[1.0] * len(indices))
