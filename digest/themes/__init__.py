"""Stage: one week's stored articles -> themes of stories (pure functions, no I/O).

1. Same story, several printings (`stories`): articles whose bodies share most of their
   5-character shingles become one StoryGroup listing every source; prefix-filtered
   candidates, exact Jaccard verification.
2. Named themes (`named`): [[themes]] in config.toml claim stories by keyword score; they
   keep first claim.
3. What they leave is grouped automatically (`cluster`): TF-IDF over the stories' words, LSA,
   k-means with the number of groups chosen by silhouette, labels from the most distinctive
   words; stories that fit no group go to a final "其他".
4. The week's most important stories for 本周要点 (`highlights`).

Named-theme claims and the words' matrix columns are worked out beside step 1 in a second
thread (`ahead`); the words themselves are cut at ingest and stored (`words`).

Only the functions that group import numpy/scikit-learn, so importing this package (as the
renderer does) stays cheap.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ..config import Config
from ..model import StoredArticle, StoryGroup, Theme
from ..weeks import reading_order
from .ahead import WeekAhead
from .highlights import Highlight, week_highlights
from .named import (
    BODY_CAP_PER_WORD,
    BODY_WEIGHT,
    CLAIM_SCORE,
    HEADLINE_WEIGHT,
    KEYWORD_WEIGHT,
    ThemeScore,
    claim,
    claim_all,
    display_title,
    headline,
    score_theme,
    theme_rules,
)
from .stories import (
    comparable_text,
    jaccard,
    merge_same_stories,
    merge_same_stories_exact,
    shingles,
    similar_pairs,
    similar_pairs_exact,
)

OTHER = "其他"

__all__ = [
    "BODY_CAP_PER_WORD", "BODY_WEIGHT", "CLAIM_SCORE", "HEADLINE_WEIGHT", "KEYWORD_WEIGHT",
    "OTHER", "Highlight", "ThemeScore", "articles_of", "claim", "comparable_text",
    "display_title", "group_stories", "group_week", "headline", "jaccard",
    "merge_same_stories", "merge_same_stories_exact", "score_theme", "shingles",
    "similar_pairs", "similar_pairs_exact", "theme_rules", "week_highlights",
]


def _in_order(stories: Sequence[StoryGroup]) -> tuple[StoryGroup, ...]:
    return tuple(sorted(stories, key=lambda g: reading_order(g.lead)))


def group_stories(stories: Sequence[StoryGroup], config: Config,
                  ahead: WeekAhead | None = None) -> tuple[Theme, ...]:
    """Themes of already merged stories: named ones (config order), automatic ones (largest
    first), then 其他. `ahead`: a finished WeekAhead of the week's articles."""
    from .cluster import cluster_label, cluster_stories, word_counts

    rules = theme_rules(config)
    claimed: dict[str, list[StoryGroup]] = {rule.name: [] for rule in rules}
    unclaimed: list[StoryGroup] = []
    leads = [s.lead for s in stories]
    claims = ahead.claims_of(leads) if ahead else claim_all(leads, rules)
    for story, name in zip(stories, claims):
        (claimed[name] if name else unclaimed).append(story)
    themes = [Theme(name=name, label=name, automatic=False, stories=_in_order(group))
              for name, group in claimed.items() if group]
    if not unclaimed:
        return tuple(themes)

    week_counts = word_counts(stories, config, ahead)
    position = {id(s): i for i, s in enumerate(stories)}
    rows = [position[id(s)] for s in unclaimed]
    # [clustering].max_groups bounds the digest's themes, named ones included (at least two
    # automatic groups stay possible).
    room = max(2, config.clustering.max_groups - len(themes))
    clustering = dataclasses.replace(config.clustering,
                                     max_groups=min(room, config.clustering.max_groups))
    groups, other, matrix, vocab = cluster_stories(unclaimed, rows, week_counts, clustering)
    population = sorted({i for g in groups for i in g})
    automatic = []
    for members in groups:
        words = cluster_label(members, matrix, vocab, unclaimed, population,
                              config.clustering.label_keywords)
        if words:
            automatic.append(([unclaimed[i] for i in members], "、".join(words)))
        else:  # a group needs a name
            other.extend(members)
    taken = {t.name for t in themes} | {OTHER}
    automatic.sort(key=lambda pair: (-len(pair[0]), min(reading_order(s.lead) for s in pair[0])))
    for group, label in automatic:
        name = label if label not in taken else f"{label}（{len(taken)}）"
        taken.add(name)
        themes.append(Theme(name=name, label=label, automatic=True, stories=_in_order(group)))
    if other:
        themes.append(Theme(name=OTHER, label=OTHER, automatic=True,
                            stories=_in_order([unclaimed[i] for i in sorted(set(other))])))
    return tuple(themes)


def group_week(articles: Sequence[StoredArticle], config: Config) -> tuple[Theme, ...]:
    """Themes in digest order. Every article appears exactly once: as a story's lead or in
    its also_in."""
    ahead = WeekAhead(articles, config)  # claims and words beside the merging (see there)
    try:
        stories = merge_same_stories(articles, config.dedupe)
    finally:
        ahead.finish()
    return group_stories(stories, config, ahead)


def articles_of(themes: Sequence[Theme]) -> list[StoredArticle]:
    """Every article in the themes, leads and other printings (for counts and checks)."""
    return [a for t in themes for s in t.stories for a in (s.lead, *s.also_in)]
