"""Section subheads the labeller took for headlines, told by the company they keep.

A long essay or an interview prints short headline-shaped lines between its parts; read
alone, one of them may look like the start of a new story. Two patterns every paper shares
settle it: an interview's subheads stand between the turns of its speakers (`林伯强：…`
above and below), and a story's subheads are printed to one pattern: one ending
(`坚持世界观方法论的贯通性` / `高扬中华民族文化的主体性` / `注重价值逻辑统一的整体性`) or one
skeleton (`生态优先 绿色发展` / `黄金水道 通达全球` / `一江文脉 兴文铸魂`), three of a kind at least.
These are rules over the labels, not features of the labeller: as features they moved the
model's weights elsewhere and cost leave-one-paper-out more than they won (README, Parser).
"""

from __future__ import annotations

import bisect
import re

from .context import _shape
from .lines import Line

# `林伯强：中东的紧张局势…`: a paragraph opened by its speaker's name, as interviews print them
_SPEAKER_TURN = re.compile(r"^([\u4e00-\u9fff]{2,4})[：:]")
_TURN_WINDOW = 12  # lines either side of a subhead searched for speakers' turns
_FAMILY_WINDOW = 40  # lines either side searched for subheads of the same pattern


def _speakers(lines: list[Line]) -> tuple[list[int], dict[int, str]]:
    """The lines opened by a speaker's name (paragraphs only, not short labels such as
    `提问：…` over a question), and each one's speaker."""
    speaker: dict[int, str] = {}
    for i, line in enumerate(lines):
        if len(line.text) > 20:
            m = _SPEAKER_TURN.match(line.text)
            if m:
                speaker[i] = m.group(1)
    return sorted(speaker), speaker


def _between_turns(turns: list[int], speaker: dict[int, str], i: int) -> bool:
    """Turns above and below line `i`, by two speakers or more, one of them speaking twice."""
    lo, mid = bisect.bisect_left(turns, i - _TURN_WINDOW), bisect.bisect_left(turns, i)
    hi = bisect.bisect_right(turns, i + _TURN_WINDOW)
    if not lo < mid < hi:
        return False
    names = [speaker[j] for j in turns[lo:hi]]
    return len(set(names)) >= 2 and len(names) > len(set(names))


def _series_around(lines: list[Line], labels: list[str], i: int, alike) -> bool:
    """At least two lines read as subheads (body) within 40 lines are `alike` line `i`:
    three of a pattern are a series of subheads, not a headline among them."""
    lo, hi = max(0, i - _FAMILY_WINDOW), min(len(lines), i + _FAMILY_WINDOW + 1)
    return sum(1 for j in range(lo, hi)
               if j != i and labels[j] == "B" and alike(lines[j].text)) >= 2


def _in_ending_family(lines: list[Line], labels: list[str], i: int) -> bool:
    """Subheads about as long as line `i` (6-20 characters, within 3) ending in its
    character (`坚持世界观方法论的贯通性` / `高扬中华民族文化的主体性` / `注重价值逻辑统一的整体性`)."""
    text = lines[i].text
    if not 6 <= len(text) <= 20 or not "\u4e00" <= text[-1] <= "\u9fff":
        return False  # a closing quote or bracket is no pattern
    return _series_around(lines, labels, i, lambda other: (
        6 <= len(other) <= 20 and other[-1] == text[-1] and abs(len(other) - len(text)) <= 3))


def _in_shape_series(lines: list[Line], labels: list[str], i: int) -> bool:
    """Subheads with line `i`'s skeleton (`context._shape`: `生态优先 绿色发展` / `黄金水道
    通达全球` / `一江文脉 兴文铸魂`, or a lead of one length before a colon)."""
    shape = _shape(lines[i].text)
    return shape is not None and _series_around(
        lines, labels, i, lambda other: len(other) <= 40 and _shape(other) == shape)


def demote(lines: list[Line], labels: list[str], closes_story) -> list[str]:
    """The one-line decks inside a story (body above and below, no page header or closing
    line above) that are an interview's or an essay's subheads, read as body."""
    out = list(labels)
    turns, speaker = _speakers(lines)
    for i in range(1, len(lines) - 1):
        if out[i] != "T" or out[i - 1] != "B" or out[i + 1] != "B" or closes_story(lines, i - 1):
            continue
        if (len(turns) >= 3 and _between_turns(turns, speaker, i)) or \
                _in_ending_family(lines, out, i) or _in_shape_series(lines, out, i):
            out[i] = "B"
    return out
