"""Stage 2: the normalised text of one issue -> masthead, articles, and set-aside lines.

The parser reads any paper, in any of the layouts issue files come in (a crawler's export
with indented paragraphs, PDF/OCR-like text with blank lines between everything, markdown
headings), from signals every paper shares:

1. Each non-blank line keeps its layout (indent, blank lines around it, heading marks)
   and gets paper-independent features (`lines`).
2. A linear-chain CRF labels every line furniture / 引题 / 标题 / 副题 / body
   (`tagger`; trained by `python -m digest.parse.train`, see `make train-parser`).
3. Decks open articles, body lines fill them, furniture is set aside (`assemble`); inside an
   article the rules of `rules` find the dateline, bylines, credits, subheads and
   paragraphs cut by a page break, and complete dates with the issue's year.

Every non-blank input line lands in exactly one place: a field of one article or one
`NonArticle` with its reason. `source_lines` on each article records which lines it took,
which is what the property tests check. Cost is linear in the file's size.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

from ..model import DecodedText, IssueMeta, NonArticle, ParsedIssue
from . import assemble, subheads, tagger
from .lines import _SIGN_OFF, Line, is_page_header, read_lines
from .rules import (complete_date, ends_sentence, match_dateline,  # noqa: F401 (public API)
                    split_glued_byline)
from . import rules

__all__ = ["parse_text", "parse_issue", "to_json", "outline", "match_dateline",
           "split_glued_byline", "ends_sentence", "complete_date"]

# `新华每日电讯  2026年4月28日  第01版  要闻`: the paper's name before the issue date
_HEADER_PAPER = re.compile(r"^(?P<paper>[\u4e00-\u9fff]{2,12})\s+(?P<date>(?:19|20)\d{2}\s*年\s*"
                           r"\d{1,2}\s*月\s*\d{1,2}\s*日)")


def _issue_from_headers(lines: list[Line], masthead) -> None:
    """Fill the paper and date from page header lines when no masthead gave them."""
    for line in lines[:400]:
        m = _HEADER_PAPER.match(line.text)
        if not m or not is_page_header(line.text):
            continue
        if masthead.paper is None:
            masthead.paper = m["paper"]
        if masthead.date is None:
            d = rules._FULL_DATE.search(m["date"])
            try:
                masthead.date = dt.date(int(d["y"]), int(d["m"]), int(d["d"]))
            except ValueError:
                pass
        return


_REPORTER_LINE = re.compile(r"^(?:新华社|本报|中新社)?(?:特约)?(?:记者|通讯员)\s*[\u4e00-\u9fff][\u4e00-\u9fff ]{1,20}$")


def _opens_with_byline(lines: list[Line], i: int) -> bool:
    """`本报记者 李四` between a headline and its first paragraph (not after the story), or
    a bare `新华社记者` with its names, if any, on the next line."""
    text = lines[i].text
    if not (_REPORTER_LINE.match(text) or _REPORTER_ONLY.match(text)) or i + 1 >= len(lines) \
            or i < 2:
        return False
    after = i + 1
    if _NAME_ONLY.match(lines[after].text) and after + 1 < len(lines):
        after += 1  # `新华社记者 陈宇轩` / `颜之宏`: the byline's names run on
    return ends_sentence(lines[i - 2].text) and len(lines[after].text) > 20


def _headline_before_dateline(lines: list[Line], labels: list[str],
                              furniture: set[int]) -> list[str]:
    """A dateline (`新华社北京4月27日电`, `东昌府讯 8月18日`) opens a report, and the
    headline-shaped line right above it is that report's headline, whatever the labeller
    thought: the one rule every paper keeps."""
    out = list(labels)
    for i, line in enumerate(lines):
        if is_page_header(line.text) or line.no in furniture:
            continue
        if out[i] == "F" and match_dateline(line.text):
            out[i] = "B"  # a dateline is never page furniture
        elif (out[i] == "F" and i and out[i - 1] in ("B", "N") and len(line.text) >= 15 and (ends_sentence(line.text)
                                            or split_glued_byline(line.text)[1])):
            out[i] = "B"  # a sentence inside a story is the story's
    for i in range(1, len(lines)):
        if out[i] not in ("B", "N") or out[i - 1] not in ("B", "F"):
            continue
        above = lines[i - 1]
        if above.no in furniture or is_page_header(above.text):
            continue
        if not (match_dateline(lines[i].text) or _opens_with_byline(lines, i)):
            continue
        text = above.text
        if (len(text) > 80 or ends_sentence(text) or rules._PAREN_LINE.match(text)
                or rules._CLAUSE_PUNCT.search(text.rstrip("，,")) and len(text) > 40
                or match_dateline(text)):
            continue
        if out[i - 1] == "B" and (i < 2 or out[i - 2] in ("K", "T", "S")):
            continue  # the body's first line after a deck: a byline, not a headline
        out[i - 1] = "T"
    return out


# `（作者系…研究员）`, `〔作者系…〕`: the author's post closes an essay
_AUTHOR_END = re.compile(r"^[（(〔\[]\s*(?:本文)?作者(?:系|为|是|单位)")


# a page's table of contents banner, printed with no story under it
_BANNER = re.compile(r"^(?:本期|今日|本版|今天|本周)?(?:导读|要目|目录)$")


def _furniture_and_author_lines(lines: list[Line], labels: list[str],
                                masthead_nos: set[int]) -> list[str]:
    """Masthead and page header lines (`第05版`, `学习时报  2026年4月27日  第05版  高端智库`)
    and a `本期导读` banner are furniture; an author's post (`（作者系…）`) closes the story
    above and a dateline alone on its line (`新华社北京4月28日电`) opens a body: none is ever
    a headline, whatever the labeller thought."""
    out = list(labels)
    for i, line in enumerate(lines):
        if line.no in masthead_nos or is_page_header(line.text) or _BANNER.match(line.text):
            out[i] = "F"
        elif out[i] in ("K", "T", "S") and _AUTHOR_END.match(line.text) and i and \
                out[i - 1] in ("B", "N"):
            out[i] = "B"
        elif out[i] in ("K", "T", "S") and (m := match_dateline(line.text)) and \
                len(line.text) <= len(m.text) + 2:
            out[i] = "B"  # a dateline printed on its own line opens the body
        elif out[i] in ("K", "T", "S") and _byline_line(lines, i):
            out[i] = "B"
        elif out[i] in ("K", "T", "S") and i and _closes_bracket(line.text):
            out[i] = "B"  # `张研 胡梦雪 董雪）`: the rest of the line above
    return out


_REPORTER_ONLY = re.compile(r"^(?:新华社|本报|中新社)?(?:特约)?(?:记者|通讯员)$")
# `新华社记者 陈宇轩`, `本报记者 张三 李四` (the space keeps out a `记者手记` banner)
_REPORTER_NAMES = re.compile(r"^(?:新华社|本报|中新社)?(?:特约)?(?:记者|通讯员)[ \u3000]+"
                             r"[\u4e00-\u9fff]{2,4}(?:[ \u3000、]+[\u4e00-\u9fff]{2,4}){0,5}$")
_NAME_ONLY = re.compile(r"^[\u4e00-\u9fff]{2,4}$")


def _byline_line(lines: list[Line], i: int) -> bool:
    """`新华社记者 陈宇轩`, and a bare name printed under a reporter line (`新华社记者` /
    `吉宁`): a byline, never a headline."""
    text = lines[i].text
    if _REPORTER_NAMES.match(text) or _REPORTER_ONLY.match(text):
        return True
    if i and _NAME_ONLY.match(text):
        above = lines[i - 1].text
        return bool(_REPORTER_NAMES.match(above) or _REPORTER_ONLY.match(above))
    return False


# the line features' sign-off (`新华社华沙4月25日电`), alone on its line, `据` allowed before it
_SIGN_OFF_ALONE = re.compile(r"(?:据)?" + _SIGN_OFF.pattern)


# the same, printed at the end of the story's last paragraph
_GLUED_SIGN_OFF_END = re.compile(r"[。！？”][\s\u3000]*" + _SIGN_OFF.pattern)


def _closes_story(lines: list[Line], i: int) -> bool:
    """A story's closing line: an author's post (`（作者系…）`), printed only at the end, or
    a sign-off alone on its line (`新华社华沙4月25日电`) under a finished paragraph (the
    same line over a headline is the dateline that opens a report)."""
    text = lines[i].text
    if _AUTHOR_END.match(text):
        return True
    if "日电" in text and _GLUED_SIGN_OFF_END.search(text):
        return True  # `…病了。”    新华社华盛顿4月27日电`: the sign-off closing the last paragraph
    return bool(_SIGN_OFF_ALONE.match(text)) and i > 0 and ends_sentence(lines[i - 1].text)


def _closes_bracket(text: str) -> bool:
    """A line closing a bracket it never opened carries on the line above it."""
    return text.count("）") + text.count(")") > text.count("（") + text.count("(")


def _headline_after_story_end(lines: list[Line], labels: list[str]) -> list[str]:
    """The headline-shaped line right after a story's closing line opens the next story:
    its headline, or the kicker of the headline under it."""
    out = list(labels)
    for i in range(1, len(lines) - 1):
        if out[i] != "B" or not _closes_story(lines, i - 1):
            continue
        text = lines[i].text
        if len(text) > 40 or text.endswith("。") or match_dateline(text):
            continue
        kicker = out[i + 1] == "T" and not lines[i + 1].text.startswith(("——", "—"))
        # a headline may ask (`…干活？`); a kicker over a headline may hold a comma
        if not kicker and (rules._CLAUSE_PUNCT.search(text) or out[i + 1] not in ("B", "S", "T")):
            continue
        if kicker:
            out[i] = "K"
        else:
            out[i] = "T"
            if out[i + 1] == "T":
                out[i + 1] = "S"  # `——…` under a headline is its 副题
    return out


def _story_openers(lines: list[Line], labels: list[str]) -> list[str]:
    """City-paper openings the labeller may miss: a byline is never a headline, and a
    `□…报道` byline or a dateline right after a closed story opens the next one."""
    out = list(labels)
    for i, line in enumerate(lines):
        text = line.text
        byline_shaped = (len(text) <= 60 and not ends_sentence(text)
                         and not rules._CLAUSE_PUNCT.search(text)
                         and bool(rules._TOP_BYLINE.match(text)) and text[0] in "□■◆▲●"
                         or text.endswith("报道") and " " in text and len(text) <= 40)
        if out[i] in ("T", "S") and byline_shaped and i and out[i - 1] in ("K", "T"):
            out[i] = "B"
            continue
        if out[i] != "B" or not i or out[i - 1] not in ("B", "N"):
            continue
        above = lines[i - 1].text
        closed = bool(rules._PAREN_LINE.match(above)) or ends_sentence(above)
        if byline_shaped and closed:
            out[i] = "N"
        elif (rules._PAREN_LINE.match(above) and match_dateline(text)
              and len(text) > len(match_dateline(text).text) + 5):
            out[i] = "N"
    return out


def _reprinted_starts(lines: list[Line], labels: list[str]) -> list[str]:
    """An article an issue prints twice (on the page where it starts and again where it
    continues) opens where its first copy opened: the same headline over the same first
    paragraph, under a different line above, starts the copy too."""
    out = list(labels)
    first_at: dict[tuple[str, str], int] = {}
    for i in range(len(lines) - 1):
        text = lines[i].text
        if len(text) > 40 or ends_sentence(text):
            continue
        j = first_at.setdefault((text, lines[i + 1].text), i)
        if (j < i and out[i] == "B" and out[j] in ("K", "T") and (j == 0 or out[j - 1] not in
                                                                  ("K", "T", "S"))
                and (j == 0 or lines[j - 1].text != lines[i - 1].text)):
            out[i] = out[j]
    return out


def parse_text(text: str, *, source: str = "", sha256: str = "",
               file_date: dt.date | None = None) -> ParsedIssue:
    lines = read_lines(text)
    masthead = rules._read_masthead(lines)
    _issue_from_headers(lines, masthead)
    masthead_nos = {line.no for line in masthead.lines}
    paper = masthead.paper
    if paper:
        masthead_nos |= {line.no for line in lines
                         if line.text.replace(" ", "") == paper}
    labels = tagger.label(lines)
    labels = _furniture_and_author_lines(lines, labels, masthead_nos)
    labels = _headline_before_dateline(lines, labels, masthead_nos)
    labels = _headline_after_story_end(lines, labels)
    labels = _story_openers(lines, labels)
    labels = subheads.demote(lines, labels, _closes_story)
    labels = _reprinted_starts(lines, labels)
    skip = assemble.find_duplicates(lines)
    drafts, non_article = assemble.group(lines, labels, skip, masthead_nos)
    # The year of a `8月18日` dateline: the masthead's, else the latest one the issue
    # mentions, else the file's; a date after the issue (or file) is from the year before.
    hinted = None if masthead.date else rules._year_hint(text, file_date)
    if masthead.date:
        year, not_after = masthead.date.year, masthead.date
    elif hinted:
        year, not_after = hinted, file_date  # a December dateline in a January issue
    else:
        year = (file_date or dt.date.today()).year
        not_after = file_date
    articles = [assemble.build_article(i, draft, year, not_after, non_article)
                for i, draft in enumerate(drafts)]
    non_article.sort(key=lambda item: item.line)
    issue = IssueMeta(paper=masthead.paper, date=masthead.date, number=masthead.number,
                      source=source, sha256=sha256)
    return ParsedIssue(issue=issue, articles=tuple(articles), non_article=tuple(non_article))


def parse_issue(decoded: DecodedText) -> ParsedIssue:
    file_date = decoded.mtime.date() if decoded.mtime else None
    return parse_text(decoded.text, source=decoded.source, sha256=decoded.sha256,
                      file_date=file_date)


# ---------------------------------------------------------------------------------------------
# Output


def _iso(date: dt.date | None) -> str | None:
    return date.isoformat() if date else None


def to_json(parsed: ParsedIssue) -> dict:
    issue = parsed.issue
    return {
        "issue": {"paper": issue.paper, "date": _iso(issue.date), "number": issue.number,
                  "source": issue.source, "sha256": issue.sha256},
        "articles": [
            {"title": a.title, "kicker": a.kicker, "subtitle": a.subtitle, "date": _iso(a.date),
             "place": a.place, "dateline": a.dateline, "byline": a.byline, "kind": a.kind,
             "subheads": list(a.subheads), "paragraphs": list(a.paragraphs)}
            for a in parsed.articles],
        "non_article": [{"text": n.text, "reason": n.reason} for n in parsed.non_article],
    }


def outline(parsed: ParsedIssue) -> str:
    issue = parsed.issue
    head = " ".join(x for x in (issue.paper, _iso(issue.date), issue.number) if x)
    lines = [f"{issue.source}: {head or '(no masthead)'} — {len(parsed.articles)} articles"]
    for a in parsed.articles:
        date = _iso(a.date) or "no date"
        lines.append(f"  {a.index + 1:>2}. [{a.kind}, {date}] {a.title or '(untitled)'}")
        if a.kicker:
            lines.append(f"      kicker:   {a.kicker}")
        if a.subtitle:
            lines.append(f"      subtitle: {a.subtitle}")
        lines.append(f"      {len(a.paragraphs)} paragraphs · {a.byline or 'no byline'}")
    reasons = Counter(n.reason for n in parsed.non_article)
    if reasons:
        lines.append("  set aside: " + ", ".join(f"{n} {r}" for r, n in sorted(reasons.items())))
    return "\n".join(lines)


