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
not names. Generated technical and everyday sentences (technical_rows) use words that
are also names or places in their ordinary sense: programming languages ("Julia",
"Crystal"), frameworks and tools ("Spring", "Kafka"), languages and nationalities as
adjectives, months, holidays, acronyms ("DAN"), quantities ("512 MB"); a few put a real
name or city beside them. Gazetteers (first/last names, cities, countries, street words)
are sampled from the same Faker locales and shipped inside the model file; nationality
and language words ("French" of "French Guiana") are kept out of the place lists.
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


def _label_of(slot: str) -> str:
    """The entity type a template slot is labelled with, "" for one that is not PII."""
    if slot in PERSON:
        return "PERSON"
    if slot in LOCATION:
        return "LOCATION"
    return "STREET_ADDRESS" if slot in STREET else ""


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
                label = _label_of(slot)
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


# Technical and everyday words that are also names or places: programming languages
# ("Julia", "Crystal", "Rust", a town in Austria), frameworks and tools ("Spring",
# "Phoenix", "Kafka", "Jenkins"), languages and nationalities used as adjectives
# ("into German", "French fries"), months, holidays, acronyms ("DAN", "GC") and
# quantities ("512 MB"). The frames below use them in that sense (all tokens O), and
# a few frames put a real name or city next to them, so that the context decides.
# Written for training only: data/ner_benign_eval.txt is held out, and rows whose word
# 4-grams overlap one of its lines by Jaccard > 0.5 are dropped.
NER_BENIGN_EVAL = EXTRA_TEMPLATES.with_name("ner_benign_eval.txt")
TECH_WORDS: dict[str, tuple[str, ...]] = {
    "lang": (
        "Rust", "Go", "Python", "Ruby", "Julia", "Swift", "Crystal", "Elixir", "Java", "Kotlin",
        "Scala", "Haskell", "Erlang", "Clojure", "Zig", "Nim", "Lua", "Perl", "PHP", "C",
        "C++", "C#", "TypeScript", "JavaScript", "Dart", "R", "OCaml", "Fortran", "COBOL",
        "Pascal", "Ada", "Prolog", "Lisp", "Racket", "Groovy", "Gleam", "Elm", "F#", "Bash",
        "PowerShell", "MATLAB", "Solidity", "Mojo", "Odin", "Pony", "Chapel", "Raku",
    ),
    "fw": (
        "Django", "Flask", "Rails", "Spring", "Spring Boot", "FastAPI", "Express", "Laravel",
        "Symfony", "Phoenix", "Sinatra", "Gin", "Echo", "Fiber", "Actix", "Axum", "Rocket",
        "Tokio", "Vapor", "Genie", "Lucky", "Amber", "Ktor", "Quarkus", "Micronaut",
        "Angular", "React", "Vue", "Svelte", "Ember", "Next.js", "Nuxt", "Remix", "Astro",
        "Hugo", "Jekyll", "Tornado", "Pyramid", "Bottle", "Sanic", "Celery", "Hibernate",
        "Pandas", "NumPy", "PyTorch", "TensorFlow", "Keras", "Flux", "Ecto", "Sidekiq",
    ),
    "tool": (
        "Kafka", "Redis", "Postgres", "Docker", "Kubernetes", "Terraform", "Ansible",
        "Jenkins", "Travis", "Grafana", "Prometheus", "Kibana", "Elasticsearch", "Nginx",
        "Apache", "Consul", "Vault", "Nomad", "Helm", "Airflow", "Spark", "Hadoop", "Flink",
        "Cassandra", "Sentry", "RabbitMQ", "Webpack", "Vite", "Babel", "ESLint", "Git",
        "Mercurial", "Maven", "Gradle", "Cargo", "Bundler", "Poetry", "Conda", "Homebrew",
        "Vim", "Emacs", "Neovim", "Xcode", "Eclipse", "IntelliJ", "Selenium", "Cypress",
        "Jest", "Mocha", "Chef", "Puppet", "Salt", "Envoy", "Istio", "Linkerd", "Jaeger",
        "Zookeeper", "Memcached", "SQLite", "MySQL", "MongoDB", "Neo4j", "Hive", "Presto",
    ),
    "product": (
        "Apple", "Google", "Microsoft", "Amazon", "Netflix", "Spotify", "Oracle", "IBM",
        "Intel", "Nvidia", "AMD", "Tesla", "Samsung", "Sony", "Nintendo", "Adobe",
        "Salesforce", "Shopify", "Atlassian", "Jira", "Confluence", "Notion", "Figma", "Zoom",
        "Discord", "Dropbox", "Heroku", "Vercel", "Netlify", "Cloudflare", "DigitalOcean",
        "Mozilla", "Firefox", "Chrome", "Safari", "Opera", "Android", "Windows", "Linux",
        "Ubuntu", "Debian", "Fedora", "Alexa", "Siri", "Cortana", "Gemini", "Claude",
        "ChatGPT", "Copilot", "Excel", "Outlook", "Teams", "WhatsApp", "Telegram", "Signal",
    ),
    "human": (
        "English", "French", "German", "Spanish", "Italian", "Portuguese", "Dutch", "Danish",
        "Swedish", "Norwegian", "Finnish", "Polish", "Czech", "Slovak", "Hungarian",
        "Romanian", "Greek", "Turkish", "Russian", "Ukrainian", "Arabic", "Hebrew", "Hindi",
        "Urdu", "Bengali", "Chinese", "Mandarin", "Cantonese", "Japanese", "Korean",
        "Vietnamese", "Thai", "Indonesian", "Swahili", "Catalan", "Basque", "Welsh", "Irish",
        "Icelandic", "Croatian", "Serbian", "Estonian", "Latvian", "Lithuanian", "Persian",
    ),
    "nat": (
        "American", "British", "French", "German", "Italian", "Spanish", "Swiss", "Austrian",
        "Belgian", "Dutch", "Danish", "Swedish", "Finnish", "Polish", "Czech", "Greek",
        "Turkish", "Russian", "Indian", "Chinese", "Japanese", "Korean", "Thai", "Mexican",
        "Brazilian", "Canadian", "Australian", "Irish", "Scottish", "European", "African",
        "Asian", "Nordic", "Scandinavian", "Latin American", "Middle Eastern",
    ),
    "dish": (
        "French fries", "French onion soup", "German potato salad", "Greek yogurt",
        "Swiss cheese", "Danish pastry", "English muffin", "Belgian chocolate",
        "Turkish delight", "Italian espresso", "Spanish omelette", "Irish stew",
        "Thai green curry", "Japanese ramen", "Korean barbecue", "Mexican hot chocolate",
        "Portuguese custard tart", "Indian chai", "Vietnamese iced coffee", "Scotch egg",
        "Hungarian goulash", "Polish dumplings", "Russian salad", "Brazilian cheese bread",
        "New York cheesecake", "Boston cream pie", "Dutch apple pie", "Swedish meatballs",
    ),
    "month": (
        "January", "February", "March", "April", "May", "June", "July", "August",
        "September", "October", "November", "December",
    ),
    "day": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "holiday": (
        "Christmas Eve", "Christmas", "New Year's Eve", "New Year's Day", "Easter Monday",
        "Easter", "Black Friday", "Cyber Monday", "Boxing Day", "Labor Day", "Thanksgiving",
        "Halloween", "Valentine's Day", "Mother's Day", "Father's Day", "Independence Day",
        "Good Friday", "Midsummer", "Diwali", "Ramadan", "Hanukkah", "Lunar New Year",
    ),
    "acr": (
        "DAN", "API", "JSON", "AWS", "NASA", "GC", "CI", "CD", "PR", "CPU", "GPU", "RAM",
        "SSD", "HTTP", "TLS", "SSH", "DNS", "CDN", "VPN", "SQL", "ORM", "CLI", "GUI", "IDE",
        "SDK", "LLM", "GPT", "RAG", "ETL", "SLA", "SLO", "KPI", "FAQ", "PDF", "CSV", "XML",
        "YAML", "HTML", "CSS", "UI", "UX", "QA", "OKR", "MVP", "LTS", "EOL", "NDA", "CEO",
        "CTO", "HR", "IT", "WHO", "NATO", "IEEE", "ISO", "GDPR", "HIPAA", "OAuth", "JWT",
        "CORS", "CSRF", "XSS", "WASM", "JVM", "BEAM", "NPM", "PyPI", "ARM", "RISC-V",
    ),
    "jailbreak": ("DAN", "STAN", "DUDE", "AIM", "Developer Mode", "DAN 6.0", "Mongo Tom"),
    "unit": ("MB", "GB", "KB", "TB", "ms", "ns", "fps", "px", "req/s", "GiB", "MiB", "Mbps"),
    "menu": (
        "File", "Edit", "View", "New", "Open", "Save As", "Settings", "Preferences", "Tools",
        "Help", "Window", "Insert", "Format", "Share", "Export", "Account", "Privacy",
        "Security", "Advanced", "General", "Network", "Display", "New Folder", "New Window",
    ),
    "heading": (
        "Installation", "Usage", "Getting Started", "Configuration", "Troubleshooting",
        "Changelog", "Contributing", "License", "Known Issues", "Release Notes", "Roadmap",
        "Overview", "Requirements", "Quick Start", "Examples", "Motivation", "Background",
        "Design", "Alternatives", "Open Questions", "Acknowledgements", "Next Steps",
    ),
    "opener": (
        "Sure", "Of course", "Great", "Thanks", "Absolutely", "Certainly", "Unfortunately",
        "Interestingly", "Honestly", "Alright", "Good catch", "Yes", "No", "Indeed", "Well",
        "Okay", "Correct", "Exactly", "Note", "Tip", "Warning", "Update", "Fixed",
    ),
    "title": (
        "War and Peace", "The Godfather", "Jaws", "Alien", "Titanic", "Frozen", "Up",
        "Cars", "The Lion King", "Star Wars", "Blade Runner", "The Martian", "Interstellar",
        "Arrival", "Gravity", "The Road", "Catch-22", "Animal Farm", "Brave New World",
        "The Pragmatic Programmer", "Design Patterns", "Refactoring", "The Mythical Man-Month",
        "Code Complete", "Domain-Driven Design", "The Phoenix Project", "Good Omens",
        "Little Women", "Great Expectations", "The Silence of the Lambs", "Casablanca",
        "Metropolis", "Vertigo", "Parasite", "Amelie", "Coco", "Moana", "Encanto",
    ),
    "task": (
        "web servers", "data analysis", "embedded work", "scripting", "game development",
        "command-line tools", "machine learning", "distributed systems", "mobile apps",
        "teaching beginners", "quick prototypes", "numerical code", "text processing",
    ),
    "thing": (
        "the parser", "the scheduler", "the test suite", "the build", "the cache layer",
        "the importer", "the billing job", "the search index", "the login flow",
        "the websocket handler", "the CLI", "the config loader", "the retry logic",
    ),
}  # fmt: skip
NAMELIKE = (
    "Julia", "Ruby", "Crystal", "April", "May", "June", "Pascal", "Ada", "Hugo", "Amber",
    "Travis", "Cassandra", "Alexa", "Dan", "Summer", "Autumn", "Jade", "Kafka", "Jenkins",
)  # fmt: skip
# Entity-free frames: every token O. {n} is a number, {v} a version.
TECH_FRAMES = (
    "{lang} is my first choice for {task}.",
    "The {lang} port of {thing} still lacks streaming support.",
    "How would you write {thing} in {lang}?",
    "I rewrote {thing} in {lang} and it got {n} times faster.",
    "{lang} has a steep learning curve but the tooling is excellent.",
    "Which is better for {task}: {lang} or {lang}?",
    "{lang} {v} deprecates the old syntax for closures.",
    "Our backend is written in {lang} and the frontend in {lang}.",
    "Does {lang} have generics yet?",
    "Idiomatic {lang} avoids global state.",
    "Compile the {lang} sources with optimisations turned on.",
    "After {n} years of {lang}, picking up {lang} took a week.",
    "Benchmarks: {lang} {n} ms, {lang} {n} ms, {lang} {n} ms.",
    "Is {lang} garbage collected?",
    "what's the {lang} equivalent of a list comprehension",
    "{lang} or {lang} for {task}? I can't decide.",
    "I love {lang}.",
    "Code in {lang}:",
    "Here's the same function in {lang}:\n",
    "The {fw} app sits behind {tool}.",
    "{fw} makes routing simple, while {fw} has better documentation.",
    "Upgrade {fw} to {v} before the next security release.",
    "We pair {fw} with {tool} for background jobs.",
    "The official {fw} tutorial skips testing entirely.",
    "I'm building an internal dashboard with {fw}.",
    "{fw} {v} dropped support for {lang} {v}.",
    "{tool} crashed again after the upgrade.",
    "Configure {tool} to keep logs for {n} days.",
    "{tool} is overkill for a project this size.",
    "We replaced {tool} with {tool} last year.",
    "{tool} exposes its metrics on port {port}.",
    "The {tool} cluster has {n} nodes and {n} GB of memory each.",
    "{product} announced new pricing for its cloud plans.",
    "The {product} app keeps logging me out.",
    "Is {product} or {product} better for video calls?",
    "Export the board from {product} as a spreadsheet.",
    "{product} and {product} both support single sign-on.",
    "Please answer in {human}.",
    "What is the {human} word for deadline?",
    "The subtitles are available in {human} and {human} only.",
    "My {human} is rusty, so keep the explanation simple.",
    "Translate the following into {human}:\n",
    "Is this correct {human}?",
    "{human} has grammatical gender, which trips up learners.",
    "The {human} edition of the handbook is two versions behind.",
    "Native {human} speakers would phrase it differently.",
    "The {nat} market is our second largest.",
    "They hired a {nat} design agency for the rebrand.",
    "{nat} privacy law is stricter than ours.",
    "The {dish} was cold when it arrived.",
    "I'll have the {dish}, thanks.",
    "Give me a recipe for {dish} with {n} ingredients.",
    "{dish} is easier to make than it looks.",
    "Our fiscal year ends in {month}.",
    "{month} was our busiest month so far.",
    "The beta opens in {month} and closes in {month}.",
    "See you on {day}!",
    "{day} mornings are for planning.",
    "The office is closed on {holiday}.",
    "Happy {holiday}!",
    "Traffic doubles around {holiday} every year.",
    "Every {day} we groom the backlog.",
    "By the end of {month} the migration should be finished.",
    "The {acr} is down again.",
    "{acr} latency went up after the deploy.",
    "Check the {acr} section of the docs.",
    "{acr} support arrived in version {v}.",
    "The {acr} and the {acr} are configured separately.",
    "Prompts like {jailbreak} try to talk the model out of its rules.",
    "The {jailbreak} prompt is blocked by the injection filter.",
    "{jailbreak} mode is a known jailbreak.",
    "Is {jailbreak} still working on the new models?",
    "The image is {n} {unit} after compression.",
    "Peak throughput was {n} {unit}.",
    "Allocate {n} {unit} to the container.",
    "The download is {n} {unit}.",
    "Table for {n}, please.",
    "Platform {n} for the next train.",
    "Level {n} is much harder than level {n}.",
    "Season {n}, episode {n} is the best one.",
    "Open {menu} > {menu} and choose {menu}.",
    "Click {menu}, then {menu}.",
    "Go to {menu} and select {menu}.",
    "## {heading}",
    "### {heading}\n{lang} {v} or later is required.",
    "# {heading}",
    "- **{fw}**: fast to start with",
    "| {lang} | {n} ms | {n} MB |",
    "{n}. {heading}",
    "{opener}, {thing} now passes.",
    "{opener}! Here is the updated version.",
    "{opener}: {thing} needs a timeout.",
    "I'm halfway through {title}.",
    "The sequel to {title} was a disappointment.",
    "{title} won several awards.",
    "We quoted {title} in the onboarding doc.",
    "{title} is shorter than I remembered.",
)  # fmt: skip
# Frames with a real name or place (labelled) next to the words above.
TECH_PERSON_FRAMES = (
    "{person} wrote the {lang} client.",
    "{first_name} prefers {lang} over {lang}.",
    "Ask {first_name} about the {fw} upgrade.",
    "{person} from the {city} office speaks {human}.",
    "{first_name} moved to {city} and now writes {lang} full time.",
    "{person} gave a talk about {tool} in {city}.",
    "{namelike} {last_name} reviewed the {lang} patch.",
    "Thanks {namelike}, the {tool} config works now.",
    "{namelike} {last_name} joined the {product} team in {month}.",
    "The {human} translation was done by {person}.",
    "Meetups about {lang} are popular in {city}.",
    "{first_name} said the {acr} was down on {day}.",
    "Ship the {n} TB drives to {address}.",
    "The {tool} meetup moved to {building_number} {street_name}, {city}.",
    "Mail the signed {acr} to {person}, {address}.",
)  # fmt: skip
TECH_ROWS_PER_FRAME = 24


