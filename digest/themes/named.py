"""Named themes ([[themes]] in config.toml) claim stories by keyword score.

A keyword in the headline (title, kicker, subtitle) weighs most, one among the ranker's
keywords next, the body least and capped, so an article that mentions 创城 once in passing is
not claimed by 文明城市创建 while one headlined about it is. A theme's `exclude` words veto it
when they appear in the headline or among the article's keywords. Highest score wins; a tie
goes to the theme listed first in config.toml, so the editor's order decides.
"""

from __future__ import annotations

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


def score_theme(article: StoredArticle, rule: ThemeConfig) -> ThemeScore:
    head = headline(article)
    body = "".join(article.paragraphs)
    keywords = article.keywords
    excluded = any(word in head or any(word in k for k in keywords) for word in rule.exclude)
    score = 0
    for word in dict.fromkeys(rule.keywords):  # a keyword listed twice counts once
        if word in head:
            score += HEADLINE_WEIGHT
        if any(word in k or k in word for k in keywords if len(k) >= 2):
            score += KEYWORD_WEIGHT
        score += BODY_WEIGHT * min(body.count(word), BODY_CAP_PER_WORD)
    return ThemeScore(rule.name, score, excluded)


def claim(article: StoredArticle, rules: Sequence[ThemeConfig]) -> str | None:
    """The named theme that claims an article, or None."""
    best: ThemeScore | None = None
    for rule in rules:  # strict '>' keeps the first-listed theme on a tie
        result = score_theme(article, rule)
        if not result.excluded and result.score >= CLAIM_SCORE and (
                best is None or result.score > best.score):
            best = result
    return best.name if best else None
