"""Stage 2: the normalised text of one issue -> masthead, articles, and set-aside lines.

The parser reads a page the way an editor does, from a few general signals rather than rules
for one paper: how long a line is, whether it ends a sentence, whether it opens with a
dateline (`东昌府讯 8月18日`, `本报聊城讯`, `新华社北京2月11日电`), whether it is a byline
(`(融媒体 郭龙君)`, `□记者 … 报道`) or a photo credit (`… 摄`), and where it stands.

1. Each non-blank line is classified on its own (`_classify`).
2. Stray repeated copies of a paragraph are set aside (`_find_duplicates`).
3. A small state machine walks the lines and opens, fills and closes articles: a run of short
   headline-like lines before a body is a headline deck; one inside a long piece without a
   dateline is a section subhead; a byline or credit closes an article.
4. Decks become kicker/title/subtitle, paragraphs cut by a page break are joined, dates are
   completed with a year that is never after the issue's date.

Every non-blank input line lands in exactly one place: a field of one article or one
`NonArticle` with its reason. `source_lines` on each article records which lines it took,
which is what the property tests check.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field

from ..model import Article, NonArticle

CJK = "\u4e00-\u9fff"
_CLOSERS = "”’」』）)】》\"'"
_TERMINAL = set("。！？!?…；;：:")
_CLAUSE_PUNCT = re.compile(r"[，,；;。]")

# `东昌府讯 8月18日`, `□东昌府讯`, `本报聊城讯`, `新华社北京2月11日电`, `本报北京2月11日电（记者 …）`
_WIRE_DATELINE = re.compile(
    rf"^(?P<mark>[□■◆▲●]\s*)?(?P<agency>新华社|中新社|中国新闻社|本报|人民网|央视网|央视新闻)"
    rf"(?P<place>[{CJK}]{{0,8}}?)\s*(?:(?P<month>\d{{1,2}})月(?P<day>\d{{1,2}})日)?\s*电"
    rf"(?:\s*(?P<credit>[（(][^（()）]{{1,40}}[)）]))?")
_LOCAL_DATELINE = re.compile(
    rf"^(?P<mark>[□■◆▲●]\s*)?(?P<agency>本报)?(?P<place>[{CJK}]{{0,8}}?)讯"
    rf"(?=\s|\d|[（(“\"：:]|$)\s*(?:(?P<month>\d{{1,2}})月(?P<day>\d{{1,2}})日)?")
_NOT_PLACES = {"通", "简", "快", "喜", "电", "资", "视", "短", "音", "要", "新华", "图片"}

_BYLINE_WORDS = re.compile(r"记者|通讯员|融媒体|报道|编辑|供稿|政务|策划|撰稿|摄|文/|图/|文／|图／|"
                           r"实习生|特约|评论员|作者|书记|主任|局长|董事长|委员")
_NAMES = re.compile(rf"^[{CJK}]{{2,4}}(?:[ 、][{CJK}]{{2,4}}){{1,6}}$")
_PAREN_LINE = re.compile(r"^[（(](?P<inner>[^（()）]{1,80})[)）]$")
_GLUED_BYLINE = re.compile(
    r"^(?P<body>.*[。！？!?”’])\s*(?P<byline>[（(](?P<inner>[^（()）。]{2,50})[)）])$")
_JUMP = re.compile(r"[上下]接第?.{0,3}版|转第?.{0,3}版|接上版|转下版")
_TOP_BYLINE = re.compile(
    r"^(?:[□■◆▲●]\s*\S.{1,60}"
    r"|(?:本报记者|本报通讯员|特约记者|记者|通讯员|融媒体中心|融媒体|实习生|文/图|文／图|"
    r"文图|撰文|作者)[\s:：/／]*\S.{0,50}"
    r"|.{2,50}\s报道)$")
_CREDIT = re.compile(r"^.{2,50}(?:\s摄|摄影|供图|/摄|／摄)$|^(?:摄影|图)[\s:：/／].{2,40}$")

_FULL_DATE = re.compile(r"(?P<y>(?:19|20)\d{2})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*日")
_ISSUE_NUMBER = re.compile(r"总第\s*\d+\s*期|第\s*\d+\s*期")
_MASTHEAD = re.compile(
    r"^(?:(?:19|20)\d{2}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日.{0,20}"
    r"|星期[一二三四五六日天]|周[一二三四五六日]|农历.{2,14}"
    r"|(?:总第|第)\s*\d+\s*期.{0,20}"
    r"|(?:今日|本期|今天)\s*[\d一二三四五六七八九十]+\s*版.{0,10}"
    r"|.{0,12}(?:网址|网站|邮箱|投稿|电话|传真|邮编|统一连续出版物号|国内统一刊号|CN\s*\d|"
    r"http|www\.).{0,80})$", re.I)
_PAGE_HEADER = re.compile(r"第\s*[\d一二三四五六七八九十]+\s*版|责任编辑|版式|校对|美编|本版编辑")
_LETTER_SPACED = re.compile(rf"^[{CJK}](?: [{CJK}]){{2,9}}$")
_FIELD_LINE = re.compile(r"^[^，,。：:]{1,8}[:：]")
_FRAGMENT_START = re.compile(r"^[^\s，,。；;、！？!?：:“”\"'（()）]{1,3}[，,。；;、！？!?]")
_BROKEN_TAIL = re.compile(r"^[^\s，,。；;、！？!?：:“”\"'（()）]{1}[，,、]")
_LEAD_IN_END = re.compile(r"(?:强调|指出|表示|要求|提出|寄语|批示|称|说|时|：|:)$")
_PURPOSE_VERBS = ("打造", "推动", "推进", "助力", "加快", "聚焦", "深化", "构建", "建设", "实现",
                  "做好", "抓好", "服务", "守护", "培育", "激活", "点亮")
_NOTICE = re.compile(r"启事|公告|通告|声明|须知|征集|招聘|讣告|更正|征稿|约稿")
_CAPTION = re.compile(r"图为|上图|下图|左图|右图")
_MONTH_DAY = re.compile(r"(\d{1,2})月(\d{1,2})日")

MAX_HEADLINE = 80  # a deck line longer than this is a paragraph, however it ends
MAX_DECK = 3


@dataclass(frozen=True)
class Line:
    no: int  # 1-based raw line number
    raw: str
    text: str  # without markdown heading marks
    blank_before: int
    heading_mark: bool  # printed as a markdown heading


@dataclass(frozen=True)
class Dateline:
    text: str
    place: str | None
    month: int | None
    day: int | None
    credit: str | None


def ends_sentence(text: str) -> bool:
    stripped = text.rstrip(_CLOSERS + " ")
    return bool(stripped) and stripped[-1] in _TERMINAL


def match_dateline(text: str) -> Dateline | None:
    """The dateline at the start of a paragraph, if it has one."""
    for pattern in (_WIRE_DATELINE, _LOCAL_DATELINE):
        m = pattern.match(text)
        if not m:
            continue
        place = m.group("place") or None
        if pattern is _LOCAL_DATELINE and (place in _NOT_PLACES or (not place and not m.group(
                "agency"))):
            continue
        month = int(m.group("month")) if m.group("month") else None
        day = int(m.group("day")) if m.group("day") else None
        credit = m.groupdict().get("credit")
        return Dateline(text=m.group(0).strip(), place=place, month=month, day=day,
                        credit=credit)
    return None


def _is_paren_byline(inner: str) -> bool:
    return bool(_BYLINE_WORDS.search(inner) or _NAMES.match(inner) or " " in inner.strip())


def split_glued_byline(paragraph: str) -> tuple[str, str | None]:
    """`…文明城市。(融媒体中心 裴崇旭)` -> (`…文明城市。`, `(融媒体中心 裴崇旭)`)."""
    m = _GLUED_BYLINE.match(paragraph)
    if m and _is_paren_byline(m.group("inner")):
        return m.group("body").rstrip(), m.group("byline")
    return paragraph, None


# ---------------------------------------------------------------------------------------------
# 1. Lines


def _lines(text: str) -> list[Line]:
    out, blanks = [], 0
    for no, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            blanks += 1
            continue
        stripped = raw.strip()
        heading = stripped.startswith("#")
        body = stripped.lstrip("#").strip() if heading else stripped
        out.append(Line(no=no, raw=stripped, text=body or stripped, blank_before=blanks,
                        heading_mark=heading))
        blanks = 0
    return out


def _blank_separated(lines: list[Line]) -> bool:
    """Most lines stand alone between blank lines (so a block of lines means something)."""
    if len(lines) < 4:
        return False
    return sum(1 for line in lines[1:] if line.blank_before) >= 0.7 * (len(lines) - 1)


def _classify(line: Line) -> str:
    """One line's kind, judged on its own; the walk can overrule it from context."""
    text = line.text
    if line.heading_mark:
        return "head"
    if match_dateline(text):
        return "dateline"
    paren = _PAREN_LINE.match(text)
    if paren:
        return "jump" if _JUMP.search(text) else "end_byline"
    if len(text) <= 60 and not ends_sentence(text) and not _CLAUSE_PUNCT.search(text):
        if _CREDIT.match(text):
            return "credit"
        if _TOP_BYLINE.match(text):
            return "top_byline"
    if _JUMP.search(text) and len(text) <= 20:
        return "jump"
    if ends_sentence(text) or len(text) > MAX_HEADLINE or _FIELD_LINE.match(text):
        return "body"
    if _CLAUSE_PUNCT.search(text):
        return "weak_head"  # a headline only where no article is open
    return "head"


