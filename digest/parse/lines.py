"""An issue's lines with the layout signals the labeller reads, and their features.

Every feature is one a reader of any paper would use: how long a line is, how it ends, its
indent against the issue's habit, blank lines around it, markdown heading marks, and the
shape of datelines, bylines and page headers. Nothing names a paper, a place or a column,
so a model trained on three papers has a chance on a fourth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import rules

_INDENT = re.compile(r"^[\s\u3000]+")
_HEADING = re.compile(r"^(#{1,6})\s*")
# Page furniture printed at each new page: `第01版`, `A01版`, `第3版 理论前沿`,
# `新华每日电讯  2026年4月28日  第01版  要闻`.
_PAGE_NO = re.compile(r"(?:第\s*[\d一二三四五六七八九十]{1,3}\s*版|(?<![A-Za-z])[A-Z]\s*\d{1,2}\s*版"
                      r"|^\d{1,2}\s*版)")
_FULL_DATE = re.compile(r"(?:19|20)\d{2}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日")
_SIGN_OFF = re.compile(r"(?:新华社|本报|中新社)[\u4e00-\u9fff]{0,8}\d{1,2}月\d{1,2}日电[）)]?$")
_GLUED_SIGN_OFF = re.compile(r"[。！？”][\s\u3000]*[（(]?(?:新华社|本报|中新社)[\u4e00-\u9fff]{0,8}"
                             r"\d{1,2}月\d{1,2}日电")
_AUTHOR = re.compile(r"^[（(]?(?:作者|本文作者|文/|作者：|作者:)|[（(]作者.{0,40}[)）]$|"
                     r"^[（(].{0,40}(?:系|为|是).{0,40}[)）]$")
_SPEAKER = re.compile(r"^[\u4e00-\u9fff]{2,4}$")
_REPORTED = re.compile(r"^(?:据|[（(]?)(?:新华社|中新社|本报|人民网|央视网)[\u4e00-\u9fff]{0,8}"
                       r"(?:\d{1,2}月\d{1,2}日)?电")
_QUOTE_OPEN = "“‘「『《"
_DASH = ("——", "—", "--", "－－")
_NUMBERED = re.compile(r"^(?:[一二三四五六七八九十]+[、.．]|[（(][一二三四五六七八九十\d]+[)）]|\d+[、.．])")


@dataclass(frozen=True)
class Line:
    no: int  # 1-based raw line number
    raw: str  # the line stripped of surrounding space, as printed
    text: str  # without markdown heading marks
    blank_before: int
    heading_mark: bool  # printed as a markdown heading
    heading: int = 0  # the number of `#`
    indent: int = 0  # leading space characters
    blank_after: int = 0


def read_lines(text: str) -> list[Line]:
    """The non-blank lines of a text, each with its indent and blank-line context."""
    out: list[Line] = []
    blanks = 0
    for no, raw in enumerate(text.split("\n"), start=1):
        stripped = raw.strip()
        if not stripped:
            blanks += 1
            continue
        if out:
            out[-1] = _with_blank_after(out[-1], blanks)
        m = _INDENT.match(raw)
        indent = len(m.group(0)) if m else 0
        h = _HEADING.match(stripped)
        level = len(h.group(1)) if h else 0
        body = stripped[h.end():].strip() if h else stripped
        out.append(Line(no=no, raw=stripped, text=body or stripped, blank_before=blanks,
                        heading_mark=bool(h), heading=level, indent=indent))
        blanks = 0
    if out:
        out[-1] = _with_blank_after(out[-1], blanks)
    return out


def _with_blank_after(line: Line, blanks: int) -> Line:
    return Line(no=line.no, raw=line.raw, text=line.text, blank_before=line.blank_before,
                heading_mark=line.heading_mark, heading=line.heading, indent=line.indent,
                blank_after=blanks)


def is_page_header(text: str) -> bool:
    return bool(_PAGE_NO.search(text)) and len(text) <= 40 and not rules.ends_sentence(text)


def _length(n: int) -> str:
    for limit in (2, 4, 6, 8, 11, 15, 20, 25, 32, 40, 60, 80, 120):
        if n <= limit:
            return str(limit)
    return "long"


def _ending(text: str) -> str:
    last = text[-1]
    if last in "。！？!?…":
        return "stop"
    if last in "”’」』\"'":
        core = text.rstrip("”’」』\"' ")
        return "qstop" if core and core[-1] in "。！？!?…" else "quote"
    if last in "）)】":
        return "paren"
    if last in "：:":
        return "colon"
    if last in "，,、；;":
        return "comma"
    if last in "》":
        return "book"
    if last.isdigit():
        return "digit"
    if last == "电":
        return "dian"
    return "char"


def _blank(n: int) -> str:
    return str(min(n, 3))


def _own(line: Line, doc: dict) -> dict[str, float | str]:
    text = line.text
    n = len(text)
    f: dict[str, float | str] = {
        "len": _length(n),
        "end": _ending(text),
        "bb": _blank(line.blank_before),
        "ba": _blank(line.blank_after),
        "h": str(min(line.heading, 3)),
        "ind": "1" if line.indent else "0",
    }
    # The indent only means something against the habit: in an issue whose
    # paragraphs are indented, an unindented line is a headline or furniture.
    if doc["indented"] > 0.3:
        f["ind_rel"] = "in" if line.indent else "out"
    stops = text.count("。") + text.count("！") + text.count("？")
    f["stops"] = str(min(stops, 3))
    commas = len(re.findall(r"[，,；;]", text))
    f["commas"] = str(min(commas, 3))
    if " " in text or "\u3000" in text:
        f["space"] = "1"
    if rules.match_dateline(text) or _REPORTED.match(text):
        f["dateline"] = "1"
    if _SIGN_OFF.search(text):
        f["signoff"] = "1"
    if _GLUED_SIGN_OFF.search(text):
        f["glued_signoff"] = "1"
    if rules._PAREN_LINE.match(text):
        f["paren"] = "1"
    if n <= 60 and not rules._CLAUSE_PUNCT.search(text):
        if rules._CREDIT.match(text):
            f["credit"] = "1"
        if rules._TOP_BYLINE.match(text):
            f["byline"] = "1"
    if rules._BYLINE_WORDS.search(text) and n <= 40:
        f["byword"] = "1"
    if _AUTHOR.search(text):
        f["author"] = "1"
    if _SPEAKER.match(text) or rules._NAMES.match(text):
        f["names"] = "1"
    if is_page_header(text):
        f["page"] = "1"
    if _FULL_DATE.search(text):
        f["fulldate"] = "1"
    if rules._LETTER_SPACED.match(text):
        f["spaced"] = "1"
    if rules._MASTHEAD.match(text) and n <= 100:
        f["masthead"] = "1"
    if rules._JUMP.search(text):
        f["jump"] = "1"
    if text.startswith(_DASH):
        f["dash"] = "1"
    if text[0] in _QUOTE_OPEN:
        f["qopen"] = "1"
    if text[0] in "□■◆▲●":
        f["box"] = "1"
    if _NUMBERED.match(text):
        f["numbered"] = "1"
    if rules._FRAGMENT_START.match(text):
        f["fragment"] = "1"
    if rules._LEAD_IN_END.search(text):
        f["leadin"] = "1"
    if re.search(r"\d", text):
        f["digit"] = "1"
    if rules._NOTICE.search(text) and n <= 30:
        f["notice"] = "1"
    if rules._CAPTION.search(text):
        f["caption"] = "1"
    if doc["paper"] and text.replace(" ", "").replace("\u3000", "") == doc["paper"]:
        f["paper"] = "1"
    return f


def _bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)}


def _cohesion(grams_of, n: int, i: int, width: int = 3) -> tuple[str, str, str]:
    """How much the text before a short line shares with the text after it, and with the
    line itself: a new article changes the vocabulary, a section subhead does not."""
    before: set[str] = set()
    for j in range(max(0, i - width), i):
        before |= grams_of(j)
    after: set[str] = set()
    for j in range(i + 1, min(n, i + 1 + width)):
        after |= grams_of(j)
    own = grams_of(i)

    def bucket(a: set[str], b: set[str]) -> str:
        if not a or not b:
            return "none"
        r = len(a & b) / min(len(a), len(b))
        return "0" if r < 0.05 else "1" if r < 0.1 else "2" if r < 0.2 else "3" if r < 0.35 else "4"

    return bucket(before, after), bucket(own, before), bucket(own, after)


def features(lines: list[Line]) -> list[dict[str, float | str]]:
    """One feature dict a line: its own signals, its neighbours', and the issue's layout."""
    n = len(lines)
    if not n:
        return []
    indented = sum(1 for line in lines if line.indent) / n
    blank_sep = sum(1 for line in lines[1:] if line.blank_before) / max(1, n - 1)
    headings = any(line.heading for line in lines)
    paper = None
    for line in lines[:12]:
        if rules._LETTER_SPACED.match(line.text):
            paper = line.text.replace(" ", "")
            break
    doc = {"indented": indented, "paper": paper}
    layout = ("ind" if indented > 0.3 else "noind") + ("_blank" if blank_sep > 0.7 else
                                                        "_dense" if blank_sep < 0.3 else "_mixed")
    own = [_own(line, doc) for line in lines]
    # Section subheads come in families (`政绩观的本源是世界观` / `政绩观映照的是人生观`),
    # a story's headline stands alone.
    parallel: set[int] = set()
    short = [i for i, line in enumerate(lines)
             if len(line.text) <= 40 and own[i]["end"] not in ("stop", "qstop")]
    cache: dict[int, set[str]] = {}

    def grams_of(j: int) -> set[str]:
        g = cache.get(j)
        if g is None:
            g = cache[j] = _bigrams(lines[j].text)
        return g

    for a, i in enumerate(short):
        for j in short[a + 1:]:
            if j - i > 40:
                break
            gi, gj = grams_of(i), grams_of(j)
            same_start = lines[i].text[:2] == lines[j].text[:2]
            if same_start or (gi and gj and len(gi & gj) >= 0.3 * min(len(gi), len(gj))):
                parallel.add(i)
                parallel.add(j)

    def gap(k: int) -> str:
        return "1" if k <= 1 else "3" if k <= 3 else "8" if k <= 8 else "20" if k <= 20 else "far"

    gaps: dict[int, tuple[str, str]] = {}
    for a, i in enumerate(short):
        before = i - short[a - 1] if a else 999
        after = short[a + 1] - i if a + 1 < len(short) else 999
        gaps[i] = (gap(before), gap(after))
    # Wider windows, without the bigrams common all over the issue (`发展`, `我们`):
    # what the story above is about against what the text below is about.
    window: set[int] = set()
    for i in short:
        window.update(range(max(0, i - 8), min(n, i + 9)))
    df: dict[str, int] = {}
    for j in window:
        for gram in grams_of(j):
            df[gram] = df.get(gram, 0) + 1
    common = max(3, len(window) // 50)
    rare_cache: dict[int, set[str]] = {}

    def rare_of(j: int) -> set[str]:
        g = rare_cache.get(j)
        if g is None:
            g = rare_cache[j] = {x for x in grams_of(j) if df[x] <= common}
        return g

    def wide(i: int) -> str:
        before: set[str] = set()
        for j in range(max(0, i - 8), i):
            before |= rare_of(j)
        after: set[str] = set()
        for j in range(i + 1, min(n, i + 9)):
            after |= rare_of(j)
        if len(before) < 10 or len(after) < 10:
            return "none"
        r = len(before & after) / min(len(before), len(after))
        return "0" if r < 0.03 else "1" if r < 0.06 else "2" if r < 0.1 else "3" if r < 0.2 else "4"

    out: list[dict[str, float | str]] = []
    for i, f in enumerate(own):
        feats: dict[str, float | str] = {"bias": 1.0, "layout": layout,
                                         "md": "1" if headings else "0"}
        for k, v in f.items():
            feats[k] = v
        # a few conjunctions a linear model cannot form itself
        feats["len_end"] = f"{f['len']}|{f['end']}"
        feats["bb_ba"] = f"{f['bb']}|{f['ba']}"
        feats["ind_end"] = f"{f['ind']}|{f['end']}"
        for off in (-2, -1, 1, 2):
            j = i + off
            p = f"{off:+d}:"
            if j < 0 or j >= n:
                feats[p + "edge"] = "1"
                continue
            g = own[j]
            for k in ("len", "end", "ind", "h", "bb", "dateline", "byline", "paren", "page",
                      "signoff", "author", "credit", "glued_signoff", "dash", "box"):
                if k in g:
                    feats[p + k] = g[k]
            if off in (-1, 1):
                feats[p + "len_end"] = f"{g['len']}|{g['end']}"
        if i == 0:
            feats["first"] = "1"
        if len(lines[i].text) <= 40 and f["end"] not in ("stop", "qstop"):
            ba, sb, sa = _cohesion(grams_of, n, i)
            feats["coh"] = ba
            feats["coh_prev"] = sb
            feats["coh_next"] = sa
            feats["coh_pn"] = f"{sb}|{sa}"
            feats["parallel"] = "1" if i in parallel else "0"
            feats["coh_wide"] = wide(i)
            feats["gap_prev"], feats["gap_next"] = gaps[i]
        if i < 12:
            feats["top"] = "1"
        out.append(feats)
    return out
