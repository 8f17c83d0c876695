"""Token features of the PERSON / LOCATION / STREET_ADDRESS tagger, shared by training and serving.

Only word tokens are classified; punctuation and line breaks between them are
features (the "gap"), and an address may bridge them when spans are merged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TOKEN = re.compile(r"\w+(?:['\u2019.\-]\w+)*")
LABELS = ("O", "PERSON", "LOCATION", "STREET_ADDRESS")


@dataclass(frozen=True, slots=True)
class Gazetteer:
    """Lower-cased tokens of name and place lists, by kind (F first name, L last
    name, C city, N country or region, S street word, K street keyword)."""

    kinds: dict[str, str]

    def of(self, lower: str) -> str:
        return self.kinds.get(lower, "")


def tokens(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in TOKEN.finditer(text)]


def shape(word: str) -> str:
    out: list[str] = []
    for ch in word:
        c = "X" if ch.isupper() else "x" if ch.isalpha() else "d" if ch.isdigit() else ch
        if not out or out[-1] != c:
            out.append(c)
    return "".join(out[:6])


def _gap(text: str, start: int, end: int) -> str:
    gap = text[start:end]
    if "\n" in gap:
        return "NL"
    stripped = gap.strip()
    return stripped[:2] if stripped else "_"


def word_groups(word: str, gazetteer: Gazetteer) -> tuple[list[str], ...]:
    """The features a word contributes to its own token (0) and to the tokens two
    and one before it (+2, +1: it is their next words) and one and two after it
    (-1, -2). Scores are sums over features, so these groups can be cached per
    word and summed; pair features (gaps, shape pairs) are added per token."""
    lw, sh = word.lower(), shape(word)
    g = gazetteer.of(lw)
    own = ["b", "w=" + lw, "s=" + sh, "p3=" + lw[:3], "x3=" + lw[-3:], "x2=" + lw[-2:]]
    own.append("len=" + str(min(len(word), 8)))
    own += ["g=" + c for c in g]
    as_prev = ["w-1=" + lw, "s-1=" + sh, *("g-1=" + c for c in g)]
    as_prev2 = ["w-2=" + lw, "s-2=" + sh, *("g-2=" + c for c in g)]
    as_next = ["w+1=" + lw, "s+1=" + sh, *("g+1=" + c for c in g)]
    as_next2 = ["w+2=" + lw, "s+2=" + sh, *("g+2=" + c for c in g)]
    return own, as_next2, as_next, as_prev, as_prev2


def gaps(text: str, spans: list[tuple[int, int]]) -> list[str]:
    """What separates each token from the next: "_" (spaces), "NL", or punctuation."""
    return [_gap(text, spans[i][1], spans[i + 1][0]) for i in range(len(spans) - 1)]


def pair_key(i: int, shapes: list[str], gap_list: list[str]) -> tuple[str, str, str, str]:
    before = "BOS" if i == 0 else gap_list[i - 1]
    after = "EOS" if i == len(shapes) - 1 else gap_list[i]
    return before, shapes[i - 1] if i else "", shapes[i], after


def pair_features_of(key: tuple[str, str, str, str]) -> list[str]:
    """Per-token features that depend on a word and its neighbours together."""
    before, prev_shape, sh, after = key
    f = ["bos"] if before == "BOS" else ["gb=" + before, "s-1s=" + prev_shape + "|" + sh]
    f.append("eos" if after == "EOS" else "ga=" + after)
    if before in (".", "!", "?", "NL", "BOS"):
        f.append("start|" + sh)
    return f


def pair_features(text: str, spans: list[tuple[int, int]], shapes: list[str]) -> list[list[str]]:
    gap_list = gaps(text, spans)
    return [pair_features_of(pair_key(i, shapes, gap_list)) for i in range(len(spans))]


def sentence_features(
    text: str, spans: list[tuple[int, int]], gazetteer: Gazetteer
) -> list[list[str]]:
    """Every feature of every token (training); serving sums cached word groups instead."""
    words = [text[s:e] for s, e in spans]
    groups = [word_groups(w, gazetteer) for w in words]
    pairs = pair_features(text, spans, [shape(w) for w in words])
    n = len(words)
    out: list[list[str]] = []
    for i in range(n):
        f = list(groups[i][0])
        if i >= 2:
            f += groups[i - 2][4]
        if i >= 1:
            f += groups[i - 1][3]
        if i + 1 < n:
            f += groups[i + 1][2]
        if i + 2 < n:
            f += groups[i + 2][1]
        out.append(f + pairs[i])
    return out
