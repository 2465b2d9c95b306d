"""Line labels -> articles: decks open articles, body lines fill them, furniture is set aside.

The labeller decides where articles start and which lines are 引题 (K), 标题 (T) and 副题 (S);
everything inside an article is then read with the rule-based knowledge of `rules`
(datelines, bylines above and below the story, photo credits, page-break joins, subheads).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from ..model import Article, NonArticle
from . import rules
from .lines import Line, is_page_header

DECK = {"K": 0, "T": 1, "S": 2}
_NAME_ONLY = re.compile(r"^[\u4e00-\u9fff]{2,4}$")


@dataclass
class Draft:
    deck: list[tuple[str, Line]] = field(default_factory=list)
    body: list[Line] = field(default_factory=list)
    trailing_title: Line | None = None


def find_duplicates(lines: list[Line]) -> dict[int, str]:
    """Line numbers of stray repeated copies -> reason.

    Only a paragraph printed twice or more in a row is a stray copy (how a layout program
    leaves them behind); a copy that stands alone elsewhere keeps its place. A whole
    article printed twice has no such run, and stays two articles.
    """
    by_text: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        if len(line.text) >= 15:
            by_text.setdefault(line.text, []).append(i)
    dropped: dict[int, str] = {}
    for positions in by_text.values():
        if len(positions) < 2:
            continue
        runs: list[list[int]] = [[positions[0]]]
        for pos in positions[1:]:
            if pos == runs[-1][-1] + 1:
                runs[-1].append(pos)
            else:
                runs.append([pos])
        if all(len(run) == 1 for run in runs):
            continue
        keep = next((run[0] for run in runs if len(run) == 1), runs[0][0])
        for pos in positions:
            if pos != keep:
                dropped[lines[pos].no] = "duplicate"
    return dropped


def group(lines: list[Line], labels: list[str], skip: dict[int, str],
          masthead_nos: set[int]) -> tuple[list[Draft], list[NonArticle]]:
    """Walk the labelled lines once, opening an article at each deck or `N` line."""
    drafts: list[Draft] = []
    non_article: list[NonArticle] = []
    furniture: list[Line] = []  # F lines whose reason depends on what follows

    def flush_furniture(next_is_deck: bool) -> None:
        reason = "banner" if next_is_deck and len(furniture) == 1 else "slogan"
        for line in furniture:
            non_article.append(NonArticle(text=line.raw, reason=reason, line=line.no))
        furniture.clear()

    current: Draft | None = None
    for line, label in zip(lines, labels):
        if line.no in skip:
            non_article.append(NonArticle(text=line.raw, reason=skip[line.no], line=line.no))
            continue
        if label == "F":
            if line.no in masthead_nos or is_page_header(line.text):
                non_article.append(NonArticle(text=line.raw, reason="masthead", line=line.no))
            elif rules._JUMP.search(line.text) and len(line.text) <= 20:
                non_article.append(NonArticle(text=line.raw, reason="jump", line=line.no))
            else:
                furniture.append(line)
            continue
        if label in DECK:
            opens = not (current is not None and not current.body and current.deck
                         and DECK[label] > DECK[current.deck[-1][0]])
            if opens and label == "S":
                label = "T"  # a 副题 with no headline above it is the headline
            kicker = _stray_lead_in(current, furniture, line) if opens and label == "T" else None
            flush_furniture(True)
            rank = DECK[label]
            if (current is not None and not current.body and current.deck
                    and rank > DECK[current.deck[-1][0]]):
                current.deck.append((label, line))
            else:
                deck = [(label, line)]
                if kicker is not None:
                    deck.insert(0, ("K", kicker))
                current = Draft(deck=deck)
                drafts.append(current)
            continue
        flush_furniture(False)
        if label == "N" or current is None:
            current = Draft()
            drafts.append(current)
        current.body.append(line)
    flush_furniture(False)
    return _settle_bodiless(drafts, non_article)


def _headline_shaped(text: str) -> bool:
    return (len(text) <= 30 and not rules.ends_sentence(text)
            and not rules._CLAUSE_PUNCT.search(text))


def _stray_lead_in(current: Draft | None, furniture: list[Line], title: Line) -> Line | None:
    """A lead-in line (`X在…时强调`) just above a headline belongs to its deck, even when
    the labeller took it for the end of the story above or for page furniture."""
    if furniture:
        candidate = furniture[-1]
        if _headline_shaped(candidate.text) and _lead_in(candidate.text, title.text):
            return furniture.pop()
        return None
    if current is not None and len(current.body) > 1:
        candidate = current.body[-1]
        if _headline_shaped(candidate.text) and _lead_in(candidate.text, title.text):
            return current.body.pop()
    return None


def _settle_bodiless(drafts: list[Draft], non_article: list[NonArticle]):
    """A deck with no story under it: the headline of the untitled story before it
    (printed after its story), or else a page banner."""
    out: list[Draft] = []
    for draft in drafts:
        if draft.body:
            out.append(draft)
            continue
        previous = out[-1] if out else None
        lines = [line for _, line in draft.deck]
        if (previous is not None and not previous.deck and previous.trailing_title is None
                and rules.match_dateline(previous.body[0].text)):
            previous.trailing_title = lines.pop(0)
        for line in lines:
            non_article.append(NonArticle(text=line.raw, reason="banner", line=line.no))
    return out, non_article


def _lead_in(upper: str, lower: str) -> bool:
    """`X在…时强调` or a short line of figures over the factual headline: a kicker."""
    if rules._LEAD_IN_END.search(upper):
        return True
    return (len(upper) <= 12 and " " in upper and bool(re.search(r"\d", upper))
            and not re.search(r"\d", lower))


def _top_byline(line: Line) -> bool:
    text = line.text
    return (len(text) <= 60 and not rules.ends_sentence(text)
            and not rules._CLAUSE_PUNCT.search(text)
            and bool(rules._TOP_BYLINE.match(text) or rules._CREDIT.match(text)))


def _end_kind(line: Line) -> str | None:
    text = line.text
    paren = rules._PAREN_LINE.match(text)
    if paren and not rules._JUMP.search(text):
        return "byline"
    if len(text) <= 60 and not rules.ends_sentence(text) and not rules._CLAUSE_PUNCT.search(text):
        if rules._CREDIT.match(text):
            return "credit"
        if rules._TOP_BYLINE.match(text) and not (text[0] in "□■◆▲●" or text.endswith("报道")):
            return "byline"
    return None


def _is_subhead(line: Line, nxt: Line | None) -> bool:
    text = line.text
    if line.heading_mark:
        return True
    if rules.ends_sentence(text) or len(text) > 40 or rules._CLAUSE_PUNCT.search(text):
        return False
    if rules._FIELD_LINE.match(text):
        return False
    return nxt is None or not rules._FRAGMENT_START.match(nxt.text)


@dataclass
class _Parts:
    top_byline: list[Line]
    body: list[Line]
    subheads: list[Line]
    end_byline: Line | None
    credit: Line | None
    jumps: list[Line]

    @property
    def dateline(self):
        return rules.match_dateline(self.body[0].text) if self.body else None


def _split_body(lines: list[Line]) -> _Parts:
    lines = list(lines)
    jumps = [line for line in lines
             if rules._JUMP.search(line.text) and len(line.text) <= 20]
    lines = [line for line in lines if line not in jumps]
    top: list[Line] = []
    while len(lines) > 1 and not rules.match_dateline(lines[0].text) and (
            _top_byline(lines[0]) or top and _NAME_ONLY.match(lines[0].text)):
        top.append(lines.pop(0))  # `新华社记者` / `吉宁`: a name printed under its byline
    end_byline = credit = None
    if len(lines) > 1 or (lines and top):
        kind = _end_kind(lines[-1])
        if kind == "credit":
            credit = lines.pop()
        elif kind == "byline":
            end_byline = lines.pop()
    if not lines and top and credit is None and end_byline is None:
        lines.append(top.pop())
    body: list[Line] = []
    subheads: list[Line] = []
    dated = bool(lines) and rules.match_dateline(lines[0].text) is not None
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else None
        if body and not dated and nxt is not None and _is_subhead(line, nxt):
            subheads.append(line)
        else:
            body.append(line)
    if not body and subheads:
        body, subheads = subheads, []
    return _Parts(top, body, subheads, end_byline, credit, jumps)


def build_article(index: int, draft: Draft, year: int, not_after: dt.date | None,
                  non_article: list[NonArticle]) -> Article:
    fields = {label: line for label, line in draft.deck}
    kicker = fields["K"].text if "K" in fields else None
    title = fields["T"].text if "T" in fields else None
    subtitle = fields["S"].text if "S" in fields else None
    if kicker is None and title and subtitle and not subtitle.startswith("—") \
            and _lead_in(title, subtitle):
        kicker, title, subtitle = title, subtitle, None  # `X在…时强调` over the headline
    if title is None and draft.trailing_title is not None:
        title = draft.trailing_title.text
    if title is None and subtitle:
        title, subtitle = subtitle, None
    elif title is None and kicker:
        title, kicker = kicker, None
    parts = _split_body(draft.body)
    for line in parts.jumps:
        non_article.append(NonArticle(text=line.raw, reason="jump", line=line.no))
    paragraphs = rules._paragraphs(parts.body)
    bylines = [line.text for line in parts.top_byline]
    glued = None
    if (paragraphs and parts.end_byline is None and parts.credit is None
            and rules.split_glued_byline(parts.body[-1].text)[1] is not None):
        # only a byline printed whole on the last line: one cut by a page break is text
        paragraphs[-1], glued = rules.split_glued_byline(paragraphs[-1])
    for extra in (glued, parts.end_byline.text if parts.end_byline else None,
                  parts.credit.text if parts.credit else None):
        if extra and extra.strip("（()） ") not in bylines:  # printed above and below
            bylines.append(extra)
    dateline = parts.dateline
    kind = rules._kind(parts, title, paragraphs)
    month_day = None
    if dateline is not None and dateline.month:
        month_day = dateline.month, dateline.day
    elif kind == "photo":
        month_day = rules._caption_date(paragraphs)
    date = rules.complete_date(*month_day, year, not_after) if month_day else None
    if dateline is not None and dateline.credit and not bylines:
        bylines.append(dateline.credit)
    used = [line for _, line in draft.deck] + parts.top_byline + parts.body + parts.subheads
    used += [line for line in (parts.end_byline, parts.credit, draft.trailing_title) if line]
    return Article(
        index=index, title=title, kicker=kicker, subtitle=subtitle, date=date,
        place=dateline.place if dateline else None,
        dateline=dateline.text if dateline else None,
        byline=" ".join(bylines) or None, kind=kind, paragraphs=tuple(paragraphs),
        subheads=tuple(line.text for line in parts.subheads),
        source_lines=tuple(sorted({line.no for line in used})))
