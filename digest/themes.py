"""Stage: one week's stored articles -> themes of stories (pure functions, no I/O).

1. Same story, several printings: articles whose bodies share most of their 5-character
   shingles (Jaccard >= [dedupe].similarity) become one StoryGroup that lists every source.
   Exact Jaccard over shingle sets, not MinHash: a week holds tens to a few hundred articles,
   so comparing every pair exactly costs milliseconds, needs no extra dependency and gives
   the same answer every run; MinHash/LSH only pays off at many thousands of documents.
   Bodies are compared without the dateline and punctuation, because two papers print the
   same report under different datelines ("东昌府讯" / "本报讯") and with different commas.
2. Named themes ([[themes]] in config.toml) claim stories by keyword score. A keyword in the
   headline (title, kicker, subtitle) weighs most, one among the ranker's keywords next, the
   body least and capped, so an article that mentions 创城 once in passing is not claimed
   by 文明城市创建 while one headlined about it is. A theme's `exclude` words veto it when
   they appear in the headline or among the article's keywords. Highest score wins; a tie
   goes to the theme listed first in config.toml, so the editor's order decides.
3. Stories no theme claims are clustered: TF-IDF vectors over the ranker's keywords,
   average-linkage agglomerative clustering on cosine distance (scipy), cut where the mean
   similarity inside a group drops below [clustering].similarity. Average linkage, because
   single linkage chains unrelated stories through one shared word and complete linkage
   splits every small group. Groups of at least [clustering].min_size stories are labelled
   by their top keywords; the rest go to a final "其他".
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .config import ClusteringConfig, Config, DedupeConfig, ThemeConfig
from .model import StoredArticle, StoryGroup, Theme
from .weeks import reading_order

if TYPE_CHECKING:
    import numpy as np

OTHER = "其他"

# Scoring weights (see the module docstring). With CLAIM_SCORE = 4 a theme needs a headline
# hit plus some support, two distinct keywords among the ranker's, or a body that keeps
# returning to the subject; one passing mention (1 point) never claims.
HEADLINE_WEIGHT = 3
KEYWORD_WEIGHT = 2
BODY_WEIGHT = 1
BODY_CAP_PER_WORD = 3  # occurrences of one word in the body that count, at most
CLAIM_SCORE = 4

_HEADLINE_NOISE = re.compile(r"\s+")
# Only letters and digits take part in shingles: punctuation, spaces and quote styles vary
# between papers printing the same text.
_NOT_TEXT = re.compile(r"[^0-9A-Za-z\u3400-\u4dbf\u4e00-\u9fff]+")
_DATELINE_HEAD = re.compile(r"^\S{0,12}?(讯|电)\s*(\d{1,2}月\d{1,2}日)?")


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


# -- 1. same-story merging ----------------------------------------------------------------

def comparable_text(article: StoredArticle) -> str:
    """The body as two printings of one story share it: no dateline, letters and digits."""
    body = "".join(article.paragraphs)
    body = _DATELINE_HEAD.sub("", body.lstrip("□■◆▲● "), count=1)
    return _NOT_TEXT.sub("", body)


def shingles(text: str, size: int) -> frozenset[str]:
    if len(text) <= size:
        return frozenset([text]) if text else frozenset()
    return frozenset(text[i:i + size] for i in range(len(text) - size + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def _lead_order(article: StoredArticle) -> tuple:
    # The fullest printing leads; among equals, the earliest in reading order.
    return (-len("".join(article.paragraphs)), reading_order(article))


def merge_same_stories(articles: Sequence[StoredArticle],
                       dedupe: DedupeConfig) -> tuple[StoryGroup, ...]:
    """Group printings of one story (transitively); every article lands in exactly one group."""
    ordered = sorted(articles, key=reading_order)
    sets = [shingles(comparable_text(a), dedupe.shingle) for a in ordered]
    parent = list(range(len(ordered)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(ordered)):
        for j in range(i + 1, len(ordered)):
            if jaccard(sets[i], sets[j]) >= dedupe.similarity:
                parent[root(j)] = root(i)
    members: dict[int, list[StoredArticle]] = {}
    for i, article in enumerate(ordered):
        members.setdefault(root(i), []).append(article)
    groups = []
    for printings in members.values():
        lead, *others = sorted(printings, key=_lead_order)
        groups.append(StoryGroup(lead=lead, also_in=tuple(sorted(others, key=reading_order))))
    return tuple(sorted(groups, key=lambda g: reading_order(g.lead)))


# -- 2. named themes ----------------------------------------------------------------------

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


# -- 3. automatic clustering --------------------------------------------------------------

def tfidf_vectors(stories: Sequence[StoryGroup],
                  corpus: Sequence[StoryGroup]) -> tuple[np.ndarray, list[str]]:
    """L2-normalised TF-IDF rows over keywords; IDF comes from the whole week (`corpus`),
    which knows better than the few leftover stories that a word like 工作 is everywhere."""
    import numpy as np  # here, not at the top: `digest status` and `--help` start faster

    vocab = sorted({w for s in stories for w in s.lead.keywords})
    index = {w: i for i, w in enumerate(vocab)}
    df = Counter(w for s in corpus for w in set(s.lead.keywords))
    n = len(corpus)
    matrix = np.zeros((len(stories), len(vocab)))
    for row, story in enumerate(stories):
        for word in set(story.lead.keywords):
            matrix[row, index[word]] = math.log((1 + n) / (1 + df[word])) + 1
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0), vocab


def cluster_stories(stories: Sequence[StoryGroup], corpus: Sequence[StoryGroup],
                    clustering: ClusteringConfig) -> list[list[int]]:
    """Indices of `stories` grouped by keyword similarity (singletons included)."""
    if len(stories) < 2:
        return [[i] for i in range(len(stories))]
    import numpy as np
    from scipy.cluster.hierarchy import fcluster, linkage

    vectors, _ = tfidf_vectors(stories, corpus)
    similarity = np.clip(vectors @ vectors.T, 0.0, 1.0)
    distance = 1.0 - similarity
    condensed = distance[np.triu_indices(len(stories), k=1)]
    tree = linkage(condensed, method="average")
    # fcluster's 'distance' keeps merges whose height is <= t; a small epsilon makes a
    # similarity exactly at the threshold count as linked, as the config comment promises.
    labels = fcluster(tree, t=1.0 - clustering.similarity + 1e-9, criterion="distance")
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(int(label), []).append(i)
    return list(groups.values())


def cluster_label(stories: Sequence[StoryGroup], corpus: Sequence[StoryGroup],
                  count: int) -> tuple[str, ...]:
    """The group's top keywords: words most stories share first, then summed TF-IDF weight,
    then how high the ranker put them on average, then the word (so labels are stable)."""
    vectors, vocab = tfidf_vectors(stories, corpus)
    weight = vectors.sum(axis=0).round(9)  # rounding: float noise must not reorder ties
    shared = (vectors > 0).sum(axis=0)
    ranks: dict[str, list[int]] = {}
    for story in stories:
        for position, word in enumerate(story.lead.keywords):
            ranks.setdefault(word, []).append(position)
    order = sorted(range(len(vocab)), key=lambda i: (
        -shared[i], -weight[i], sum(ranks[vocab[i]]) / len(ranks[vocab[i]]), vocab[i]))
    return tuple(vocab[i] for i in order[:count])


# -- the whole stage ----------------------------------------------------------------------

def group_week(articles: Sequence[StoredArticle], config: Config) -> tuple[Theme, ...]:
    """Themes in digest order: named ones (config order), automatic ones (largest first),
    then 其他. Every article appears exactly once: as a story's lead or in its also_in."""
    stories = merge_same_stories(articles, config.dedupe)
    rules = theme_rules(config)
    claimed: dict[str, list[StoryGroup]] = {rule.name: [] for rule in rules}
    unclaimed: list[StoryGroup] = []
    for story in stories:
        name = claim(story.lead, rules)
        (claimed[name] if name else unclaimed).append(story)
    themes = [Theme(name=name, label=name, automatic=False, stories=tuple(group))
              for name, group in claimed.items() if group]

    automatic, leftovers = [], []
    for indices in cluster_stories(unclaimed, stories, config.clustering):
        group = [unclaimed[i] for i in indices]
        words = cluster_label(group, stories, config.clustering.label_keywords)
        # A group needs a name: stories without keywords only meet at similarity 0.
        if len(group) >= max(2, config.clustering.min_size) and words:
            automatic.append((group, "、".join(words)))
        else:
            leftovers.extend(group)
    taken = {t.name for t in themes} | {OTHER}
    automatic.sort(key=lambda pair: (-len(pair[0]), reading_order(pair[0][0].lead)))
    for group, label in automatic:
        name = label if label not in taken else f"{label}（{len(taken)}）"
        taken.add(name)
        themes.append(Theme(name=name, label=label, automatic=True,
                            stories=tuple(sorted(group, key=lambda g: reading_order(g.lead)))))
    if leftovers:
        themes.append(Theme(name=OTHER, label=OTHER, automatic=True,
                            stories=tuple(sorted(leftovers, key=lambda g: reading_order(g.lead)))))
    return tuple(themes)


def articles_of(themes: Sequence[Theme]) -> list[StoredArticle]:
    """Every article in the themes, leads and other printings (for counts and checks)."""
    return [a for t in themes for s in t.stories for a in (s.lead, *s.also_in)]
