"""What a reader knows about Chinese newspaper text, paper by paper the same: datelines
(`东昌府讯 8月18日`, `本报聊城讯`, `新华社北京2月11日电`), bylines (`(融媒体 郭龙君)`, `□记者 … 报道`),
photo credits (`… 摄`), mastheads, page-break cuts and dates.

The former rule-based parser; the labeller now decides where articles start, and
`assemble` uses these rules inside each article.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field


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
    r"|(?:本报记者|本报通讯员|特约记者|新华社记者|中新社记者|记者|通讯员|融媒体中心|融媒体|实习生|文/图|文／图|"
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


# `新华每日电讯  2026年4月28日  第01版  要闻`: a paper whose name ends in 讯 heading a page
_PAGE_NUMBER = re.compile(r"第\s*[\d一二三四五六七八九十]{1,3}\s*版|(?<![A-Za-z])[A-Z]\s*\d{1,2}\s*版")
_YEAR_NEXT = re.compile(r"\s*(?:19|20)\d{2}\s*年")


def match_dateline(text: str) -> Dateline | None:
    """The dateline at the start of a paragraph, if it has one."""
    if len(text) <= 40 and _PAGE_NUMBER.search(text) and not ends_sentence(text):
        return None  # a page header line
    for pattern in (_WIRE_DATELINE, _LOCAL_DATELINE):
        m = pattern.match(text)
        if not m:
            continue
        if pattern is _LOCAL_DATELINE and not m.group("month") and _YEAR_NEXT.match(
                text, m.end()):
            continue  # `…讯  2026年4月28日`: a masthead's name and issue date, not a dateline
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
# 4. Articles


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


# `2019年`, not `到2030年`: the look-behind placed after the century (`19`/`20`) so that the
# regex engine can skip to the next 1 or 2 instead of trying every position of the text
_YEAR = re.compile(r"((?:19|20)(?<![到至争计划]..)\d{2})\s*年")


def _year_hint(text: str, not_after: dt.date | None = None) -> int | None:
    """The latest year an issue mentions: reports look back (`2019年以来`), but targets
    (`到2030年`) look forward, so those are not counted."""
    years = [int(m.group(1)) for m in _YEAR.finditer(text)]
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


def _kind(draft, title: str | None, paragraphs: list[str]) -> str:
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
