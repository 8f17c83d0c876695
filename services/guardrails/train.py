"""make train-guardrails: train the shipped models from the labelled data, reproducibly.

    python -m services.guardrails.train [injection] [ner]

Injection: logistic regression over binary features of folded text, trained on
the neuralchemy *train* split, the S-Labs *train* split, hand-written and
generated benign hard negatives (data/benign_trigger_train.txt,
hard_negatives.py: trigger words, ordinary short prompts) and generated attacks
that use the same verbs; never on any validation/test split or on
data/benign_*_eval.txt. PII names and places: see ner_train.
Both write data/*.json.gz with fixed seeds, so a re-run gives the same files.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import sys
import time
from pathlib import Path

from services.guardrails import datasets, hard_negatives
from services.guardrails.detectors.injection import MODEL_PATH
from services.guardrails.detectors.injection_features import features
from services.guardrails.normalize import normalize

HARD_NEGATIVES = Path(__file__).resolve().parent / "data" / "benign_trigger_train.txt"


EXTRA_WEIGHT = 0.6  # our own negatives teach boundaries; they should not swamp the prior


def injection_training_set() -> tuple[list[str], list[int], list[float]]:
    examples = datasets.neuralchemy("train") + datasets.slabs("train")
    texts = [e.text for e in examples]
    labels = [e.label for e in examples]
    negatives = [
        line for line in HARD_NEGATIVES.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]  # fmt: skip
    negatives += hard_negatives.generate()
    negatives += hard_negatives.SHORT
    # Benign sentences full of PII (presidio's frames, Faker values): PII is not an attack.
    from services.guardrails.ner_train import generate

    negatives += [text for text, _ in generate(random.Random(11))[::8]]
    negatives += hard_negatives.prose()
    negatives += benign_documents(
        [e.text for e in examples if e.label == 0 and len(e.text) > 40], random.Random(3)
    )
    # Ordinary prompts (greetings, follow-ups, one-line requests) and attacks that use
    # the same verbs. Anything that matches a line of the evaluation sets is left out.
    held_out = {_key(t) for t in datasets.benign_eval_sets()}
    negatives += [t for t in hard_negatives.ordinary() if _key(t) not in held_out]
    positives = hard_negatives.attacks()
    weights = [1.0] * len(texts) + [EXTRA_WEIGHT] * (len(negatives) + len(positives))
    texts += negatives + positives
    labels += [0] * len(negatives) + [1] * len(positives)
    return texts, labels, weights


def _key(text: str) -> str:
    return text.lower().strip(" .!?")


def benign_documents(sentences: list[str], rng: random.Random, n: int = 600) -> list[str]:
    """Long benign texts made of benign training prompts: length alone is no sign of attack."""
    out = []
    for _ in range(n):
        k = rng.randint(4, 14)
        out.append((" " if rng.random() < 0.5 else "\n").join(rng.sample(sentences, k)))
    return out


def train_injection() -> None:
    import numpy as np
    from scipy.sparse import diags
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    texts, labels, sample_weight = injection_training_set()
    vectorizer = CountVectorizer(analyzer=lambda t: features(normalize(t)), min_df=2)
    counts = vectorizer.fit_transform(texts).astype(np.float64)
    # Rows scaled by 1/sqrt(total count of known features), as LinearModel does at runtime.
    totals = np.asarray(counts.sum(axis=1)).ravel()
    matrix = diags(1.0 / np.sqrt(np.maximum(totals, 1.0))) @ counts
    y = np.asarray(labels)
    # C and the 0.5 threshold: 4-fold cross-validation on these training rows
    # (balanced accuracy on the neuralchemy rows, false positives on the ordinary
    # prompts), not the validation split.
    model = LogisticRegression(C=50.0, max_iter=3000)
    model.fit(matrix, y, sample_weight=np.asarray(sample_weight))
    coef = model.coef_[0]
    names = vectorizer.get_feature_names_out()
    # Every vocabulary feature is kept: the runtime counts known features to scale.
    weights = {str(name): round(float(w), 4) for name, w in zip(names, coef, strict=True)}
    payload = {"intercept": round(float(model.intercept_[0]), 6), "weights": weights}
    MODEL_PATH.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(MODEL_PATH, "wb", mtime=0) as fh:
        fh.write(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())
    print(
        f"injection: {len(texts)} examples, {matrix.shape[1]} features, kept {len(weights)}, "
        f"{MODEL_PATH.stat().st_size / 1e6:.2f} MB, {time.perf_counter() - started:.1f} s"
    )


def main(argv: list[str]) -> None:
    if os.environ.get("PYTHONHASHSEED") != "0":
        # Some Faker data are sets, whose order follows string hashing: pin it so
        # that a re-run writes byte-identical model files.
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        os.execve(sys.executable, [sys.executable, "-m", "services.guardrails.train", *argv], env)
    which = set(argv) or {"injection", "ner"}
    if "injection" in which:
        train_injection()
    if "ner" in which:
        from services.guardrails.ner_train import train_ner

        train_ner()


if __name__ == "__main__":
    main(sys.argv[1:])