def _find_duplicates(lines: list[Line]) -> dict[int, str]:
    """Line numbers of stray repeated copies -> reason.

    A paragraph printed twice in a row is a repeat; a paragraph that also stands alone
    elsewhere keeps that place, and a run of copies is the stray one (how a layout
    program leaves them behind).
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
        keep = next((run[0] for run in runs if len(run) == 1), runs[0][0])
        for pos in positions:
            if pos != keep:
                dropped[lines[pos].no] = "duplicate"
    return dropped


# ---------------------------------------------------------------------------------------------
# 2. Masthead


@dataclass
class _Masthead:
    paper: str | None = None
    date: dt.date | None = None
    number: str | None = None
    lines: list[Line] = field(default_factory=list)


def _read_masthead(lines: list[Line]) -> _Masthead:
    """Masthead lines at the top of the file, before anything that starts an article."""
    head = _Masthead()
    for i, line in enumerate(lines):
        text = line.text
        if _LETTER_SPACED.match(text) and head.paper is None:
            head.paper = text.replace(" ", "")
        elif _MASTHEAD.match(text) and len(text) <= 100:
            m = _FULL_DATE.search(text)
            if m and head.date is None:
                try:
                    head.date = dt.date(int(m["y"]), int(m["m"]), int(m["d"]))
                except ValueError:
                    pass
            n = _ISSUE_NUMBER.search(text)
            if n and head.number is None:
                head.number = n.group(0).replace(" ", "")
        elif (head.paper is None and len(text) <= 12 and not _CLAUSE_PUNCT.search(text)
              and i + 1 < len(lines) and _FULL_DATE.match(lines[i + 1].text)):
            head.paper = text  # a short name right above the issue date
        else:
            break
        head.lines.append(line)
    if not any(_FULL_DATE.search(l.text) or _ISSUE_NUMBER.search(l.text) for l in head.lines):
        return _Masthead()  # a date-less "masthead" is more likely a headline
    return head


# ---------------------------------------------------------------------------------------------
# 3. The walk


@dataclass
class _Draft:
    deck: list[Line] = field(default_factory=list)
    top_byline: list[Line] = field(default_factory=list)
    body: list[Line] = field(default_factory=list)
    subheads: list[Line] = field(default_factory=list)
    end_byline: Line | None = None
    credit: Line | None = None
    closed: bool = False
    trailing_title: Line | None = None

    @property
    def dateline(self) -> Dateline | None:
        return match_dateline(self.body[0].text) if self.body else None

    @property
    def has_title(self) -> bool:
        return bool(self.deck) or self.trailing_title is not None


class _Walk:
    def __init__(self, lines: list[Line], skip: dict[int, str], blank_separated: bool):
        self.lines = lines
        self.skip = skip
        self.blank_separated = blank_separated
        self.drafts: list[_Draft] = []
        self.pending: list[Line] = []
        self.non_article: list[NonArticle] = []

    @property
    def current(self) -> _Draft | None:
        return self.drafts[-1] if self.drafts else None

    def set_aside(self, line: Line, reason: str) -> None:
        self.non_article.append(NonArticle(text=line.raw, reason=reason, line=line.no))

    def open_article(self) -> _Draft:
        deck = self._take_deck()
        draft = _Draft(deck=deck)
        self.drafts.append(draft)
        return draft

    def _take_deck(self) -> list[Line]:
        """Split the pending headline-like lines into this article's deck and leftovers."""
        pending, self.pending = self.pending, []
        if not pending:
            return []
        previous = self.current
        if (len(pending) > 1 and previous is not None and not previous.has_title
                and previous.dateline is not None):
            # A dated report always has a headline; it was printed after the story.
            previous.trailing_title = pending.pop(0)
        deck: list[Line] = []
        for line in reversed(pending):
            in_block = (self.blank_separated and line is not pending[0]
                        and line.blank_before == 0)
            follows_block = (self.blank_separated and deck and deck[0].blank_before == 0)
            if len(deck) == MAX_DECK or in_block or follows_block:
                break
            deck.insert(0, line)
        for line in pending[: len(pending) - len(deck)]:
            self.set_aside(line, "slogan")
        return deck

    def _awaits_body(self) -> _Draft | None:
        """The article whose byline is printed and whose story has not started yet."""
        draft = self.current
        if draft is not None and draft.top_byline and not draft.body and not draft.closed:
            return draft
        return None

    def _pending_are_slogans(self) -> None:
        """Headline-like lines between a byline and its story belong to the page."""
        for line in self.pending:
            self.set_aside(line, "slogan")
        self.pending = []

    def subhead_or_deck(self) -> bool:
        """Pending lines inside an open piece without a dateline are its section subheads."""
        draft = self.current
        return (draft is not None and not draft.closed and bool(draft.body)
                and draft.dateline is None and len(self.pending) == 1
                and draft.credit is None)

    def run(self) -> None:
        lines = self.lines
        for i, line in enumerate(lines):
            if line.no in self.skip:
                self.set_aside(line, self.skip[line.no])
                continue
            kind = _classify(line)
            nxt = next((l for l in lines[i + 1:] if l.no not in self.skip), None)
            draft = self.current
            open_body = draft is not None and not draft.closed and bool(draft.body)
            if kind in ("head", "weak_head") and nxt is not None and _FRAGMENT_START.match(
                    nxt.text) and open_body and not self.pending and not line.heading_mark:
                kind = "body"  # a short line cut by a page break: `…营运资金不足` / `难题。…`
            if kind == "weak_head" and open_body and not self.pending:
                kind = "body"
            if (kind == "head" and open_body and not self.pending and draft.dateline
                    and not line.heading_mark and nxt is not None
                    and _classify(nxt) == "body"):
                kind = "body"  # a dated report has no subheads: this is a page-break cut
            if kind == "weak_head":
                kind = "head"
            getattr(self, f"_on_{kind}")(line)
        self._finish()

    def _on_head(self, line: Line) -> None:
        self.pending.append(line)

    def _on_jump(self, line: Line) -> None:
        self.set_aside(line, "jump")

    def _on_top_byline(self, line: Line) -> None:
        draft = self.current
        starts_story = line.text[0] in "□■◆▲●" or line.text.endswith("报道")
        if draft is not None and not draft.closed and draft.body and not self.pending \
                and not starts_story:
            draft.end_byline, draft.closed = line, True  # `记者 张三` after the story
            return
        if draft is not None and not draft.body and not draft.closed and not self.pending:
            draft.top_byline.append(line)
            return
        self.open_article().top_byline.append(line)

    def _on_dateline(self, line: Line) -> None:
        draft = self._awaits_body()
        if draft is not None:
            self._pending_are_slogans()
        else:
            draft = self.open_article()
        draft.body.append(line)

    def _on_body(self, line: Line) -> None:
        draft = self.current
        if self.pending:
            if self.subhead_or_deck():
                draft.subheads.append(self.pending.pop())
            elif self._awaits_body() is not None:
                self._pending_are_slogans()
            else:
                draft = self.open_article()
        elif draft is None or draft.closed:
            draft = self.open_article()
        draft.body.append(line)
        if split_glued_byline(line.text)[1] is not None:
            draft.closed = True  # `…新台阶。(融媒体中心 裴崇旭)` ends the story

    def _close_with(self, line: Line, slot: str) -> bool:
        """Close the open article with a byline or credit; short lines just before it are
        the story's last lines, not a headline."""
        draft = self.current
        if draft is None or draft.closed:
            return False
        draft.body.extend(self.pending)
        self.pending = []
        setattr(draft, slot, line)
        draft.closed = True
        return True

    def _on_end_byline(self, line: Line) -> None:
        if not self._close_with(line, "end_byline"):
            self.set_aside(line, "stray")

    def _on_credit(self, line: Line) -> None:
        if not self._close_with(line, "credit"):
            self.open_article()  # a credit with no open story: an item of its own
            self._close_with(line, "credit")

    def _finish(self) -> None:
        if not self.pending:
            return
        previous = self.current
        leftovers, self.pending = self.pending, []
        if previous is not None and not previous.has_title and previous.body:
            previous.trailing_title = leftovers.pop(0)
        for line in leftovers:
            self.set_aside(line, "stray")


