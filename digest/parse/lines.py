"""An issue's lines with the layout signals the labeller reads, and their features.

Every feature is one a reader of any paper would use: how long a line is, how it ends, its
indent against the issue's habit, blank lines around it, markdown heading marks, and the
shape of datelines, bylines and page headers. Nothing names a paper, a place or a column,
so a model trained on three papers has a chance on a fourth.
"""

from __future__ import annotations

import gc
import re
from bisect import bisect_left
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import accumulate, chain

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
_DIGIT = re.compile(r"\d")
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
    printed: list[tuple[int, str, str]] = []  # (line number, raw, stripped)
    blanks_before: list[int] = []
    blanks = 0
    for no, raw in enumerate(text.split("\n"), start=1):
        stripped = raw.strip()
        if not stripped:
            blanks += 1
            continue
        printed.append((no, raw, stripped))
        blanks_before.append(blanks)
        blanks = 0
    # the blank lines after a line are those before the next one (or at the end of the text)
    blanks_after = blanks_before[1:] + [blanks]
    return [_line(no, raw, stripped, before, after)
            for (no, raw, stripped), before, after in zip(printed, blanks_before, blanks_after)]


def _line(no: int, raw: str, stripped: str, blank_before: int, blank_after: int) -> Line:
    m = _INDENT.match(raw)
    indent = len(m.group(0)) if m else 0
    h = _HEADING.match(stripped)
    level = len(h.group(1)) if h else 0
    body = stripped[h.end():].strip() if h else stripped
    return Line(no=no, raw=stripped, text=body or stripped, blank_before=blank_before,
                heading_mark=bool(h), heading=level, indent=indent, blank_after=blank_after)


def is_page_header(text: str) -> bool:
    # the cheap tests first: most lines are long paragraphs
    return len(text) <= 40 and not rules.ends_sentence(text) and bool(_PAGE_NO.search(text))


def _has_author(text: str) -> bool:
    """`_AUTHOR.search`, without scanning lines that cannot match past their start: only
    its `（作者…）` branch is unanchored, and that one closes the line with a bracket."""
    if text[-1] in ")）":
        return bool(_AUTHOR.search(text))
    return bool(_AUTHOR.match(text))


_LENGTHS = (2, 4, 6, 8, 11, 15, 20, 25, 32, 40, 60, 80, 120)
_LENGTH_NAMES = tuple(str(limit) for limit in _LENGTHS) + ("long",)


def _length(n: int) -> str:
    """The smallest of `_LENGTHS` a line fits in, else `long`."""
    return _LENGTH_NAMES[bisect_left(_LENGTHS, n)]


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
    commas = sum(map(text.count, "，,；;"))
    f["commas"] = str(min(commas, 3))
    if " " in text or "\u3000" in text:
        f["space"] = "1"
    if rules.match_dateline(text) or _REPORTED.match(text):
        f["dateline"] = "1"
    # The searches below scan the whole line; each is skipped (by a length test or a
    # literal the pattern needs, `日电`, `版`, `年`, `图`) where it cannot match.
    if "日电" in text:
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
    if n <= 40 and rules._BYLINE_WORDS.search(text):
        f["byword"] = "1"
    if _has_author(text):
        f["author"] = "1"
    if _SPEAKER.match(text) or rules._NAMES.match(text):
        f["names"] = "1"
    if is_page_header(text):
        f["page"] = "1"
    if "年" in text and _FULL_DATE.search(text):
        f["fulldate"] = "1"
    if rules._LETTER_SPACED.match(text):
        f["spaced"] = "1"
    if n <= 100 and rules._MASTHEAD.match(text):
        f["masthead"] = "1"
    if "版" in text and rules._JUMP.search(text):
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
    if _DIGIT.search(text):
        f["digit"] = "1"
    if n <= 30 and rules._NOTICE.search(text):
        f["notice"] = "1"
    if "图" in text and rules._CAPTION.search(text):
        f["caption"] = "1"
    if doc["paper"] and text.replace(" ", "").replace("\u3000", "") == doc["paper"]:
        f["paper"] = "1"
    return f