def technical_rows(rng: random.Random) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """Technical and everyday sentences (see TECH_WORDS), mostly entity-free."""
    fakes = [_faker(locale, rng.randrange(1 << 30)) for locale in LOCALES]
    rnd = random.Random(rng.randrange(1 << 30))
    fakers = [_fillers(fake, rnd) for fake in fakes]
    held_out = [_grams(line) for line in _eval_lines(NER_BENIGN_EVAL)]
    out = []
    for frame in TECH_FRAMES + TECH_PERSON_FRAMES:
        for _ in range(TECH_ROWS_PER_FRAME):
            fill = rng.choice(fakers)
            text = ""
            spans: list[tuple[int, int, str]] = []
            cursor = 0
            for m in re.finditer(r"\{(\w+)\}", frame):
                text += frame[cursor : m.start()]
                slot = m.group(1)
                label = ""
                if slot in TECH_WORDS:
                    value = rng.choice(TECH_WORDS[slot])
                elif slot == "namelike":
                    value, label = rng.choice(NAMELIKE), "PERSON"
                elif slot == "n":
                    value = str(rng.choice((2, 3, 5, 8, 12, 16, 30, 64, 100, 256, 512, 1024)))
                elif slot == "v":
                    value = f"{rng.randint(1, 9)}.{rng.randint(0, 20)}"
                elif slot == "port":
                    value = str(rng.choice((8080, 9090, 3000, 5432, 6379, 9100)))
                elif slot == "address":
                    value, parts = compose_address(fill, rng)
                    spans += [(len(text) + s, len(text) + e, kind) for s, e, kind in parts]
                else:
                    value = str(fill[slot]())
                    label = _label_of(slot)
                if label:
                    spans.append((len(text), len(text) + len(value), label))
                text += value
                cursor = m.end()
            text += frame[cursor:]
            if not any(_jaccard(_grams(text), gold) > 0.5 for gold in held_out):
                out.append((text, spans))
    return out


def _grams(text: str, n: int = 4) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + n]) for i in range(max(1, len(words) - n + 1))}


def _jaccard(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _eval_lines(path: Path) -> list[str]:
    rows = path.read_text(encoding="utf-8").splitlines()
    return [row.replace("\\n", "\n") for row in rows if row.strip() and not row.startswith("#")]


# Nationality and language words: part of some place names ("French Guiana", "Czech
# Republic", "British Virgin Islands"), but on their own an adjective or a language. They
# are kept out of the city and country gazetteers; the tagger learns places from context.
DEMONYMS = frozenset(w.lower() for w in TECH_WORDS["human"] + TECH_WORDS["nat"] if " " not in w)


def build_gazetteer(rng: random.Random, samples: int = 600) -> Gazetteer:
    kinds: dict[str, set[str]] = {}

    def add(value: str, kind: str) -> None:
        for m in re.finditer(r"\w+(?:['\u2019.\-]\w+)*", value.lower()):
            word = m.group()
            if kind in "CN" and word in DEMONYMS:
                continue
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
    sentences = generate(rng) + technical_rows(rng) + [(t, []) for t in entity_free_texts()]
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