# ---------------------------------------------------------------------------------------------
# 4. Articles


def _is_lead_in(upper: str, lower: str) -> bool:
    """Is the upper deck line a kicker (a lead-in that needs the line below)?"""
    if _LEAD_IN_END.search(upper):
        return True
    if re.search(r"\d", upper) and not re.search(r"\d", lower):
        return True  # a detail line of figures over the factual headline
    return (" " not in upper and len(upper) <= 10 and upper.startswith(_PURPOSE_VERBS)
            and len(lower) > len(upper))


def _split_deck(deck: list[Line]) -> tuple[str | None, str | None, str | None, list[Line]]:
    """(kicker, title, subtitle, banner lines) from one to three headline lines."""
    texts = [line.text for line in deck]
    if not texts:
        return None, None, None, []
    if len(texts) == 1:
        return None, texts[0], None, []
    if len(texts) == 3:
        if _is_lead_in(texts[0], texts[1]):
            return texts[0], texts[1], texts[2], []
        banner, deck, texts = [deck[0]], deck[1:], texts[1:]
    else:
        banner = []
    upper, lower = texts
    if not lower.startswith("—") and _is_lead_in(upper, lower):
        return upper, lower, None, banner
    return None, upper, lower, banner


def _paragraphs(body: list[Line]) -> list[str]:
    """Join lines cut by a page break; keep each printed paragraph separate otherwise."""
    paragraphs: list[str] = []
    for line in body:
        text = line.text
        if paragraphs:
            previous = paragraphs[-1]
            cut = not ends_sentence(previous) and not _FIELD_LINE.match(text) \
                and not _FIELD_LINE.match(previous)
            # One character and a comma cannot open a paragraph: it is the tail of a word
            # split by a page break, even after a full stop (`…发展。` / `展,全力…`).
            broken = bool(_BROKEN_TAIL.match(text))
            if cut or broken:
                paragraphs[-1] = previous + text
                continue
        paragraphs.append(text)
    return paragraphs


