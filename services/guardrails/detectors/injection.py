"""Prompt injection and jailbreak: logistic regression over tf-idf of folded text.

The model is trained here (python -m services.guardrails.train) and shipped as
services/guardrails/data/injection_model.json.gz: per block (words, characters)
each term's idf and weight. Scoring 1 KB takes a few hundred word look-ups and one
sorted search of its character n-gram hashes.
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
import re
from pathlib import Path

import numpy as np

from services.guardrails.detectors.injection_features import (
    char_term_hashes,
    cues,
    term_hash,
    word_terms,
)
from services.guardrails.findings import JAILBREAK, PROMPT_INJECTION, Finding
from services.guardrails.normalize import normalize

MODEL_PATH = Path(__file__).resolve().parent.parent / "data" / "injection_model.json.gz"


class TfidfBlock:
    """One block of the model: sublinear tf x idf, L2-normalised, dotted with the weights
    (what sklearn's TfidfTransformer(sublinear_tf=True) and LogisticRegression compute)."""

    def __init__(self, idf: np.ndarray, coef: np.ndarray) -> None:
        self.idf = idf
        self.coef = coef

    def margin(self, terms: np.ndarray, counts: np.ndarray) -> float:
        """The known terms of a text (indices, each once) and how often each occurs."""
        if not terms.size:
            return 0.0
        x = self.idf[terms] * (1.0 + np.log(counts))
        return float(self.coef[terms] @ x) / math.sqrt(float(x @ x))


class TfidfModel:
    """Word terms are found through a dictionary; character n-grams through their
    hashes, sorted, so that a text's ~4,000 n-grams are looked up in one search."""

    def __init__(self, blocks: dict[str, dict[str, list]], intercept: float) -> None:
        words, chars = blocks["words"], blocks["chars"]
        self.word_index = {term: i for i, term in enumerate(words["terms"])}
        self.words = TfidfBlock(np.asarray(words["idf"]), np.asarray(words["coef"]))
        hashes = np.fromiter(map(term_hash, chars["terms"]), dtype=np.uint64)
        order = np.argsort(hashes)
        self.char_hashes = hashes[order]
        self.chars = TfidfBlock(np.asarray(chars["idf"])[order], np.asarray(chars["coef"])[order])
        self.intercept = intercept

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> TfidfModel:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            data = json.load(fh)
        return cls(data["blocks"], float(data["intercept"]))

    def probability(self, normalized: str) -> float:
        get = self.word_index.get
        words = [i for i in map(get, word_terms(normalized)) if i is not None]
        z = self.intercept + self.words.margin(*np.unique(words, return_counts=True))
        # Distinct hashes first: a sorted search of sorted keys is the fast one.
        hashes, counts = np.unique(char_term_hashes(normalized), return_counts=True)
        found = np.minimum(np.searchsorted(self.char_hashes, hashes), len(self.char_hashes) - 1)
        known = self.char_hashes[found] == hashes
        z += self.chars.margin(found[known], counts[known])
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
    def __init__(self, model: TfidfModel) -> None:
        self.model = model

    def score(self, text: str) -> float:
        return self._score(text)[0]

    def _score(self, text: str) -> tuple[float, str]:
        normalized = normalize(text)
        return self.model.probability(normalized), normalized

    def detect(self, text: str, threshold: float, *, document: bool = False) -> list[Finding]:
        if not text.strip():
            return []
        probability, normalized = self._score(text)
        start, end = 0, len(text)
        if document and probability < threshold and len(text) >= WINDOW_MIN_CHARS:
            for w_start, w_end in windows(text):
                p, n = self._score(text[w_start:w_end])
                if p > probability:
                    probability, normalized, start, end = p, n, w_start, w_end
        if probability < threshold:
            return []
        # Cues only name what was found: worked out for flagged text alone.
        found = cues(text[start:end], normalized)
        kind = JAILBREAK if "persona" in found else PROMPT_INJECTION
        detector = "injection.document" if document else "injection.classifier"
        why = ", ".join(found) if found else "classifier"
        what = "instructions aimed at the model in a document" if document else kind.lower()
        return [Finding(kind, start, end, round(probability, 4), detector, f"{what} ({why})")]
