"""Readers of the labelled development data in ../shared/data/guardrails (train and eval only)."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA_DIR = Path(
    os.environ.get("AIMESH_GUARDRAILS_DATA_DIR", HERE.parents[2] / "shared" / "data" / "guardrails")
)
BENIGN_TRIGGER_EVAL = HERE / "data" / "benign_trigger_eval.txt"
BENIGN_TRIGGER_EVAL_INDEPENDENT = HERE / "data" / "benign_trigger_eval_independent.txt"
BENIGN_ORDINARY_EVAL = HERE / "data" / "benign_ordinary_eval.txt"
BENIGN_MULTILINGUAL_EVAL = HERE / "data" / "benign_multilingual_eval.txt"
ATTACKS_MULTILINGUAL_EVAL = HERE / "data" / "attacks_multilingual_eval.txt"
# Written by a helper that saw none of our data, in the ten trained languages.
BENIGN_MULTILINGUAL_EVAL_INDEPENDENT = HERE / "data" / "benign_multilingual_eval_independent.txt"
ATTACKS_MULTILINGUAL_EVAL_INDEPENDENT = HERE / "data" / "attacks_multilingual_eval_independent.txt"
# Harmless prompts that only look harmful (persona framings, dangerous words), by other hands.
BENIGN_LOOKALIKE_EVAL_INDEPENDENT = HERE / "data" / "benign_lookalike_eval_independent.txt"
# Short everyday messages (greetings, thanks, wishes to a group), by other hands.
BENIGN_SOCIAL_EVAL_INDEPENDENT = HERE / "data" / "benign_social_eval_independent.txt"
# Logs, configs, stack traces, code and data that users paste, by other hands (JSON lines:
# the texts span several lines).
TECHNICAL_PASTES_EVAL_INDEPENDENT = HERE / "data" / "technical_pastes_eval_independent.jsonl"


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: int
    category: str = ""


def _data_dir() -> Path:
    if DATA_DIR.is_dir():
        return DATA_DIR
    fallback = Path("/work/shared/data/guardrails")
    if fallback.is_dir():
        return fallback
    raise SystemExit(f"labelled data not found at {DATA_DIR}; set AIMESH_GUARDRAILS_DATA_DIR")


def neuralchemy(split: str) -> list[Example]:
    import pyarrow.parquet as pq

    path = _data_dir() / "prompt_injection" / f"neuralchemy_core_{split}.parquet"
    rows = pq.read_table(path, columns=["text", "label", "category"]).to_pylist()
    return [Example(r["text"], int(r["label"]), r["category"]) for r in rows]


def slabs(split: str) -> list[Example]:
    path = _data_dir() / "prompt_injection" / f"slabs_{split}.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        return [Example(r["text"], int(r["label"]), "slabs") for r in csv.DictReader(fh)]


def lines(path: Path) -> list[str]:
    """The lines of a hand-written data file, without blank lines and # comments."""
    rows = path.read_text(encoding="utf-8").splitlines()
    return [row for row in rows if row.strip() and not row.startswith("#")]


def texts(path: Path) -> list[str]:
    """The "text" of each record of a JSON-lines data file (texts of several lines)."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh if line.strip()]


def benign_trigger_eval() -> list[str]:
    return lines(BENIGN_TRIGGER_EVAL)


def benign_trigger_eval_independent() -> list[str]:
    return lines(BENIGN_TRIGGER_EVAL_INDEPENDENT)


def benign_ordinary_eval() -> list[str]:
    return lines(BENIGN_ORDINARY_EVAL)


def benign_multilingual_eval() -> list[str]:
    return lines(BENIGN_MULTILINGUAL_EVAL)


def attacks_multilingual_eval() -> list[str]:
    return lines(ATTACKS_MULTILINGUAL_EVAL)


def benign_multilingual_eval_independent() -> list[str]:
    return lines(BENIGN_MULTILINGUAL_EVAL_INDEPENDENT)


def attacks_multilingual_eval_independent() -> list[str]:
    return lines(ATTACKS_MULTILINGUAL_EVAL_INDEPENDENT)


def benign_lookalike_eval_independent() -> list[str]:
    return lines(BENIGN_LOOKALIKE_EVAL_INDEPENDENT)


def benign_social_eval_independent() -> list[str]:
    return lines(BENIGN_SOCIAL_EVAL_INDEPENDENT)


def technical_pastes_eval_independent() -> list[str]:
    return texts(TECHNICAL_PASTES_EVAL_INDEPENDENT)


def attack_eval_sets() -> list[str]:
    """Every hand-written attack evaluation prompt: training must never see them."""
    return attacks_multilingual_eval() + attacks_multilingual_eval_independent()


def benign_eval_sets() -> list[str]:
    """Every hand-written benign evaluation prompt: training must never see them."""
    return (
        benign_trigger_eval()
        + benign_trigger_eval_independent()
        + benign_ordinary_eval()
        + benign_multilingual_eval()
        + benign_multilingual_eval_independent()
        + benign_lookalike_eval_independent()
        + technical_pastes_eval_independent()
        + benign_social_eval_independent()
    )


def presidio_generated() -> list[dict[str, Any]]:
    path = _data_dir() / "pii" / "presidio_research_generated_dev.json"
    data: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return data


def presidio_templates() -> list[str]:
    path = _data_dir() / "pii" / "presidio_research_templates.txt"
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
