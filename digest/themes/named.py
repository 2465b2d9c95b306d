"""Named themes ([[themes]] in config.toml) claim stories by keyword score.

A keyword in the headline (title, kicker, subtitle) weighs most, one among the ranker's
keywords next, the body least and capped, so an article that mentions 创城 once in passing is
not claimed by 文明城市创建 while one headlined about it is. A theme's `exclude` words veto it
when they appear in the headline or among the article's keywords. Highest score wins; a tie
goes to the theme listed first in config.toml, so the editor's order decides.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..config import Config, ThemeConfig
from ..model import StoredArticle

# With CLAIM_SCORE = 4 a theme needs a headline hit plus some support, two distinct keywords
# among the ranker's, or a body that keeps returning to the subject; one passing mention
# (1 point) never claims.
HEADLINE_WEIGHT = 3
KEYWORD_WEIGHT = 2
BODY_WEIGHT = 1
BODY_CAP_PER_WORD = 3  # occurrences of one word in the body that count, at most
CLAIM_SCORE = 4

_HEADLINE_NOISE = re.compile(r"\s+")


@dataclass(frozen=True)
class ThemeScore:
    name: str
    score: int
    excluded: bool


def theme_rules(config: Config) -> tuple[ThemeConfig, ...]:
    """The configured taxonomy (config.DEFAULT_THEMES when config.toml names none)."""
    return tuple(config.themes)


def headline(article: StoredArticle) -> str:
    parts = (article.kicker, article.title, article.subtitle)
    return _HEADLINE_NOISE.sub("", "".join(p for p in parts if p))


def display_title(article: StoredArticle, limit: int = 30) -> str:
    """The title a reader sees; a photo item without a printed title gets its caption's start."""
    for text in (article.title, article.subtitle, article.kicker):
        if text:
            return text
    body = "".join(article.paragraphs).strip()
    return body[:limit] + ("…" if len(body) > limit else "") if body else "(无标题)"


@functools.lru_cache(maxsize=65536)  # a week's keywords repeat from article to article
def _substrings(word: str) -> frozenset[str]:
    return frozenset(word[i:j] for i in range(len(word)) for j in range(i + 1, len(word) + 1))


@dataclass(frozen=True)
class _Rule:
    """A theme prepared for scoring many articles: each keyword once, with its substrings."""
    name: str
    words: tuple[tuple[str, frozenset[str], frozenset[str]], ...]  # word, substrings, pieces
    exclude: tuple[str, ...]


@dataclass(frozen=True)
class _Text:
    """What the rules look at in one article. `in_keywords` holds every substring of the
    article's keywords, so "the word occurs in a keyword" is one set lookup per word."""
    head: str
    body: str
    # the body's letters and pairs of letters (or only those the rules' keywords have): a
    # word with a letter or pair outside it is not in the body
    letters: frozenset[str]
    in_keywords: frozenset[str]   # substrings of all keywords (for exclude)
    in_long_keywords: frozenset[str]  # substrings of keywords of 2+ characters
    long_keywords: frozenset[str]
    around_keywords: frozenset[str]  # the rules' words that have a long keyword inside


def _pieces(text: str) -> frozenset[str]:
    """The letters and the pairs of adjacent letters of a text."""
    return frozenset(text).union(text[i:i + 2] for i in range(len(text) - 1))


def _rule(rule: ThemeConfig) -> _Rule:
    return _Rule(rule.name, tuple((w, _substrings(w), _pieces(w))
                                  for w in dict.fromkeys(rule.keywords)),
                 tuple(rule.exclude))


def _containing(rules: Sequence[_Rule]) -> dict[str, frozenset[str]]:
    """Each substring of the rules' words -> the words it is part of: a long keyword's
    entry names the words it is inside, one lookup per keyword, where testing each word's
    substrings against the keywords took a set operation per word, theme and article."""
    inside: dict[str, set[str]] = {}
    for rule in rules:
        for word, parts, _ in rule.words:
            for part in parts:
                inside.setdefault(part, set()).add(word)
    return {part: frozenset(words) for part, words in inside.items()}


def _text(article: StoredArticle, containing: dict[str, frozenset[str]],
          body: str | None = None, letters: frozenset[str] | None = None) -> _Text:
    long = frozenset(k for k in article.keywords if len(k) >= 2)
    body = "".join(article.paragraphs) if body is None else body
    in_long = frozenset().union(*map(_substrings, long))
    # a keyword of one character is its only substring
    return _Text(head=headline(article), body=body,
                 letters=_pieces(body) if letters is None else letters,
                 in_keywords=in_long.union(k for k in article.keywords if len(k) == 1),
                 in_long_keywords=in_long, long_keywords=long,
                 around_keywords=frozenset().union(
                     *(containing[k] for k in long if k in containing)))


