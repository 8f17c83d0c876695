"""`make train-guardrails` must rewrite the tagger's model byte-identically: the
generated training rows (gazetteer and sentences) may depend on the seed alone,
not on what the process drew before, the clock (Faker's "now"-relative dates)
or string hashing (PYTHONHASHSEED)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter (pytest's assertion rewriting of Faker, a pytest plugin,
# would make in-process runs slow) whose clock reads argv[1]: datetime.date and
# datetime.datetime are swapped before Faker imports them, so every "today"/"now" moves.
# Instead of presidio's templates (labelled data), one frame with every slot, 3 x 40
# sentences; generate() adds our own frames.
CHILD = """
import datetime as dt, hashlib, json, random, sys
moment = dt.datetime.fromisoformat(sys.argv[1])
class Date(dt.date):
    @classmethod
    def today(cls): return cls(moment.year, moment.month, moment.day)
class DateTime(dt.datetime):
    @classmethod
    def now(cls, tz=None): return cls(*moment.timetuple()[:6], tzinfo=tz)
    @classmethod
    def today(cls): return cls.now()
dt.date, dt.datetime = Date, DateTime
from faker import Faker
from services.guardrails import ner_train
slots = sorted(ner_train._fillers(ner_train._faker("en_US", 0), random.Random()))
templates = [" / ".join("{{%s}}" % slot for slot in slots)] * 3
ner_train.datasets.presidio_templates = lambda: templates
gazetteer = ner_train.build_gazetteer(random.Random(5), samples=20)
rows = ner_train.generate(random.Random(5))
Faker.seed(1); random.seed(2); Faker("it_IT").city(); Faker().ssn(); random.random()
assert ner_train.generate(random.Random(5)) == rows, "rows depend on earlier draws"
assert ner_train.generate(random.Random(6)) != rows
print(hashlib.sha256(json.dumps([gazetteer.kinds, rows]).encode()).hexdigest())
"""


def test_rows_depend_on_the_seed_alone() -> None:
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, moment],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for moment, hash_seed in (("2026-11-29T03:38:00", "0"), ("2031-02-14T17:05:09", "1"))
    ]
    digests = []
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
        digests.append(out.strip())
    assert digests[0] == digests[1]