def _year_hint(text: str, not_after: dt.date | None = None) -> int | None:
    """The latest year an issue mentions: reports look back (`2019年以来`), but targets
    (`到2030年`) look forward, so those are not counted."""
    years = [int(m.group(1)) for m in re.finditer(r"(?<![到至争计划])((?:19|20)\d{2})\s*年", text)]
    if not_after is not None:
        years = [y for y in years if y <= not_after.year]
    return max(years) if years else None


def complete_date(month: int, day: int, year: int, not_after: dt.date | None) -> dt.date | None:
    """A dateline's month/day as a full date, never after the issue's own date."""
    try:
        date = dt.date(year, month, day)
        if not_after is not None and date > not_after:
            date = dt.date(year - 1, month, day)
    except ValueError:
        return None
    return date


def _caption_date(paragraphs: list[str]) -> tuple[int, int] | None:
    for paragraph in paragraphs[:1]:
        m = re.match(r"^(\d{1,2})月(\d{1,2})日", paragraph) or re.search(
            r"图为(\d{1,2})月(\d{1,2})日", paragraph)
        if m:
            return int(m.group(1)), int(m.group(2))
    for paragraph in paragraphs:
        m = re.search(r"图为(\d{1,2})月(\d{1,2})日", paragraph)
        if m:
            return int(m.group(1)), int(m.group(2))
    return None