def _score(text: _Text, rule: _Rule) -> ThemeScore:
    excluded = any(word in text.head or word in text.in_keywords for word in rule.exclude)
    score = 0
    for word, _, letters in rule.words:  # a keyword listed twice counts once
        if word in text.head:
            score += HEADLINE_WEIGHT
        # the word is part of a keyword, or a keyword is part of the word
        if word in text.in_long_keywords or word in text.around_keywords:
            score += KEYWORD_WEIGHT
        if letters <= text.letters:  # counting scans the body: only when it may be there
            score += BODY_WEIGHT * min(text.body.count(word), BODY_CAP_PER_WORD)
    return ThemeScore(rule.name, score, excluded)


def score_theme(article: StoredArticle, rule: ThemeConfig) -> ThemeScore:
    prepared = _rule(rule)
    return _score(_text(article, _containing([prepared])), prepared)


def _letters_present(bodies: Sequence[str], rules: Sequence[_Rule]) -> list[frozenset[str]]:
    """Each body's letters and pairs of adjacent letters among the rules' keywords' (their
    `_pieces`), found for the whole week in numpy: the test before counting a word only
    needs these. A set of all of each body's letters took 1.2 s for a week of 5,000 articles
    (12 million characters), this 0.3 s with the pairs; the pairs leave 32,000 of the
    152,000 counts the letters alone let through (工 and 作 are in most bodies, 工作 in
    fewer): str.count 0.54 to 0.13 s under cProfile)."""
    import numpy as np

    pieces = {p for rule in rules for _, _, word_pieces in rule.words for p in word_pieces}
    wanted = sorted(p for p in pieces if len(p) == 1)
    if not bodies or not wanted:
        return [frozenset()] * len(bodies)
    codes = np.frombuffer("".join(bodies).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    column = np.full(0x110000, -1, dtype=np.int32)  # code point -> its place in `wanted`
    column[[ord(c) for c in wanted]] = np.arange(len(wanted), dtype=np.int32)
    letter = column[codes]
    at = np.flatnonzero(letter >= 0)
    owner = np.searchsorted(np.cumsum([len(b) for b in bodies]), at, side="right")
    present = np.zeros((len(bodies), len(wanted)), dtype=bool)
    present[owner, letter[at]] = True
    names = np.array(wanted, dtype=object)
    out = [names[row].tolist() for row in present]
    # pairs: two wanted letters side by side in one body, named by their places in `wanted`
    pairs = sorted(p for p in pieces if len(p) == 2)
    if pairs and at.size > 1:
        width = len(wanted)
        pair_column = np.full(width * width, -1, dtype=np.int32)
        pair_column[[column[ord(p[0])] * width + column[ord(p[1])] for p in pairs]] = (
            np.arange(len(pairs), dtype=np.int32))
        side = (at[1:] == at[:-1] + 1) & (owner[1:] == owner[:-1])
        first = at[:-1][side]
        pair = pair_column[letter[first].astype(np.int64) * width + letter[first + 1]]
        hit = pair >= 0
        has_pair = np.zeros((len(bodies), len(pairs)), dtype=bool)
        has_pair[owner[:-1][side][hit], pair[hit]] = True
        pair_names = np.array(pairs, dtype=object)
        for row, found in zip(out, has_pair):
            row.extend(pair_names[found].tolist())
    return [frozenset(row) for row in out]


def claim_all(articles: Sequence[StoredArticle],
              rules: Sequence[ThemeConfig]) -> list[str | None]:
    """The named theme that claims each article, or None."""
    prepared = [_rule(rule) for rule in rules]
    bodies = ["".join(a.paragraphs) for a in articles]
    present = _letters_present(bodies, prepared)
    containing = _containing(prepared)
    out = []
    for article, body, letters in zip(articles, bodies, present):
        text = _text(article, containing, body, letters)
        best: ThemeScore | None = None
        for rule in prepared:  # strict '>' keeps the first-listed theme on a tie
            result = _score(text, rule)
            if not result.excluded and result.score >= CLAIM_SCORE and (
                    best is None or result.score > best.score):
                best = result
        out.append(best.name if best else None)
    return out


def claim(article: StoredArticle, rules: Sequence[ThemeConfig]) -> str | None:
    """The named theme that claims an article, or None."""
    return claim_all([article], rules)[0]
