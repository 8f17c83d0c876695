"""Train the PERSON / LOCATION / STREET_ADDRESS tagger (part of `make train-guardrails`).

Data: presidio-research's sentence templates (presidio_research_templates.txt)
and our own frames (data/ner_extra_templates.txt), filled with values from
Faker (a PyPI package) in several locales, with a fixed seed. Nothing may
depend on the clock or on string hashing (see _faker and the "ssn" and
"day_of_week" fillers): a re-run writes the same bytes. The evaluation
set, presidio_research_generated_dev.json, is never read here. Caveat, stated
in the eval output too: that set was itself made from these templates with
Faker values, so template and name overlap flatter the figures compared with
text from the wild.

Entity-free text (standard-library docstrings, benign prompts of the neuralchemy
train split, our generated benign prompts) teaches it that ordinary words are
not names. Gazetteers (first/last names, cities, countries, street words) are sampled
from the same Faker locales and shipped inside the model file.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from services.guardrails import datasets
from services.guardrails.detectors.ner import MODEL_PATH
from services.guardrails.detectors.ner_features import LABELS, Gazetteer, sentence_features, tokens

LOCALES = (
    "en_US", "en_GB", "en_AU", "de_DE", "da_DK", "fi_FI", "hr_HR", "is_IS", "it_IT", "nl_NL",
    "no_NO", "sv_SE", "pl_PL", "es_ES", "fr_FR", "pt_BR", "hu_HU", "el_GR", "cs_CZ", "sl_SI",
    "es_MX", "pt_PT", "de_AT", "fr_CH", "ro_RO", "tr_TR", "lv_LV", "lt_LT", "et_EE", "sk_SK",
)  # fmt: skip
PERSON = {
    "person", "name", "first_name", "last_name", "name_female", "name_male", "first_name_male",
    "first_name_female", "first_name_nonbinary", "last_name_male", "last_name_female",
}  # fmt: skip
LOCATION = {"city", "country"}
STREET = {
    "address", "street_name", "building_number", "secondary_address", "postcode", "zipcode",
    "state_abbr",
}  # fmt: skip
STREET_KEYWORDS = (
    "street", "st", "road", "rd", "avenue", "ave", "lane", "ln", "drive", "dr", "boulevard",
    "blvd", "way", "court", "place", "square", "apt", "suite", "box", "unit", "floor", "via",
    "rue", "calle", "vej", "gade", "straße", "strasse", "weg", "laan", "plein", "gatan",
    "vägen", "tie", "katu", "út", "utca",
)  # fmt: skip
SENTENCES_PER_TEMPLATE = 40
_EPOCH, _END = datetime(1970, 1, 1), datetime(2024, 12, 31)
_BORN_FROM, _BORN_TO = date(1930, 1, 1), date(2006, 12, 31)
SEED = 20261128
_SLOT = re.compile(r"\{\{(\w+)\}\}")


def _faker(locale: str, seed: int) -> Any:
    """A Faker of its own with its own seed: nothing drawn elsewhere in the process changes it."""
    from faker import Faker

    fake = Faker(locale)
    fake.seed_instance(seed)
    for provider in fake.get_providers():
        # it_IT builds its city list from a set, so that the list's order, and the cities
        # a seed draws, would follow string hashing (PYTHONHASHSEED).
        cities = getattr(provider, "cities", None)
        if isinstance(cities, list):
            provider.cities = sorted(cities)
    return fake


def _fillers(fake: Any, rnd: random.Random) -> dict[str, Callable[[], Any]]:
    """Slot makers. Faker's date-related methods default to ranges that end "now": every
    one used here has a fixed range, else the sentences would change from day to day
    (and, since Faker's rejection sampling takes a number of draws that depends on the
    range, so would every later value of that locale)."""
    f = fake
    return {
        "person": f.name, "name": f.name, "first_name": f.first_name, "last_name": f.last_name,
        "name_female": f.name_female, "name_male": f.name_male,
        "first_name_male": f.first_name_male, "first_name_female": f.first_name_female,
        "first_name_nonbinary": f.first_name, "last_name_male": f.last_name,
        "last_name_female": f.last_name, "city": f.city, "country": f.country,
        "address": f.address, "street_name": f.street_name, "building_number": f.building_number,
        "secondary_address": _secondary(f, rnd), "postcode": f.postcode, "zipcode": f.postcode,
        "state_abbr": _state(f, rnd), "organization": f.company, "company": f.company,
        "credit_card_number": f.credit_card_number, "phone_number": f.phone_number,
        "email": f.email, "iban": f.iban, "ip_address": f.ipv4,
        # Faker's ssn() in fi_FI, sv_SE, no_NO, de_AT, pl_PL, el_GR, lv_LV, et_EE... encodes
        # a birth date counted back from today; US-style numbers, as in presidio's set, do not.
        "ssn": lambda: f.numerify("###-##-####"),
        "url": f.url, "job": f.job,
        # Fixed date ranges: Faker's defaults end "now", which would break reproducibility.
        "date_time": lambda: str(f.date_time_between(_EPOCH, _END)),
        "date_of_birth": lambda: f.date_between(_BORN_FROM, _BORN_TO).strftime("%m/%d/%Y"),
        "day_of_week": _day_of_week(f), "year": lambda: str(f.random_int(1950, 2024)),
        "age": lambda: str(rnd.randint(18, 90)),
        "prefix": f.prefix, "prefix_male": f.prefix_male, "prefix_female": f.prefix_female,
        "nationality": lambda: rnd.choice(["American", "German", "Danish", "Italian", "Greek"]),
        "nation_woman": lambda: rnd.choice(["Danish woman", "French woman", "Swede"]),
        "nation_plural": lambda: rnd.choice(["Danes", "Italians", "Swedes", "Greeks"]),
        "us_driver_license": lambda: f.bothify("?########").upper(),
    }  # fmt: skip


def _day_of_week(fake: Any) -> Callable[[], str]:
    """Faker's day_of_week() names the day of a date between 1970 and now; this one
    draws the date from a fixed range, named in the locale's words where Faker has them."""
    names: dict[str, str] | None = getattr(fake.day_of_week.__self__, "DAY_NAMES", None)

    def make() -> str:
        day = fake.date_time_between(_EPOCH, _END)
        return names[day.strftime("%w")] if names else day.strftime("%A")

    return make