def _bigrams(text: str) -> set[int]:
    """The line's character bigrams, each as one int (the two code points' UTF-32 units
    read as one 64-bit word), made in C: the per-line sets of a year's issues are the
    parser's main cost, and only their sizes and overlaps are ever used."""
    units = memoryview(text.encode("utf-32-le"))  # sliced without copying
    n = len(units)
    grams = set(units[:n // 8 * 8].cast("Q"))  # (c0 c1) (c2 c3) ...
    grams.update(units[4:4 + (n - 4) // 8 * 8].cast("Q"))  # (c1 c2) (c3 c4) ...
    return grams


def _union(sets: list[set[int]]) -> set[int]:
    return set().union(*sets)


def _bucket(a: set[int], b: set[int]) -> str:
    if not a or not b:
        return "none"
    r = len(a & b) / min(len(a), len(b))
    return "0" if r < 0.05 else "1" if r < 0.1 else "2" if r < 0.2 else "3" if r < 0.35 else "4"


def _cohesion(grams: list, n: int, i: int, width: int = 3) -> tuple[str, str, str]:
    """How much the text before a short line shares with the text after it, and with the
    line itself: a new article changes the vocabulary, a section subhead does not."""
    before = _union(grams[max(0, i - width):i])
    after = _union(grams[i + 1:min(n, i + 1 + width)])
    own = grams[i]
    return _bucket(before, after), _bucket(own, before), _bucket(own, after)


def _wide(rare: list, n: int, i: int, width: int = 8) -> str:
    """The rare bigrams of the story above a short line against those of the text below."""
    before = _union(rare[max(0, i - width):i])
    after = _union(rare[i + 1:min(n, i + 1 + width)])
    if len(before) < 10 or len(after) < 10:
        return "none"
    r = len(before & after) / min(len(before), len(after))
    return "0" if r < 0.03 else "1" if r < 0.06 else "2" if r < 0.1 else "3" if r < 0.2 else "4"


def _parallel(texts: list[str], grams: list, short: list[int]) -> set[int]:
    """Section subheads come in families (`政绩观的本源是世界观` / `政绩观映照的是人生观`),
    a story's headline stands alone: the short lines sharing a start or many bigrams
    with another short line at most 40 lines away."""
    parallel: set[int] = set()
    for a, i in enumerate(short):
        gi = grams[i]
        for j in short[a + 1:]:
            if j - i > 40:
                break
            if i in parallel and j in parallel:
                continue  # nothing left to learn from this pair
            gj = grams[j]
            if (texts[i][:2] == texts[j][:2]
                    or (gi and gj and len(gi & gj) >= 0.3 * min(len(gi), len(gj)))):
                parallel.add(i)
                parallel.add(j)
    return parallel


def _gap(k: int) -> str:
    return "1" if k <= 1 else "3" if k <= 3 else "8" if k <= 8 else "20" if k <= 20 else "far"


def _gaps(short: list[int]) -> dict[int, tuple[str, str]]:
    """How far each short line is from the short lines before and after it."""
    gaps: dict[int, tuple[str, str]] = {}
    for a, i in enumerate(short):
        before = i - short[a - 1] if a else 999
        after = short[a + 1] - i if a + 1 < len(short) else 999
        gaps[i] = (_gap(before), _gap(after))
    return gaps


_GROUP = 1024  # lines counted together: a count of up to ~150,000 bigrams


def _frequent(sets: list[set[int]], common: int) -> set[int]:
    """The bigrams in more than `common` of the sets."""
    return set(_frequent_counts(sets, common))


def _frequent_counts(sets: list[set[int]], common: int) -> dict[int, int]:
    """The bigrams in more than `common` of the sets, with the number of sets they are in.
    Counted in groups of lines, each count small enough to stay in the CPU's caches (one
    count over a long issue's million bigrams is several times slower a bigram): a bigram in
    more than `common` sets is in more than common / groups of some group's sets, so only
    those are summed."""
    groups = [sets[k:k + _GROUP] for k in range(0, len(sets), _GROUP)] or [[]]
    counts = [Counter(chain.from_iterable(group)) for group in groups]
    if len(counts) == 1:
        return {gram: n for gram, n in counts[0].items() if n > common}
    k = len(counts)
    candidates: set[int] = set()
    for count in counts:
        candidates.update(gram for gram, n in count.items() if n * k > common)
    totals = {gram: sum(count.get(gram, 0) for count in counts) for gram in candidates}
    return {gram: n for gram, n in totals.items() if n > common}


def _rare(grams: list, window: list[int]) -> tuple[list, set[int]]:
    """Each window line's bigrams without those common all over the issue (`发展`, `我们`),
    counted once for the whole issue: in more than max(3, 2%) of the window's lines; and
    the bigrams in more than max(5, 10%) of them (words that name no subject, for
    `_topic_shift`)."""
    common = max(3, len(window) // 50)
    counts = _frequent_counts([grams[j] for j in window], common)
    frequent = counts.keys()
    limit = max(5, len(window) // 10)  # never below `common`: a subset of `counts`
    everywhere = {gram for gram, n in counts.items() if n > limit}
    rare: list = [None] * len(grams)
    for j in window:
        # a copy less the few frequent ones: cheaper than building the difference anew
        line_rare = grams[j].copy()
        line_rare.difference_update(grams[j] & frequent)
        rare[j] = line_rare
    return rare, everywhere


def _topic_shift(grams: list, body: list, everywhere: set[int], n: int, i: int,
                 width: int = 8) -> str:
    """How much more of a short line's own words the text below it uses than the text
    above: a headline names what its story is about (its words recur below it, not in the
    story above), a subhead names one section of the story it stands in. Only the body
    lines either side count (not a neighbouring headline's words), and words on more than a
    tenth of the issue's lines (`发展`, `我们`) say nothing either way."""
    own = grams[i] - everywhere
    if len(own) < 3:
        return "none"
    below, above = body[i + 1:min(n, i + 1 + width)], body[max(0, i - width):i]
    if not any(below) or not any(above):
        return "none"  # a change of subject needs text on both sides
    # the few words of the short line looked up in each body line, not the lines' union
    after = len(set().union(*(own & gs for gs in below)))
    before = len(set().union(*(own & gs for gs in above)))
    shift = (after - before) / len(own)
    return "neg" if shift < 0 else "0" if shift < 0.2 else "2" if shift < 0.4 else \
        "4" if shift < 0.6 else "6"


def _word(gram: int | str) -> str:
    """The two characters of a `_bigrams` entry (the plain-string reference of the tests
    passes through)."""
    if isinstance(gram, str):
        return gram
    return chr(gram & 0xFFFFFFFF) + chr(gram >> 32)


def _page_shifts(texts: list[str], grams: list, short: list[int], is_body: list[bool],
                 pages: list[int], everywhere: set[int], width: int = 40) -> dict[int, str]:
    """`_topic_shift` over the story's whole stretch: the body text of up to `width` lines
    either side of a short line, not past a page header. Eight lines are one section of an
    essay; a section's subhead names a thread of the essay above it too, a new essay's
    headline shares little with the essay before it (学习时报's blank layout prints nothing
    else between them). Each of the short line's words is looked up in one joined text of
    the issue's body lines, between the offsets of the window, so nothing is copied."""
    n = len(texts)
    joined = "\n".join(t if b else "" for t, b in zip(texts, is_body))
    offsets = [0, *accumulate(len(t) + 1 if b else 1 for t, b in zip(texts, is_body))]
    out: dict[int, str] = {}
    for i in short:
        own = grams[i] - everywhere
        if len(own) < 3:
            out[i] = "none"
            continue
        k = bisect_left(pages, i)  # the page headers before i are pages[:k]
        lo = max(i - width, pages[k - 1] + 1 if k else 0)
        hi = min(i + width, pages[k] - 1 if k < len(pages) else n - 1)
        a0, a1, b0, b1 = offsets[lo], offsets[i], offsets[i + 1], offsets[hi + 1]
        if a1 - a0 <= i - lo or b1 - b0 <= hi - i:
            out[i] = "none"  # no body line on one side (each other line is one "\n")
            continue
        before = after = 0
        for gram in own:
            word = _word(gram)
            before += joined.find(word, a0, a1) >= 0
            after += joined.find(word, b0, b1) >= 0
        shift = (after - before) / len(own)
        out[i] = "neg" if shift < 0 else "0" if shift < 0.2 else "2" if shift < 0.4 else \
            "4" if shift < 0.6 else "6"
    return out


# The neighbour signals a line borrows from the two lines either side, with their names
# prefixed once here rather than for every line.
_NEIGHBOUR_KEYS = ("len", "end", "ind", "h", "bb", "dateline", "byline", "paren", "page",
                   "signoff", "author", "credit", "glued_signoff", "dash", "box")
_OFFSETS = (-2, -1, 1, 2)
_PREFIXED = {off: {k: f"{off:+d}:{k}" for k in _NEIGHBOUR_KEYS + ("len_end", "edge")}
             for off in _OFFSETS}


def _seen_as(own: list[dict]) -> dict[int, list[list[tuple[str, str]]]]:
    """Each line's signals as its neighbour at each offset sees them. Most lines look
    alike to a neighbour (a long body line ending in `。`), so each look is built once."""
    out: dict[int, list[list[tuple[str, str]]]] = {off: [] for off in _OFFSETS}
    built: dict[tuple, list[tuple[str, str]]] = {}
    for f in own:
        look = tuple(map(f.get, _NEIGHBOUR_KEYS))  # None where the line lacks the signal
        for off in _OFFSETS:
            items = built.get((off, look))
            if items is None:
                names = _PREFIXED[off]
                items = [(names[k], v) for k, v in zip(_NEIGHBOUR_KEYS, look) if v is not None]
                if off in (-1, 1):
                    items.append((names["len_end"], f"{f['len']}|{f['end']}"))
                built[(off, look)] = items
            out[off].append(items)
    return out


@contextmanager
def _cyclic_gc_paused():
    """The feature pass makes ~20 containers a line (bigram sets, dicts, tuples), none in a
    cycle: the cyclic collector's passes over them (every 700 allocations, each walking
    every set's entries) cost ~15% of a parse and could free nothing. Paused for the pass
    only, and left alone if someone else turned it off."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def features(lines: list[Line]) -> list[dict[str, float | str]]:
    """One feature dict a line: its own signals, its neighbours', and the issue's layout."""
    with _cyclic_gc_paused():
        return _features(lines)


def _features(lines: list[Line]) -> list[dict[str, float | str]]:
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
    texts = [line.text for line in lines]
    short = [i for i, text in enumerate(texts)
             if len(text) <= 40 and own[i]["end"] not in ("stop", "qstop")]
    # Bigrams are read only near short lines (8 lines either side at most): computed once
    # a line, for those lines alone.
    window_set: set[int] = set()
    for i in short:
        window_set.update(range(max(0, i - 8), min(n, i + 9)))
    window = sorted(window_set)
    grams: list = [None] * n
    for j in window:
        grams[j] = _bigrams(texts[j])
    parallel = _parallel(texts, grams, short)
    gaps = _gaps(short)
    rare, everywhere = _rare(grams, window)
    # each line's signals as its neighbours see them, built once, not four times
    seen_as = _seen_as(own)
    # the look of the line `off` away from each line, or the text's edge
    edge = {off: [(_PREFIXED[off]["edge"], "1")] for off in _OFFSETS}
    around = [[edge[off] if j < 0 or j >= n else seen_as[off][j] for j in range(off, n + off)]
              for off in _OFFSETS]
    head = {"bias": 1.0, "layout": layout, "md": "1" if headings else "0"}
    short_set = set(short)
    no_words: frozenset = frozenset()
    body_grams = [no_words if j in short_set or gs is None else gs for j, gs in enumerate(grams)]
    md = head["md"]
    pages = [j for j, f in enumerate(own) if "page" in f]
    page_shift = _page_shifts(texts, grams, short, [j not in short_set for j in range(n)],
                              pages, everywhere)

    out: list[dict[str, float | str]] = []
    for i, f, m2, m1, p1, p2 in zip(range(n), own, *around):
        feats: dict[str, float | str] = head.copy()
        feats.update(f)
        # a few conjunctions a linear model cannot form itself
        feats["len_end"] = f"{f['len']}|{f['end']}"
        feats["bb_ba"] = f"{f['bb']}|{f['ba']}"
        feats["ind_end"] = f"{f['ind']}|{f['end']}"
        feats.update(m2)
        feats.update(m1)
        feats.update(p1)
        feats.update(p2)
        if i == 0:
            feats["first"] = "1"
        if i in short_set:
            ba, sb, sa = _cohesion(grams, n, i)
            feats["coh"] = ba
            feats["coh_prev"] = sb
            feats["coh_next"] = sa
            feats["coh_pn"] = f"{sb}|{sa}"
            feats["parallel"] = "1" if i in parallel else "0"
            feats["coh_wide"] = _wide(rare, n, i)
            feats["shift"] = _topic_shift(grams, body_grams, everywhere, n, i)
            # its own weight per layout: where every line stands between blank lines,
            # the change of subject is about all that tells a headline from a subhead
            feats["shift_lay"] = f"{layout}{md}|{feats['shift']}"
            feats["gap_prev"], feats["gap_next"] = gaps[i]
            feats["shift_page"] = page_shift[i]
        if i < 12:
            feats["top"] = "1"
        out.append(feats)
    return out