def _kind(draft: _Draft, title: str | None, paragraphs: list[str]) -> str:
    if draft.credit is not None:
        return "photo"
    if draft.dateline is None and len(paragraphs) <= 3 and any(
            _CAPTION.search(p) for p in paragraphs):
        return "photo"
    if title and _NOTICE.search(title):
        return "brief"
    if draft.dateline is not None:
        return "news"
    return "feature"


def _build_article(index: int, draft: _Draft, year: int, not_after: dt.date | None,
                   non_article: list[NonArticle]) -> Article:
    deck = list(draft.deck)
    kicker, title, subtitle, banner = _split_deck(deck)
    for line in banner:
        non_article.append(NonArticle(text=line.raw, reason="banner", line=line.no))
    if draft.trailing_title is not None and title is None:
        title = draft.trailing_title.text
    paragraphs = _paragraphs(draft.body)
    bylines = [line.text for line in draft.top_byline]
    glued = None
    if paragraphs and draft.end_byline is None and draft.credit is None:
        paragraphs[-1], glued = split_glued_byline(paragraphs[-1])
    for extra in (glued, draft.end_byline.text if draft.end_byline else None,
                  draft.credit.text if draft.credit else None):
        if extra and extra.strip("（()） ") not in bylines:  # printed above and below
            bylines.append(extra)
    dateline = draft.dateline
    kind = _kind(draft, title, paragraphs)
    month_day = None
    if dateline is not None and dateline.month:
        month_day = dateline.month, dateline.day
    elif kind == "photo":
        month_day = _caption_date(paragraphs)
    date = complete_date(*month_day, year, not_after) if month_day else None
    if dateline is not None and dateline.credit and not bylines:
        bylines.append(dateline.credit)
    used = deck + draft.top_byline + draft.body + draft.subheads + [
        line for line in (draft.end_byline, draft.credit, draft.trailing_title) if line]
    used_nos = {line.no for line in used} - {line.no for line in banner}
    return Article(
        index=index, title=title, kicker=kicker, subtitle=subtitle, date=date,
        place=dateline.place if dateline else None,
        dateline=dateline.text if dateline else None,
        byline=" ".join(bylines) or None, kind=kind, paragraphs=tuple(paragraphs),
        subheads=tuple(line.text for line in draft.subheads),
        source_lines=tuple(sorted(used_nos)))


