"""本周要点: the week's few most important stories, across themes.

A story's weight mixes four signals an editor uses, each scaled to 0..1 over the week:
- front page: 1 / (1 + its position in the issue) at its best printing (the issue's first
  article is the front-page lead);
- centrality: its degree in the week's story graph, whose edges are the cosine of the
  stories' IDF-weighted keyword sets (a story many others touch on is what the week is about);
- printings: how many times it was printed (log scale), the papers' own vote;
- length: log of the body's length, capped at 3,000 characters.
Weights 0.35 / 0.25 / 0.2 / 0.2. Stories in 其他 and stories without a key sentence are left
out. The first pass takes the best story of each theme in weight order, so the list spans
themes; a second pass fills up with the next best. Pure Python: no numpy at render time.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ..model import KeySentence, StoryGroup, Theme
from ..weeks import reading_order

WEIGHTS = {"front": 0.35, "centrality": 0.25, "printings": 0.2, "length": 0.2}
LONG_ENOUGH = 3000  # characters; longer bodies weigh no more


@dataclass(frozen=True)
class Highlight:
    story: StoryGroup
    theme: str
    sentence: KeySentence
    weight: float


def highlight_count(stories: int) -> int:
    """3 for a small week, up to 5 for a busy one."""
    return 3 if stories < 10 else 4 if stories < 20 else 5


def story_weights(stories: Sequence[StoryGroup]) -> list[float]:
    n = len(stories)
    if n == 0:
        return []
    sets = [set(s.lead.keywords) for s in stories]
    df = Counter(w for words in sets for w in words)
    idf = {w: math.log((1 + n) / (1 + c)) + 1 for w, c in df.items()}
    norms = [math.sqrt(sum(idf[w] ** 2 for w in words)) for words in sets]
    # The degree is a sum of cosines, sum over j != i of u_i . u_j with u the unit keyword
    # vectors, which is u_i . (sum of all u_j) - 1: linear in the week's keywords, where
    # comparing the stories that share a keyword was quadratic (4.4 s for 4,000 stories).
    total: Counter = Counter()
    for words, norm in zip(sets, norms):
        for w in words:
            total[w] += idf[w] / norm
    degree = [max(0.0, sum(idf[w] / norm * total[w] for w in words) - 1.0) if norm else 0.0
              for words, norm in zip(sets, norms)]
    top_degree = max(degree) or 1.0
    printings = [1 + len(s.also_in) for s in stories]
    top_printings = math.log(max(printings)) or 1.0
    weights = []
    for i, story in enumerate(stories):
        front = max(1 / (1 + a.position) for a in (story.lead, *story.also_in))
        chars = len("".join(story.lead.paragraphs))
        weights.append(
            WEIGHTS["front"] * front
            + WEIGHTS["centrality"] * degree[i] / top_degree
            + WEIGHTS["printings"] * math.log(printings[i]) / top_printings
            + WEIGHTS["length"] * min(1.0, math.log1p(chars) / math.log1p(LONG_ENOUGH)))
    return weights


def week_highlights(themes: Sequence[Theme], other: str = "其他",
                    count: int | None = None) -> tuple[Highlight, ...]:
    everything = [(t, s) for t in themes for s in t.stories]
    weights = story_weights([s for _, s in everything])
    eligible = sorted(
        ((w, t, s) for (t, s), w in zip(everything, weights)
         if s.lead.sentences and not (t.automatic and t.name == other)),
        key=lambda item: (-round(item[0], 12), reading_order(item[2].lead)))
    count = highlight_count(len(everything)) if count is None else count
    picked: list[tuple[float, Theme, StoryGroup]] = []
    seen_themes: set[str] = set()
    for item in eligible:  # one per theme first
        if len(picked) < count and item[1].name not in seen_themes:
            picked.append(item)
            seen_themes.add(item[1].name)
    for item in eligible:
        if len(picked) < count and item not in picked:
            picked.append(item)
    picked.sort(key=lambda item: (-round(item[0], 12), reading_order(item[2].lead)))
    return tuple(
        Highlight(story=s, theme=t.name, weight=w,
                  sentence=max(s.lead.sentences, key=lambda k: (k.score, -k.index)))
        for w, t, s in picked)
