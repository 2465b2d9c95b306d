"""Training issues re-rendered in the other layouts, so the labeller learns what a headline is
from cues every layout keeps (length, punctuation, what follows) and not from one layout's
habit (an indent, a `##`, a blank line).

An issue is read as a sequence of pages, furniture lines and articles (deck + body lines);
`render` prints it the way each layout of `../shared/dev/README.md` does:

- `epaper`: 引题 / 标题 / 副题 on three lines (an empty one stays empty), paragraphs indented
  with two full-width spaces, one blank line between articles, no page headers;
- `blank`: a letter-spaced masthead block, a page header line at each new page, every line
  between blank lines, no indents;
- `markdown`: 引题 a plain line, `## 标题`, `### 副题`, blank lines between paragraphs, a
  `第N版 栏目` line at each new page.

Nothing is stored: the training run renders from ../shared each time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

LAYOUTS = ("epaper", "blank", "markdown")
_WEEKDAYS = "一二三四五六日"
_INDENT = "\u3000\u3000"


@dataclass(frozen=True)
class Article:
    deck: tuple[tuple[str, str], ...]  # (K|T|S, text), in deck order
    body: tuple[str, ...]
    page: int | None = None
    section: str = ""


@dataclass(frozen=True)
class Furniture:
    text: str


@dataclass(frozen=True)
class Issue:
    paper: str | None
    date: dt.date | None
    items: tuple  # Article | Furniture, in reading order


def _masthead(issue: Issue) -> list[str]:
    if not issue.paper or not issue.date:
        return []
    d = issue.date
    return [" ".join(issue.paper), f"{d.year}年{d.month}月{d.day}日", f"星期{_WEEKDAYS[d.weekday()]}"]


def render(issue: Issue, layout: str) -> tuple[str, list[str]]:
    """The issue printed in `layout`, and one label a non-blank line (F/K/T/S/N/B)."""
    out: list[tuple[str, str | None]] = []  # (line, label); label None for a blank line

    def blank() -> None:
        out.append(("", None))

    def para(text: str, label: str) -> None:
        """One line between blank lines (blank and markdown layouts)."""
        if out:
            blank()
        out.append((text, label))

    if layout == "blank":
        for line in _masthead(issue):
            para(line, "F")
    page = None
    for item in issue.items:
        if isinstance(item, Furniture):
            para(item.text, "F")
            continue
        if item.page is not None and item.page != page and layout != "epaper":
            page = item.page
            if layout == "blank" and issue.paper and issue.date:
                d = issue.date
                para(f"{issue.paper}  {d.year}年{d.month}月{d.day}日  第{page:02d}版  "
                     f"{item.section}".rstrip(), "F")
            elif layout == "markdown":
                para(f"第{page}版 {item.section}".rstrip(), "F")
        first = "B" if item.deck else "N"
        if layout == "epaper":
            if out:
                blank()
            parts = dict(item.deck)
            for key in "KTS":
                out.append((parts.get(key, ""), key if parts.get(key) else None))
            for i, text in enumerate(item.body):
                out.append((_INDENT + text, first if i == 0 else "B"))
            continue
        for key, text in item.deck:
            mark = {"K": "", "T": "## ", "S": "### "}[key] if layout == "markdown" else ""
            para(mark + text, key)
        for i, text in enumerate(item.body):
            para(text, first if i == 0 else "B")
    text = "\n".join(line for line, _ in out) + "\n"
    return text, [label for _, label in out if label is not None]