def _secondary(fake: Any, rnd: random.Random) -> Callable[[], str]:
    def make() -> str:
        try:
            return str(fake.secondary_address())
        except AttributeError:
            return rnd.choice(["Apt. ", "Suite ", "Flat "]) + str(rnd.randint(1, 999))

    return make


def _state(fake: Any, rnd: random.Random) -> Callable[[], str]:
    def make() -> str:
        try:
            return str(fake.state_abbr())
        except AttributeError:
            return "".join(rnd.choice("ABCDEFGHKLMNPRSTW") for _ in range(2))

    return make


def _case(value: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.12:
        return value.lower()
    if roll < 0.17:
        return value.upper()
    return value


EXTRA_TEMPLATES = Path(__file__).resolve().parent / "data" / "ner_extra_templates.txt"


def extra_templates() -> list[str]:
    lines = EXTRA_TEMPLATES.read_text(encoding="utf-8").splitlines()
    return [
        line.replace("\\n", "\n") for line in lines if line.strip() and not line.startswith("#")
    ]


def generate(rng: random.Random) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """(sentence, [(start, end, label)]) from every template, Faker values in random locales.
    The same rng state gives the same rows, whatever else the process has drawn."""
    fakes = [_faker(locale, rng.randrange(1 << 30)) for locale in LOCALES]
    rnd = random.Random(rng.randrange(1 << 30))  # for the slots Faker does not fill
    fakers = {locale: _fillers(fake, rnd) for locale, fake in zip(LOCALES, fakes, strict=True)}
    out = []
    for template in datasets.presidio_templates() + extra_templates():
        for _ in range(SENTENCES_PER_TEMPLATE):
            fill = fakers[rng.choice(LOCALES)]
            text = ""
            spans: list[tuple[int, int, str]] = []
            cursor = 0
            for m in _SLOT.finditer(template):
                text += template[cursor : m.start()]
                slot = m.group(1)
                if slot == "address" and rng.random() < 0.7:
                    value, parts = compose_address(fill, rng)
                    spans += [(len(text) + s, len(text) + e, kind) for s, e, kind in parts]
                    text += value
                    cursor = m.end()
                    continue
                maker = fill.get(slot)
                value = _case(str(maker()), rng) if maker else slot
                label = (
                    "PERSON" if slot in PERSON
                    else "LOCATION" if slot in LOCATION
                    else "STREET_ADDRESS" if slot in STREET
                    else ""
                )  # fmt: skip
                if label:
                    spans.append((len(text), len(text) + len(value), label))
                text += value
                cursor = m.end()
            text += template[cursor:]
            out.append((text, [_with_suffix(text, span) for span in spans]))
    return out


ADDRESS_FORMATS = (
    "{building_number} {street_name}, {city}, {country} {postcode}",
    "{building_number} {street_name}\n{secondary_address}\n{city}\n{country} {postcode}",
    "{street_name} {building_number}, {postcode} {city}",
    "{building_number} {street_name} {secondary_address} {city} {state_abbr} {postcode}",
    "{building_number} {street_name}, {city}",
    "{secondary_address}, {building_number} {street_name}, {city} {postcode}, {country}",
)


def compose_address(
    fill: dict[str, Callable[[], Any]], rng: random.Random
) -> tuple[str, list[tuple[int, int, str]]]:
    """An address built from its parts, so that its city and country are labelled
    LOCATION (as presidio's own multi-line frames label them) and the rest
    STREET_ADDRESS; Faker's one-piece address() would hide where the city is."""
    text = ""
    spans: list[tuple[int, int, str]] = []
    template = rng.choice(ADDRESS_FORMATS)
    cursor = 0
    for m in re.finditer(r"\{(\w+)\}", template):
        text += template[cursor : m.start()]
        part = m.group(1)
        value = _case(str(fill[part]()), rng)
        kind = "LOCATION" if part in LOCATION else "STREET_ADDRESS"
        spans.append((len(text), len(text) + len(value), kind))
        text += value
        cursor = m.end()
    return text + template[cursor:], spans


_SUFFIX = re.compile(r" (?:street|st\.|road|avenue|lane)\b", re.IGNORECASE)


def _with_suffix(text: str, span: tuple[int, int, str]) -> tuple[int, int, str]:
    """ "Baker Street" is one address even where presidio's frame wrote "{{street_name}} Street"."""
    start, end, label = span
    if label == "STREET_ADDRESS":
        m = _SUFFIX.match(text, end)
        if m:
            return start, m.end(), label
    return span


def entity_free_texts() -> list[str]:
    """Ordinary prose and prompts, all tokens O: without them every capitalised word
    at a sentence start looks like a name to a tagger that only saw PII frames."""
    from services.guardrails import hard_negatives

    prompts = [e.text for e in datasets.neuralchemy("train") if e.label == 0 and len(e.text) < 400]
    return hard_negatives.prose()[::2] + prompts[::2] + hard_negatives.generate(300, seed=5)


def build_gazetteer(rng: random.Random, samples: int = 600) -> Gazetteer:
    kinds: dict[str, set[str]] = {}

    def add(value: str, kind: str) -> None:
        for m in re.finditer(r"\w+(?:['\u2019.\-]\w+)*", value.lower()):
            word = m.group()
            if len(word) > 1 and not word.isdigit():
                kinds.setdefault(word, set()).add(kind)

    for locale in LOCALES:
        fake = _faker(locale, rng.randrange(1 << 30))
        for _ in range(samples):
            add(fake.first_name(), "F")
            add(fake.last_name(), "L")
            add(fake.city(), "C")
            add(fake.country(), "N")
            street = fake.street_name()
            add(street, "S")
            words = street.split()
            if len(words) > 1:
                add(words[-1] if len(words[-1]) > len(words[0]) else words[0], "K")
    for word in STREET_KEYWORDS:
        kinds.setdefault(word, set()).add("K")
    return Gazetteer({w: "".join(sorted(k)) for w, k in sorted(kinds.items())})


def labelled_tokens(
    text: str, spans: list[tuple[int, int, str]]
) -> tuple[list[tuple[int, int]], list[str]]:
    toks = tokens(text)
    labels = []
    for s, e in toks:
        label = "O"
        for gs, ge, kind in spans:
            if gs <= s and e <= ge:
                label = kind
                break
        labels.append(label)
    return toks, labels


def train_ner() -> None:
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    rng = random.Random(SEED)
    gazetteer = build_gazetteer(rng)
    sentences = generate(rng) + [(text, []) for text in entity_free_texts()]
    rows: list[list[str]] = []
    y: list[int] = []
    for text, spans in sentences:
        toks, labels = labelled_tokens(text, spans)
        rows += sentence_features(text, toks, gazetteer)
        y += [LABELS.index(label) for label in labels]
    vectorizer = CountVectorizer(analyzer=lambda feats: feats, binary=True, min_df=2)
    matrix = vectorizer.fit_transform(rows)
    model = LogisticRegression(C=2.0, max_iter=300)
    model.fit(matrix, np.asarray(y))
    names = vectorizer.get_feature_names_out()
    coef = model.coef_  # (classes, features)
    keep = np.abs(coef).max(axis=0) >= 0.02
    weights = {
        str(names[i]): [round(float(v), 3) for v in coef[:, i]] for i in np.flatnonzero(keep)
    }
    payload = {
        "labels": [LABELS[int(c)] for c in model.classes_],
        "intercept": [round(float(v), 4) for v in model.intercept_],
        "weights": weights,
        "gazetteer": gazetteer.kinds,
    }
    with gzip.GzipFile(MODEL_PATH, "wb", mtime=0) as fh:
        fh.write(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())
    print(
        f"ner: {len(sentences)} sentences, {len(y)} tokens, {matrix.shape[1]} features, "
        f"kept {len(weights)}, gazetteer {len(gazetteer.kinds)} words, "
        f"{Path(MODEL_PATH).stat().st_size / 1e6:.2f} MB, {time.perf_counter() - started:.1f} s"
    )
