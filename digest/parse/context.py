"""Features of a line against its whole issue, added to the per-line ones of `lines`.

A headline is told from a subhead or a paragraph less by its own shape than by its place:
how long it is against the issue's paragraphs, whether it is the first thing under a page
header, whether body text follows it, and how it compares with the short line beside it
(a 引题 over a longer 标题, a 标题 over a `——` 副题). Each is measured against the issue
itself, so no paper's habits are built in.
"""

from __future__ import annotations

import os
import re
from statistics import median

from . import lines as lines_mod
from . import rules
from .lines import Line


def _ratio(n: int, typical: float) -> str:
    r = n / typical if typical else 0.0
    for limit, name in ((0.1, "0.1"), (0.2, "0.2"), (0.35, "0.35"), (0.5, "0.5"), (0.8, "0.8"),
                        (1.5, "1.5")):
        if r <= limit:
            return name
    return "more"


def _body_like(line: Line, typical: float) -> bool:
    text = line.text
    return len(text) >= 0.5 * typical and rules.ends_sentence(text)


def _compare(a: int, b: int) -> str:
    return "longer" if a > b + 2 else "shorter" if a + 2 < b else "same"


_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")


def _shape(text: str) -> tuple | None:
    """The skeleton of a short line that a family of subheads shares: `绿中生金：…` and
    `暖色如灯：…` (four characters and a colon), `生态优先 绿色发展` and `黄金水道 通达全球`."""
    head, colon, _ = text.partition("：")
    if colon and 2 <= len(head) <= 8:
        return "colon", len(head)
    parts = re.split(r"[ \u3000]+", text)
    if len(parts) >= 2 and all(_CJK_RUN.fullmatch(p) for p in parts):
        return ("space",) + tuple(len(p) for p in parts)
    return None


def _shape_families(lines: list[Line], short: list[int], width: int = 40) -> set[int]:
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


def features(lines: list[Line]) -> list[dict[str, float | str]]:
    """The features of `lines.features`, and each line's place in its issue."""
    out = lines_mod.features(lines)
    if not lines or os.environ.get("DIGEST_PARSER_CONTEXT") == "0":
        return out
    paragraph_lengths = [len(line.text) for line in lines if rules.ends_sentence(line.text)]
    typical = float(median(paragraph_lengths)) if paragraph_lengths else 40.0
    header = [lines_mod.is_page_header(line.text) for line in lines]
    short_lines = [i for i, line in enumerate(lines)
                   if len(line.text) <= 40 and not rules.ends_sentence(line.text)]
    family = (_shape_families(lines, short_lines)
              if os.environ.get("DIGEST_PARSER_SHAPE") != "0" else set())
    since_header = None
    for i, (line, feats) in enumerate(zip(lines, out)):
        if header[i]:
            since_header = 0
            continue
        if since_header is not None:
            since_header += 1
        if os.environ.get("DIGEST_PARSER_CONTEXT") not in ("shape", "shape2"):
            feats["rel_len"] = _ratio(len(line.text), typical)
        # the layout's own cues, per layout: an indent or a blank line means one thing in
        # an e-paper export and nothing in PDF text, and training sees every layout
        if os.environ.get("DIGEST_PARSER_CONTEXT") not in ("shape", "shape2"):
            feats["lay_shape"] = f"{feats['layout']}|{feats['ind']}|{feats['bb']}|{feats['ba']}|{feats['h']}"
        short = len(line.text) <= 40 and not rules.ends_sentence(line.text)
        if not short:
            continue
        if since_header is not None and os.environ.get("DIGEST_PARSER_CONTEXT") != "shape2":
            feats["after_page"] = ("1" if since_header == 1 else "2" if since_header == 2 else
                                   "3" if since_header <= 4 else "far")
        if i in family:
            feats["shape_family"] = "1"
        if os.environ.get("DIGEST_PARSER_CONTEXT") in ("shape", "shape2"):
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else None
        prev = lines[i - 1] if i else None
        feats["next_body"] = "1" if nxt is not None and _body_like(nxt, typical) else "0"
        feats["prev_body"] = "1" if prev is not None and _body_like(prev, typical) else "0"
        if nxt is not None and len(nxt.text) <= 40 and not rules.ends_sentence(nxt.text):
            feats["cmp_next"] = _compare(len(line.text), len(nxt.text))
        if prev is not None and len(prev.text) <= 40 and not rules.ends_sentence(prev.text):
            feats["cmp_prev"] = _compare(len(line.text), len(prev.text))
    return out
