"""PERSON, LOCATION and STREET_ADDRESS: a linear token tagger trained here (see ner_train).

A token's score is a sum of feature weights, and most features belong to one
word (its own, or a neighbour's as context), so each word's contributions are
summed once and cached; per token only the gap and shape-pair features are
looked up. 1 KB costs well under a millisecond. Adjacent tokens with the same
label become one span; an address may also bridge punctuation and line breaks
between its parts.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from services.guardrails.detectors.ner_features import (
    Gazetteer,
    gaps,
    pair_features_of,
    pair_key,
    shape,
    tokens,
    word_groups,
)
from services.guardrails.findings import Finding

MODEL_PATH = Path(__file__).resolve().parent.parent / "data" / "ner_model.json.gz"
DETECTOR = "pii.ner"
_CACHE_ROWS = 50_000  # ~4 MB of float32; the caches start over when full
_BRIDGE = {"STREET_ADDRESS": ",\n ", "PERSON": " ", "LOCATION": " "}


class TokenTagger:
    def __init__(self, payload: dict[str, object], min_score: float = 0.6) -> None:
        self.labels: list[str] = list(payload["labels"])  # type: ignore[call-overload]
        weights: dict[str, list[float]] = payload["weights"]  # type: ignore[assignment]
        self.index = {name: i for i, name in enumerate(weights)}
        matrix = np.zeros((len(weights) + 1, len(self.labels)), dtype=np.float32)
        matrix[: len(weights)] = np.asarray(list(weights.values()), dtype=np.float32)
        self.weights = matrix  # the last row is zeros: "no such feature"
        self.intercept = np.asarray(payload["intercept"], dtype=np.float32)
        self.gazetteer = Gazetteer(dict(payload["gazetteer"]))  # type: ignore[call-overload]
        self.min_score = min_score
        # Per-word and per-context sums, cached in preallocated tables so that a text
        # costs one fancy-index instead of stacking hundreds of small arrays.
        self._words: dict[str, tuple[int, str]] = {}
        self._pairs: dict[tuple[str, str, str, str], int] = {}
        labels = len(self.labels)
        self._word_table = np.zeros((_CACHE_ROWS, 5, labels), dtype=np.float32)
        self._pair_table = np.zeros((_CACHE_ROWS, labels), dtype=np.float32)

    def _sum(self, feats: list[str]) -> np.ndarray:
        missing = len(self.index)
        return self.weights[[self.index.get(f, missing) for f in feats]].sum(axis=0)

    def _word(self, word: str) -> tuple[int, str]:
        """Row of the word's cached group sums in self._word_table, and its shape."""
        cached = self._words.get(word)
        if cached is None:
            if len(self._words) >= _CACHE_ROWS:
                self._words.clear()
            row = len(self._words)
            groups = word_groups(word, self.gazetteer)
            self._word_table[row] = np.stack([self._sum(group) for group in groups])
            cached = self._words[word] = (row, shape(word))
        return cached

    def _pair(self, key: tuple[str, str, str, str]) -> int:
        row = self._pairs.get(key)
        if row is None:
            if len(self._pairs) >= _CACHE_ROWS:
                self._pairs.clear()
            row = self._pairs[key] = len(self._pairs)
            self._pair_table[row] = self._sum(pair_features_of(key))
        return row

    def detect(self, text: str) -> list[Finding]:
        spans = tokens(text)
        if not spans:
            return []
        entries = [self._word(text[s:e]) for s, e in spans]
        shapes = [sh for _, sh in entries]
        gap_list = gaps(text, spans)
        pair_rows = [self._pair(pair_key(i, shapes, gap_list)) for i in range(len(spans))]
        groups = self._word_table[[row for row, _ in entries]]  # (tokens, 5 groups, labels)
        scores = groups[:, 0] + self.intercept + self._pair_table[pair_rows]
        scores[2:] += groups[:-2, 4]
        scores[1:] += groups[:-1, 3]
        scores[:-1] += groups[1:, 2]
        scores[:-2] += groups[2:, 1]
        scores -= scores.max(axis=1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=1, keepdims=True)
        best = probs.argmax(axis=1)
        return self._spans(text, spans, best.tolist(), probs.max(axis=1).tolist())

    def _spans(
        self, text: str, spans: list[tuple[int, int]], best: list[int], conf: list[float]
    ) -> list[Finding]:
        found: list[Finding] = []
        current: Finding | None = None
        scores: list[float] = []
        for (start, end), label_index, p in zip(spans, best, conf, strict=True):
            label = self.labels[label_index]
            if label == "O" or p < self.min_score:
                current = None
                continue
            gap = text[current.end : start] if current is not None else ""
            if current is not None and current.type == label and _bridgeable(gap, label):
                current.end = end
                scores.append(p)
                current.score = round(sum(scores) / len(scores), 4)
                continue
            scores = [p]
            current = Finding(label, start, end, round(p, 4), DETECTOR, f"{label} (tagger)")
            found.append(current)
        kept = [f for f in found if self._plausible(text[f.start : f.end])]
        return [f for f in kept if f.type != "STREET_ADDRESS" or _address_like(text, f, kept)]

    def _plausible(self, value: str) -> bool:
        """A span of plain lower-case words none of which is a known name or place
        ("again", "driven") is the tagger guessing from context: drop it."""
        if not value.islower() or any(ch.isdigit() for ch in value):
            return True
        return any(self.gazetteer.of(word) for word in value.split())


_LETTER = re.compile(r"[^\W\d_]")
_ADDRESS_CUE = re.compile(
    r"\b(?:zip|zipcode|postcode|post code|postal code|p\.?\s?o\.? box|box|apt|apartment|suite|"
    r"unit|flat|floor|house|building|no|number|nr)\b[^\n\d]{0,12}$",
    re.IGNORECASE,
)
_LETTER_WORD = re.compile(r"\w*[^\W\d_]\w*\.?")
# Words after a number that make it a quantity or a time, not a house number.
UNITS = frozenset(
    "am pm h hr hrs hour hours min mins minute minutes s sec secs second seconds ms day days "
    "week weeks month months year years yr yrs km m cm mm kg g mg lb lbs mi mile miles ft "
    "percent pct x times people items pages points degrees".split()
)
_NEAR = 40  # a postcode or house number stands within this many characters of its street or city


def _address_like(text: str, finding: Finding, found: list[Finding]) -> bool:
    """A STREET_ADDRESS span with no words but units ("97" in "97 minutes", "5 pm")
    is only part of an address next to the rest of it (a street, a city) or after
    a word that introduces one ("zip", "Suite", "P.O. Box"); on its own it is a number."""
    words = _LETTER_WORD.findall(text[finding.start : finding.end])
    if any(word.lower().rstrip(".") not in UNITS for word in words):
        return True
    if _ADDRESS_CUE.search(text[max(0, finding.start - 24) : finding.start]):
        return True
    return any(
        other is not finding
        and other.type in ("STREET_ADDRESS", "LOCATION")
        and other.start - _NEAR <= finding.end
        and finding.start <= other.end + _NEAR
        and _LETTER.search(text[other.start : other.end])
        for other in found
    )


def _bridgeable(gap: str, label: str) -> bool:
    allowed = _BRIDGE[label]
    return len(gap) <= 4 and all(ch in allowed for ch in gap)


def load_ner(path: Path = MODEL_PATH) -> Callable[[str], list[Finding]] | None:
    """The detector, or None when no model has been trained yet."""
    if not path.exists():
        return None
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        payload = json.load(fh)
    return TokenTagger(payload).detect
