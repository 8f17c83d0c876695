"""make eval-guardrails: quality and speed of the detectors on the labelled data.

    python -m services.guardrails.eval

Prints, per category: precision, recall, F1 and balanced accuracy of the
injection/jailbreak classifier on the neuralchemy validation split (never
trained on); the false-positive rate on hand-written benign prompts full of
trigger words (data/benign_trigger_eval.txt, and _independent.txt, written by
helpers that saw none of our data), on harmless prompts that only look harmful
(data/benign_lookalike_eval_independent.txt, by such helpers), on logs, configs,
stack traces, code and data users paste (data/technical_pastes_eval_independent.jsonl,
by such helpers), on short everyday messages (data/benign_social_eval_independent.txt,
by such helpers), on hand-written ordinary
prompts (data/benign_ordinary_eval.txt) and on everyday chat lines in the
languages of chatterbot-corpus that training leaves out, none ever trained on; span-level
PII precision/recall/F1 (exact type, overlapping span) on presidio-research's
generated set; how many hand-written sentences of technical and everyday text
with no personal data (data/ner_benign_eval.txt, never trained on) get a
PERSON / LOCATION / STREET_ADDRESS finding; and CheckInput latency percentiles
per 1 KB, in-process.
"""

from __future__ import annotations

import os
import statistics
import time
from collections import Counter, defaultdict
from typing import Any

from services.guardrails import datasets, public_corpora
from services.guardrails.detectors.ner import MODEL_PATH as NER_MODEL_PATH
from services.guardrails.guard import Guard
from services.guardrails.loader import load_guard
from services.guardrails.policy import Policy
from services.guardrails.settings import GuardrailsSettings

STRUCTURED = (
    "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS",
    "DATE_TIME",
)  # fmt: skip
GOLD_TYPE = {"ADDRESS": "STREET_ADDRESS"}
PLACES = ("LOCATION", "STREET_ADDRESS")
TAGGED = ("PERSON", *PLACES)
NER_BENIGN_EVAL = NER_MODEL_PATH.with_name("ner_benign_eval.txt")


def _prf(tp_pred: int, n_pred: int, tp_gold: int, n_gold: int) -> tuple[float, float, float]:
    p = tp_pred / n_pred if n_pred else 1.0
    r = tp_gold / n_gold if n_gold else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def eval_injection(guard: Guard, policy: Policy) -> list[str]:
    assert guard.injection is not None
    threshold = policy.injection_threshold
    rows = datasets.neuralchemy("validation")
    tp = fp = tn = fn = 0
    per_category: dict[str, Counter[str]] = defaultdict(Counter)
    for example in rows:
        flagged = guard.injection.score(example.text) >= threshold
        per_category[example.category]["n"] += 1
        per_category[example.category]["flagged"] += flagged
        if example.label:
            tp, fn = tp + flagged, fn + (not flagged)
        else:
            fp, tn = fp + flagged, tn + (not flagged)
    tpr, tnr = tp / (tp + fn), tn / (tn + fp)
    p, r, f = _prf(tp, tp + fp, tp, tp + fn)
    lines = [
        f"| injection+jailbreak (neuralchemy validation, n={len(rows)}) | {p:.3f} | {r:.3f} | "
        f"{f:.3f} | {(tpr + tnr) / 2:.3f} |"
    ]
    languages = ", ".join(public_corpora.CHAT_HELD_OUT)
    for name, benign in (
        ("benign prompts with trigger words", datasets.benign_trigger_eval()),
        (
            "benign prompts with trigger words, written by other hands",
            datasets.benign_trigger_eval_independent(),
        ),
        (
            "benign prompts that only look harmful (personas, dangerous words), by other hands",
            datasets.benign_lookalike_eval_independent(),
        ),
        (
            "technical pastes (logs, configs, traces, code, data), by other hands",
            datasets.technical_pastes_eval_independent(),
        ),
        ("ordinary prompts, short ones too", datasets.benign_ordinary_eval()),
        (
            "short everyday messages (greetings, thanks, wishes), by other hands",
            datasets.benign_social_eval_independent(),
        ),
        (f"chat lines in untrained languages ({languages})", public_corpora.held_out_chat()),
        (
            "benign prompts in 13 other languages, with trigger words",
            datasets.benign_multilingual_eval(),
        ),
        (
            "benign prompts in 10 trained languages, with trigger words, by other hands",
            datasets.benign_multilingual_eval_independent(),
        ),
    ):
        false_alarms = [t for t in benign if guard.injection.score(t) >= threshold]
        lines.append(
            f"| {name} (n={len(benign)}): FPR | {len(false_alarms) / len(benign):.3f} | | | |"
        )
    for name, attacks in (
        ("attacks in 13 other languages", datasets.attacks_multilingual_eval()),
        (
            "attacks in 10 trained languages, by other hands",
            datasets.attacks_multilingual_eval_independent(),
        ),
    ):
        caught = sum(guard.injection.score(t) >= threshold for t in attacks)
        lines.append(f"| {name} (n={len(attacks)}): recall | | {caught / len(attacks):.3f} | | |")
    detail = ", ".join(
        f"{cat} {c['flagged']}/{c['n']}" for cat, c in sorted(per_category.items()) if c["n"] >= 5
    )
    return [*lines, "", f"flagged per category (validation): {detail}", f"threshold {threshold}"]


