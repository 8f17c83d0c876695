"""make train-guardrails: train the shipped models from the labelled data, reproducibly.

    python -m services.guardrails.train [injection] [ner]
    python -m services.guardrails.train cv   # model selection, prints only

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
from typing import Any

from services.guardrails import datasets, hard_negatives
from services.guardrails.detectors.injection import MODEL_PATH
from services.guardrails.detectors.injection_features import features
from services.guardrails.normalize import normalize

HARD_NEGATIVES = Path(__file__).resolve().parent / "data" / "benign_trigger_train.txt"


EXTRA_WEIGHT = 0.6  # our own negatives teach boundaries; they should not swamp the prior


def injection_training_set() -> tuple[list[str], list[int], list[float], list[str]]:
    """Texts, labels, sample weights and the group each row comes from (for CV)."""
    nc, slabs = datasets.neuralchemy("train"), datasets.slabs("train")
    texts = [e.text for e in nc + slabs]
    labels = [e.label for e in nc + slabs]
    groups = ["neuralchemy"] * len(nc) + ["slabs"] * len(slabs)
    from services.guardrails.ner_train import generate

    trigger = [
        line for line in HARD_NEGATIVES.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]  # fmt: skip
    # Ordinary prompts (greetings, follow-ups, one-line requests) and attacks that use
    # the same verbs. Anything that matches a line of the evaluation sets is left out.
    held_out = {_key(t) for t in datasets.benign_eval_sets()}
    negatives = {
        "trigger": trigger + hard_negatives.generate(),
        "short": hard_negatives.SHORT,
        # Benign sentences full of PII (presidio's frames, Faker values): PII is not an attack.
        "pii": [text for text, _ in generate(random.Random(11))[::8]],
        "prose": hard_negatives.prose(),
        "documents": benign_documents(
            [e.text for e in nc + slabs if e.label == 0 and len(e.text) > 40], random.Random(3)
        ),
        "ordinary": [t for t in hard_negatives.ordinary() if _key(t) not in held_out],
    }
    weights = [1.0] * len(texts)
    for group, rows in [*negatives.items(), ("attacks", hard_negatives.attacks())]:
        texts += rows
        labels += [int(group == "attacks")] * len(rows)
        groups += [group] * len(rows)
        weights += [EXTRA_WEIGHT] * len(rows)
    return texts, labels, weights, groups


def _key(text: str) -> str:
    return text.lower().strip(" .!?")


def benign_documents(sentences: list[str], rng: random.Random, n: int = 600) -> list[str]:
    """Long benign texts made of benign training prompts: length alone is no sign of attack."""
    out = []
    for _ in range(n):
        k = rng.randint(4, 14)
        out.append((" " if rng.random() < 0.5 else "\n").join(rng.sample(sentences, k)))
    return out


# The shipped model: logistic regression, C = 50, threshold p = 0.5 (margin 0).
MODEL = ("lr", 50.0)
# `python -m services.guardrails.train cv` compares it with CV_GRID by 4-fold
# cross-validation on the training rows only (never the validation split nor
# data/benign_*_eval.txt). Linear SVMs (C = 2-10) score 0.004-0.007 higher
# balanced accuracy there under the same false-positive caps, but two of them
# (C = 10 at margin -0.1 under random folds; C = 5 at margin -0.025 under the
# grouped folds below) did worse on the evaluation sets (validation BA 0.950 /
# 0.947, trigger-word FPR 0.137 / 0.095, ordinary FPR 0.090 / 0.074) than this
# model (0.948, 0.074, 0.074): within the noise of 941 validation rows at best.
CV_FOLDS = 4
CV_GRID = (("lr", 50.0), ("lr", 200.0), ("lr", 1000.0), ("svm", 2.0), ("svm", 5.0),
           ("svm", 10.0), ("svm", 20.0), ("svm", 50.0))  # fmt: skip
REFERENCE = MODEL  # its out-of-fold FPRs at margin 0 are the caps
FPR_GROUPS = ("ordinary", "trigger", "short")
PUBLIC = ("neuralchemy", "slabs")


def _fit(kind: str, c: float, matrix: Any, y: Any, weights: Any) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    model: Any
    if kind == "lr":
        model = LogisticRegression(C=c, max_iter=3000)
    else:
        model = LinearSVC(C=c, max_iter=100_000, random_state=0)
    model.fit(matrix, y, sample_weight=weights)
    return model


def _matrix(texts: list[str]) -> tuple[Any, Any]:
    import numpy as np
    from scipy.sparse import diags
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(analyzer=lambda t: features(normalize(t)), min_df=2)
    counts = vectorizer.fit_transform(texts).astype(np.float64)
    # Rows scaled by 1/sqrt(total count of known features), as LinearModel does at runtime.
    totals = np.asarray(counts.sum(axis=1)).ravel()
    return vectorizer, (diags(1.0 / np.sqrt(np.maximum(totals, 1.0))) @ counts).tocsr()


def cv_folds(texts: list[str], labels: list[int], groups: list[str]) -> list[int]:
    """Fold of each row. Public rows: stratified by source and label. Generated and
    hand-written rows: by their first word, so that a held-out fold holds templates
    the model has not seen. With random folds, siblings of each generated prompt are
    in training and the out-of-fold false-positive rates came out near 1% (the
    hand-written evaluation sets: 7%); with these folds they are about 9%."""
    import zlib

    from sklearn.model_selection import StratifiedKFold

    public = [i for i, group in enumerate(groups) if group in PUBLIC]
    strata = [f"{groups[i]}{labels[i]}" for i in public]
    fold = [0] * len(texts)
    splitter = StratifiedKFold(CV_FOLDS, shuffle=True, random_state=0)
    for k, (_, test) in enumerate(splitter.split(public, strata)):
        for j in test:
            fold[public[j]] = k
    for i, group in enumerate(groups):
        if group not in PUBLIC:
            first = (texts[i].lower().split() or [""])[0].strip(".,!?;:")
            fold[i] = zlib.crc32(first.encode()) % CV_FOLDS
    return fold


def cross_validate() -> None:
    """Out-of-fold margins of each CV_GRID model; for each, the threshold with the
    best balanced accuracy on the neuralchemy rows among those whose false-positive
    rates on FPR_GROUPS are no higher than REFERENCE's at margin 0."""
    import numpy as np

    texts, labels, sample_weight, groups = injection_training_set()
    _, matrix = _matrix(texts)
    y, w, g = np.asarray(labels), np.asarray(sample_weight), np.asarray(groups)
    fold = np.asarray(cv_folds(texts, labels, groups))
    nc = g == "neuralchemy"

    def fprs(flagged: Any) -> dict[str, float]:
        return {name: round(float(flagged[g == name].mean()), 4) for name in FPR_GROUPS}

    margins = {}
    for kind, c in CV_GRID:
        z = np.zeros(len(y))
        for k in range(CV_FOLDS):
            train, test = fold != k, fold == k
            z[test] = _fit(kind, c, matrix[train], y[train], w[train]).decision_function(
                matrix[test]
            )
        margins[kind, c] = z
    caps = fprs(margins[REFERENCE] >= 0)
    print(f"caps ({REFERENCE[0]} C={REFERENCE[1]}, margin 0): {caps}")
    for (kind, c), z in margins.items():
        best = None
        for threshold in np.round(np.arange(-0.6, 0.81, 0.025), 3):
            flagged = z >= threshold
            fpr = fprs(flagged)
            if any(fpr[name] > caps[name] for name in FPR_GROUPS):
                continue
            tpr = flagged[nc & (y == 1)].mean()
            tnr = 1 - flagged[nc & (y == 0)].mean()
            if best is None or (tpr + tnr) / 2 > best[0]:
                best = ((tpr + tnr) / 2, float(threshold), tpr, tnr, fpr)
        if best is not None:
            ba, threshold, tpr, tnr, fpr = best
            print(
                f"{kind} C={c}: balanced accuracy {ba:.4f} (TPR {tpr:.3f}, TNR {tnr:.3f}) "
                f"at margin {threshold:+.3f}, FPR {fpr}",
                flush=True,
            )


def train_injection() -> None:
    import numpy as np

    started = time.perf_counter()
    texts, labels, sample_weight, _ = injection_training_set()
    vectorizer, matrix = _matrix(texts)
    model = _fit(*MODEL, matrix, np.asarray(labels), np.asarray(sample_weight))
    coef = model.coef_[0]
    intercept = float(model.intercept_[0])
    names = vectorizer.get_feature_names_out()
    # Every vocabulary feature is kept: the runtime counts known features to scale.
    weights = {str(name): round(float(w), 4) for name, w in zip(names, coef, strict=True)}
    payload = {"intercept": round(intercept, 6), "weights": weights}
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
    if "cv" in which:
        cross_validate()
    if "injection" in which:
        train_injection()
    if "ner" in which:
        from services.guardrails.ner_train import train_ner

        train_ner()


if __name__ == "__main__":
    main(sys.argv[1:])
