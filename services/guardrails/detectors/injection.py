"""Prompt injection and jailbreak: a linear model over folded text, plus cues.

The model is trained here (python -m services.guardrails.train) and shipped as
services/guardrails/data/injection_model.json.gz: weights per feature, so
scoring is a few thousand dict look-ups, well under a millisecond per 1 KB.
"""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import dataclass
from pathlib import Path

from services.guardrails.detectors.injection_features import cue_names, features
from services.guardrails.findings import JAILBREAK, PROMPT_INJECTION, Finding
from services.guardrails.normalize import normalize

MODEL_PATH = Path(__file__).resolve().parent.parent / "data" / "injection_model.json.gz"


@dataclass(frozen=True, slots=True)
class LinearModel:
    weights: dict[str, float]
    intercept: float

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> LinearModel:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            data = json.load(fh)
        return cls(weights=data["weights"], intercept=float(data["intercept"]))

    def probability(self, feats: set[str]) -> float:
        weights = self.weights
        total = 0.0
        hits = 0
        for feat in feats:
            w = weights.get(feat)
            if w is not None:
                total += w
                hits += 1
        z = self.intercept + (total / math.sqrt(hits) if hits else 0.0)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


class InjectionDetector:
    def __init__(self, model: LinearModel) -> None:
        self.model = model

    def score(self, text: str) -> tuple[float, list[str]]:
        normalized = normalize(text)
        return self.model.probability(features(normalized)), cue_names(normalized)

    def detect(self, text: str, threshold: float, *, document: bool = False) -> list[Finding]:
        if not text.strip():
            return []
        probability, cues = self.score(text)
        if probability < threshold:
            return []
        kind = JAILBREAK if "persona" in cues else PROMPT_INJECTION
        detector = "injection.document" if document else "injection.classifier"
        why = ", ".join(cues) if cues else "classifier"
        what = "instructions aimed at the model in a document" if document else kind.lower()
        return [Finding(kind, 0, len(text), round(probability, 4), detector, f"{what} ({why})")]
