"""Prompt injection and jailbreak: a linear model over folded text, plus cues.

The model is trained here (python -m services.guardrails.train) and shipped as
services/guardrails/data/injection_model.json.gz: weights per feature, and
each distinct word's contribution is cached: scoring 1 KB is a few hundred
look-ups.
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
import re
from pathlib import Path

from services.guardrails.detectors.injection_features import (
    analyse,
    context_features,
    word_features,
    words_of,
)
from services.guardrails.findings import JAILBREAK, PROMPT_INJECTION, Finding

MODEL_PATH = Path(__file__).resolve().parent.parent / "data" / "injection_model.json.gz"


class LinearModel:
    """Logistic regression over feature counts scaled by 1/sqrt(total count)."""

    def __init__(self, weights: dict[str, float], intercept: float) -> None:
        self.weights = weights
        self.intercept = intercept
        self._words: dict[str, tuple[float, int]] = {}

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> LinearModel:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            data = json.load(fh)
        return cls(weights=data["weights"], intercept=float(data["intercept"]))

    def _sum(self, feats: list[str]) -> tuple[float, int]:
        weights = self.weights
        total = 0.0
        hits = 0
        for feat in feats:
            w = weights.get(feat)
            if w is not None:
                total += w
                hits += 1
        return total, hits

    def _word(self, word: str) -> tuple[float, int]:
        cached = self._words.get(word)
        if cached is None:
            if len(self._words) > 200_000:
                self._words.clear()
            cached = self._words[word] = self._sum(word_features(word))
        return cached

    def probability(self, normalized: str, cues: list[str]) -> float:
        words = words_of(normalized)
        total, hits = self._sum(context_features(words, cues))
        for word in set(words):
            w_total, w_hits = self._word(word)
            total += w_total
            hits += w_hits
        z = self.intercept + (total / math.sqrt(hits) if hits else 0.0)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|\n+|$)")
WINDOW_MIN_CHARS = 400  # shorter texts are judged whole only
WINDOW_MAX_CHARS = 600


def windows(text: str) -> list[tuple[int, int]]:
    """Spans of consecutive sentence pairs, so that one instruction planted in a long
    retrieved document is judged on its own and not diluted by the rest. Used for
    documents only: on user prompts, judging fragments raised false positives."""
    sentences: list[tuple[int, int]] = []
    for m in _SENTENCE.finditer(text):
        start, end = m.span()
        while end - start > WINDOW_MAX_CHARS:
            sentences.append((start, start + WINDOW_MAX_CHARS))
            start += WINDOW_MAX_CHARS
        if text[start:end].strip():
            sentences.append((start, end))
    if len(sentences) < 2:
        return sentences
    return [(a[0], b[1]) for a, b in itertools.pairwise(sentences)]


class InjectionDetector:
    def __init__(self, model: LinearModel) -> None:
        self.model = model

    def score(self, text: str) -> tuple[float, list[str]]:
        normalized, cues = analyse(text)
        return self.model.probability(normalized, cues), cues

    def detect(self, text: str, threshold: float, *, document: bool = False) -> list[Finding]:
        if not text.strip():
            return []
        probability, cues = self.score(text)
        start, end = 0, len(text)
        if document and probability < threshold and len(text) >= WINDOW_MIN_CHARS:
            for w_start, w_end in windows(text):
                p, c = self.score(text[w_start:w_end])
                if p > probability:
                    probability, cues, start, end = p, c, w_start, w_end
        if probability < threshold:
            return []
        kind = JAILBREAK if "persona" in cues else PROMPT_INJECTION
        detector = "injection.document" if document else "injection.classifier"
        why = ", ".join(cues) if cues else "classifier"
        what = "instructions aimed at the model in a document" if document else kind.lower()
        return [Finding(kind, start, end, round(probability, 4), detector, f"{what} ({why})")]