def eval_pii(guard: Guard, policy: Policy) -> list[str]:
    records = datasets.presidio_generated()
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        text = record["full_text"]
        gold = [
            (
                s["start_position"],
                s["end_position"],
                GOLD_TYPE.get(s["entity_type"], s["entity_type"]),
            )
            for s in record["spans"]
        ]
        pred = [(f.start, f.end, f.type) for f in guard.sensitive(text, policy)]
        _count(counts, gold, pred, lambda t: t)
        _count(counts, gold, pred, lambda t: "LOCATION+STREET_ADDRESS" if t in PLACES else t, "*")
    lines = []
    structured = Counter[str]()
    for kind in (*STRUCTURED, "PERSON", "LOCATION", "STREET_ADDRESS", "*LOCATION+STREET_ADDRESS"):
        c = counts[kind]
        if kind in STRUCTURED:
            structured.update(c)
        p, r, f = _prf(c["tp_pred"], c["pred"], c["tp_gold"], c["gold"])
        lines.append(f"| {kind.lstrip('*')} (gold {c['gold']}) | {p:.3f} | {r:.3f} | {f:.3f} | |")
    c = structured
    p, r, f = _prf(c["tp_pred"], c["pred"], c["tp_gold"], c["gold"])
    lines.insert(0, f"| structured PII, micro (gold {c['gold']}) | {p:.3f} | {r:.3f} | {f:.3f} | |")
    return lines


def ner_benign_eval() -> list[str]:
    """Hand-written technical and everyday text with no personal data (never trained on);
    a literal backslash-n in a line is a line break."""
    return [row.replace("\\n", "\n") for row in datasets.lines(NER_BENIGN_EVAL)]


def eval_pii_benign(guard: Guard, policy: Policy) -> str:
    """Sentences of ner_benign_eval.txt with any PERSON / LOCATION / STREET_ADDRESS
    finding (all of them are false positives), and findings per type."""
    texts = ner_benign_eval()
    per_type = Counter[str]()
    flagged = 0
    for text in texts:
        found = [f.type for f in guard.sensitive(text, policy) if f.type in TAGGED]
        per_type.update(found)
        flagged += bool(found)
    detail = ", ".join(f"{kind} {per_type[kind]}" for kind in TAGGED)
    return (
        f"benign technical text (n={len(texts)}): sentences with any "
        f"{'/'.join(TAGGED)} finding: {flagged / len(texts):.3f} ({detail})"
    )


def _count(
    counts: dict[str, Counter[str]],
    gold: list[tuple[int, int, str]],
    pred: list[tuple[int, int, str]],
    kind_of: Any,
    prefix: str = "",
) -> None:
    gold = [(s, e, kind_of(t)) for s, e, t in gold]
    pred = [(s, e, kind_of(t)) for s, e, t in pred]
    for s, e, t in pred:
        counts[prefix + t]["pred"] += 1
        if any(t == gt and s < ge and gs < e for gs, ge, gt in gold):
            counts[prefix + t]["tp_pred"] += 1
    for gs, ge, gt in gold:
        counts[prefix + gt]["gold"] += 1
        if any(t == gt and s < ge and gs < e for s, e, t in pred):
            counts[prefix + gt]["tp_gold"] += 1


def latency_texts() -> list[str]:
    """1 KB texts mixing prose, PII and an injection, from the labelled data."""
    records = datasets.presidio_generated()
    prompts = [e.text for e in datasets.neuralchemy("validation")]
    texts = []
    for i in range(50):
        parts: list[str] = []
        j = i * 7
        while sum(len(p) + 1 for p in parts) < 1024:
            parts.append(records[j % len(records)]["full_text"])
            parts.append(prompts[j % len(prompts)])
            j += 1
        texts.append(" ".join(parts)[:1024])
    return texts


def eval_latency(guard: Guard, policy: Policy) -> list[str]:
    """Wall time per check, and CPU time (thread_time), which a busy machine
    inflates far less: both are printed so a noisy run can be read."""
    texts = latency_texts()

    def run(passes: int) -> tuple[list[float], list[float]]:
        wall, cpu = [], []
        for _ in range(passes):
            for text in texts:
                started, started_cpu = time.perf_counter(), time.thread_time()
                guard.check_input(text, policy)
                cpu.append((time.thread_time() - started_cpu) * 1000)
                wall.append((time.perf_counter() - started) * 1000)
        return wall, cpu

    cold = run(1)  # first sight of each word: the per-word caches fill
    warm = run(4)
    lines = [f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"]
    for name, (wall, cpu) in (("warm caches", warm), ("cold caches, first pass", cold)):
        w, c = statistics.quantiles(wall, n=100), statistics.quantiles(cpu, n=100)
        lines.append(
            f"CheckInput in-process, every detector on, 1 KB, {name} (n={len(wall)}): "
            f"wall p50 {w[49]:.2f} / p90 {w[89]:.2f} / p99 {w[98]:.2f} ms; "
            f"CPU p50 {c[49]:.2f} / p90 {c[89]:.2f} / p99 {c[98]:.2f} ms"
        )
    return lines


def main() -> None:
    settings = GuardrailsSettings()
    guard = load_guard(settings)
    policy = Policy(injection_threshold=settings.injection_threshold)
    header = ["| category | precision | recall | F1 | balanced accuracy |", "|---|---|---|---|---|"]
    print("# guardrails eval\n")
    print("## Injection and jailbreak\n")
    print("\n".join(header + eval_injection(guard, policy)))
    print("\n## PII (presidio-research generated set, span level: exact type, overlapping span)\n")
    print("\n".join(header + eval_pii(guard, policy)))
    print("\n" + eval_pii_benign(guard, policy))
    print(
        "\nNot trained on: the tagger learns from the templates filled with Faker values "
        "(ner_train.py); this set was made from the same templates and Faker, so names, "
        "places and sentence frames overlap. Gold ADDRESS is scored as STREET_ADDRESS."
    )
    print("\n## Latency\n")
    print("\n\n".join(eval_latency(guard, policy)))


if __name__ == "__main__":
    main()
