"""Terms of the injection classifier, shared by training and serving.

Two tf-idf blocks over the folded text (normalize.py): word unigrams and
bigrams (words in any script), and character 2-5-grams of the whole text
(robust to inflection, to what folding leaves of obfuscation, and to Chinese,
Japanese and Korean, which run words together). Cue families (instructions aimed
at the model, personas, extraction, ...) and the disguises folding undid name
what a finding found; the classifier does not read them (cross-validation scored
it lower with them).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import numpy as np

from services.guardrails.normalize import disguises

# Words in any script (a Cyrillic or accented word is one word, not a bag of letters);
# any other non-space character, the underscore too ("ignore_all_rules"), is a token
# of its own.
_WORD = re.compile(r"(?:[^\W_]|')+|[^\w\s]|_")
# Han, kana and hangul: a run of them is a whole clause (no spaces between words), so
# it is read as its overlapping character pairs, as search engines index these scripts.
_CJK_RUN = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]{2,}")
MAX_WORDS = 1500
MAX_CHARS = 10_000  # about what 1500 words take
CHAR_SIZES = (2, 3, 4, 5)

CUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "override",
        re.compile(
            r"\b(?:ignore|disregard|forget|override|bypass|skip)\b[^.\n]{0,40}?\b(?:previous|prior|above|"
            r"earlier|preceding|original|initial|all|your|system)\b[^.\n]{0,25}?\b(?:instructions?|prompts?|"
            r"rules|directives|guidelines|programming|constraints|context)"
        ),
    ),
    (
        "persona",
        re.compile(
            r"\b(?:developer mode|dan\b|do anything now|jailbr\w+|unfiltered|uncensored|no (?:ethical |moral )?"  # noqa: E501
            r"(?:restrictions|limitations|filters|guidelines|rules)|without (?:any )?(?:restrictions|filters|"  # noqa: E501
            r"censorship|limits)|stay in character|you are (?:now |no longer )|pretend (?:to be|you)|"  # noqa: E501
            r"act as (?:an? )?(?:unrestricted|evil|uncensored)|from now on)"
        ),
    ),
    (
        "extraction",
        re.compile(
            r"\b(?:reveal|show|print|repeat|output|tell me|display|leak|dump|what (?:is|are|was))\b[^.\n]{0,40}?"  # noqa: E501
            r"\b(?:system prompt|initial (?:prompt|instructions)|hidden (?:prompt|instructions)|your "  # noqa: E501
            r"(?:instructions|prompt|rules|guidelines|configuration)|words above|text above)"
        ),
    ),
    (
        "addressed",
        re.compile(
            r"\b(?:ai|assistant|language model|llm|chatbot|model)s?\b[^.\n]{0,30}?\b(?:must|should|shall|"  # noqa: E501
            r"are instructed|is instructed|will now)\b|\bnote to (?:the )?(?:ai|assistant|model)"
        ),
    ),
    ("decoded", re.compile(r"\b(?:decode|base64|rot13|hex|encoded)\b")),
    (
        # Requests for harm, which the public sets label as jailbreaks.
        "harm",
        re.compile(
            r"\b(?:ransomware|malware|keylogger|botnet|virus|exploit|bomb|explosive|weapon|poison|"
            r"steal|hack(?:ing)? into|phishing|counterfeit|launder|hate speech|racist|sexist|"
            r"misinformation|disinformation|propaganda|suicide|self-harm|torture|illegal(?:ly)?|"
            r"drugs?|meth|fraud|scam|blackmail|extort|stalk|harass|terroris[mt]|genocide|"
            r"without (?:getting caught|detection|permission)|get away with)"
        ),
    ),
)


def words_of(normalized: str) -> list[str]:
    return _WORD.findall(normalized)[:MAX_WORDS]


def _split_cjk(word: str) -> list[str]:
    if word.isascii() or not _CJK_RUN.search(word):
        return [word]
    out: list[str] = []
    start = 0
    for m in _CJK_RUN.finditer(word):
        if m.start() > start:
            out.append(word[start : m.start()])
        out += [m.group()[i : i + 2] for i in range(len(m.group()) - 1)]
        start = m.end()
    if start < len(word):
        out.append(word[start:])
    return out


def word_terms(normalized: str) -> list[str]:
    """Words (a run of Chinese, Japanese or Korean as its character pairs) and word
    bigrams, with multiplicity."""
    words = [part for word in words_of(normalized) for part in _split_cjk(word)]
    return words + [a + " " + b for a, b in itertools.pairwise(words)]


def _char_text(normalized: str) -> str:
    return " ".join(normalized.split())[:MAX_CHARS]


def char_terms(normalized: str) -> list[str]:
    """Character 2-5-grams of the text with its runs of white space made one space."""
    text = _char_text(normalized)
    n = len(text)
    return [text[i : i + size] for size in CHAR_SIZES for i in range(n - size + 1)]


# Serving hashes the character n-grams with numpy instead of slicing ~4,000 strings
# per KB: a polynomial hash over code points, mod 2**64, plus the n-gram's length
# times a second constant. 64 bits: a collision among 200,000 terms is negligible.
_BASE = 0x100000001B3
_LENGTH_SALT = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1


def term_hash(term: str) -> int:
    """The hash char_term_hashes gives this n-gram (for the model's terms, at load)."""
    h = 0
    for ch in term:
        h = (h * _BASE + ord(ch)) & _MASK
    return (h + len(term) * _LENGTH_SALT) & _MASK


def char_term_hashes(normalized: str) -> np.ndarray:
    """term_hash of every n-gram char_terms lists, in one pass of array arithmetic."""
    text = _char_text(normalized)
    points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    out = []
    h = points
    for size in range(2, CHAR_SIZES[-1] + 1):
        h = h[:-1] * np.uint64(_BASE) + points[size - 1 :]
        if size in CHAR_SIZES:
            out.append(h + np.uint64(size * _LENGTH_SALT & _MASK))
    return np.concatenate(out) if out else np.empty(0, dtype=np.uint64)


# What training counts for each block of the model, by the block's name in the file.
TERMS: dict[str, Callable[[str], list[str]]] = {"words": word_terms, "chars": char_terms}


def cues(text: str, normalized: str) -> list[str]:
    """What a finding names: the instruction families in the normalized text and the
    disguises undone in the raw one."""
    return cue_names(normalized) + ["disguise:" + name for name in disguises(text)]


# A cue's pattern can only match if one of these words is present: cheap
# substring tests spare the regex scans on most texts.
CUE_GATES: dict[str, tuple[str, ...]] = {
    "override": ("ignore", "disregard", "forget", "override", "bypass", "skip"),
    "persona": (
        "developer", "dan", "anything", "jailbr", "unfiltered", "uncensored", "restriction",
        "limitation", "filter", "guideline", "rules", "censorship", "limits", "character",
        "you are", "pretend", "act as", "from now on",
    ),
    "extraction": ("prompt", "instruction", "above", "rules", "guideline", "configuration"),
    "addressed": ("ai", "assistant", "model", "llm", "chatbot"),
    "decoded": ("decode", "base64", "rot13", "hex", "encoded"),
    "harm": (
        "ransom", "malware", "keylog", "botnet", "virus", "exploit", "bomb", "explosive", "weapon",
        "poison", "steal", "hack", "phishing", "counterfeit", "launder", "hate", "racist",
        "sexist", "information", "propaganda", "suicide", "harm", "torture", "illegal", "drug",
        "meth", "fraud", "scam", "blackmail", "extort", "stalk", "harass", "terroris",
        "genocide", "without", "get away",
    ),
}  # fmt: skip


def cue_names(normalized: str) -> list[str]:
    return [
        name
        for name, pattern in CUES
        if any(word in normalized for word in CUE_GATES[name]) and pattern.search(normalized)
    ]
