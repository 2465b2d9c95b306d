"""Features of a line against its whole issue, added to the per-line ones of `lines`.

A headline is told from an in-story subhead less by its own shape than by its place: how far
it stands below a page header (the first short line under one opens a story), and whether
it belongs to a family of subheads printed to one pattern (`绿中生金：…` / `暖色如灯：…`,
`生态优先 绿色发展` / `黄金水道 通达全球`). Both are measured in the issue itself, so no
paper's habits are built in. (Line length against the issue's paragraphs, whether body text
follows, and length against the neighbouring short line were measured too, leave-one-paper-
out, and left out: they did not help.)
"""

from __future__ import annotations

import re

from . import lines as lines_mod
from . import rules
from .lines import Line

_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_GAP = re.compile(r"[ \u3000]+")


def _shape(text: str) -> tuple | None:
    """The skeleton a family of subheads shares: a short lead and a colon (`绿中生金：…`),
    or runs of characters between spaces (`生态优先 绿色发展`)."""
    head, colon, _ = text.partition("：")
    if colon and 2 <= len(head) <= 8:
        return "colon", len(head)
    parts = _GAP.split(text)
    if len(parts) >= 2 and all(_CJK_RUN.fullmatch(p) for p in parts):
        return ("space",) + tuple(len(p) for p in parts)
    return None


def _shape_families(lines: list[Line], short: list[int], width: int = 40) -> set[int]:
    """Short lines with the skeleton of another short line at most `width` lines away."""
    shapes = {i: _shape(lines[i].text) for i in short}
    family: set[int] = set()
    for a, i in enumerate(short):
        if shapes[i] is None:
            continue
        for j in short[a + 1:]:
            if j - i > width:
                break
            if shapes[j] == shapes[i]:
                family.update((i, j))
    return family


def _after_page(k: int) -> str:
    return "1" if k == 1 else "2" if k == 2 else "3" if k <= 4 else "far"


def features(lines: list[Line]) -> list[dict[str, float | str]]:
    """The features of `lines.features`, and each short line's place in its issue."""
    out = lines_mod.features(lines)
    short = [i for i, line in enumerate(lines)
             if len(line.text) <= 40 and not rules.ends_sentence(line.text)]
    family = _shape_families(lines, short)
    is_short = set(short)
    since_header = None
    for i, line in enumerate(lines):
        if lines_mod.is_page_header(line.text):
            since_header = 0
            continue
        if since_header is not None:
            since_header += 1
        if i not in is_short:
            continue
        if since_header is not None:
            out[i]["after_page"] = _after_page(since_header)
        if i in family:
            out[i]["shape_family"] = "1"
    return out
