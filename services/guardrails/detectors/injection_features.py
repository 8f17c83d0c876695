"""Features of the injection classifier, shared by training and serving.

Binary presence of word unigrams and bigrams, character 3-5-grams inside
words (robust to inflection and to what folding leaves of obfuscation; 2-3-grams
in Chinese, Japanese and Korean, which run words together), and a few cue
families that mark instructions aimed at the model.
"""

from __future__ import annotations

import re

from services.guardrails.normalize import normalize_with_disguises

# Words in any script (a Cyrillic or accented word is one word, not a bag of letters);
# any other non-space character, the underscore too ("ignore_all_rules"), is a token
# of its own.
_WORD = re.compile(r"(?:[^\W_]|')+|[^\w\s]|_")
# Han, kana and hangul: no spaces between words, so a "word" is a whole clause; its
# character 2-3-grams stand for the words in it.
_CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
MAX_WORDS = 1500

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


def word_features(word: str) -> list[str]:
    """What one distinct word contributes: itself and its character 3-5-grams
    (2-3-grams if it is written in Han, kana or hangul)."""
    out = ["w:" + word]
    if len(word) > 1 and word.isalnum():
        if not word.isascii() and _CJK.search(word):
            sizes: tuple[int, ...] = (2, 3)
        elif len(word) > 2:
            sizes = (3, 4, 5)
        else:
            return out
        padded = " " + word + " "
        n = len(padded)
        for size in sizes:
            out += [padded[i : i + size] for i in range(n - size + 1)]
    return out


def context_features(words: list[str], cues: list[str]) -> list[str]:
    """Features of the text as a whole: distinct bigrams, cue families, length."""
    bigrams = {a + " " + b for a, b in zip(["<s>", *words], words, strict=False)}
    out = ["b:" + b for b in bigrams]
    out += ["cue:" + name for name in cues]
    # Length in words; a run of Chinese, Japanese or Korean counts by its characters,
    # as it did when each was a token of its own (a clause is not one word).
    n = sum(len(w) if not w.isascii() and _CJK.search(w) else 1 for w in words)
    out.append(
        "len:long" if n > 200 else "len:tiny" if n <= 4 else "len:short" if n <= 10 else "len:mid"
    )
    return out


def analyse(text: str) -> tuple[str, list[str]]:
    """The normalized text and its cues: instruction families and undone disguises."""
    normalized, disguises = normalize_with_disguises(text)
    return normalized, cue_names(normalized) + ["disguise:" + name for name in disguises]


def features(text: str) -> list[str]:
    """All features of a raw text with multiplicity (training); serving caches
    word_features per word.

    Each distinct word counts once; n-grams shared by different words count once
    per word, so a text's score is a sum over its distinct words plus context."""
    normalized, cues = analyse(text)
    words = words_of(normalized)
    out: list[str] = []
    for word in dict.fromkeys(words):
        out += word_features(word)
    return out + context_features(words, cues)


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
