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
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import accumulate

import numpy as np

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


_SMALL = ("0", "1", "2", "3")


def _blank(n: int) -> str:
    return _SMALL[n] if n < 3 else "3"


def _own(line: Line, doc: dict) -> dict[str, float | str]:
    text = line.text
    n = len(text)
    f: dict[str, float | str] = {
        "len": _length(n),
        "end": _ending(text),
        "bb": _blank(line.blank_before),
        "ba": _blank(line.blank_after),
        "h": _SMALL[min(line.heading, 3)],
        "ind": "1" if line.indent else "0",
    }
    # The indent only means something against the habit: in an issue whose
    # paragraphs are indented, an unindented line is a headline or furniture.
    if doc["indented"] > 0.3:
        f["ind_rel"] = "in" if line.indent else "out"
    stops = text.count("。") + text.count("！") + text.count("？")
    f["stops"] = _SMALL[min(stops, 3)]
    commas = text.count("，") + text.count(",") + text.count("；") + text.count(";")
    f["commas"] = _SMALL[min(commas, 3)]
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


def _ratio_bucket(shared: int, a: int, b: int) -> str:
    """How much two sets of `a` and `b` bigrams share, `shared` of them in both."""
    if not a or not b:
        return "none"
    r = shared / min(a, b)
    return "0" if r < 0.05 else "1" if r < 0.1 else "2" if r < 0.2 else "3" if r < 0.35 else "4"


def _wide_bucket(shared: int, before: int, after: int) -> str:
    if before < 10 or after < 10:
        return "none"
    r = shared / min(before, after)
    return "0" if r < 0.03 else "1" if r < 0.06 else "2" if r < 0.1 else "3" if r < 0.2 else "4"


def _shift_bucket(after: int, before: int, own: int) -> str:
    shift = (after - before) / own
    return "neg" if shift < 0 else "0" if shift < 0.2 else "2" if shift < 0.4 else \
        "4" if shift < 0.6 else "6"


_NUMBERED_FROM = 1 << 21  # lines from which `_line_keys` numbers the bigrams (tests lower it)
_FAR = 1 << 40  # the line of an occurrence that is not there (before the first, after the last)
_WIDE = 8  # the widest window a short line reads either side


def _distinct(values: np.ndarray) -> np.ndarray:
    """`np.unique`, sorted: numpy 2's own hashes first and is ~50x slower on a million ints."""
    values = np.sort(values)
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if len(values) else values


class _Occurrences:
    """Every (bigram, line) of the window lines once, sorted by bigram then line: each bigram's
    lines in order, so how far above a line a bigram was last seen, and how far below it is
    seen next, are differences of neighbours in one array. The window signals are counts
    over these, in numpy for the whole issue at once, not unions of per-line sets (the same
    numbers)."""

    def __init__(self, texts: list[str], window: list[int], line_keys=None):
        n = len(texts)
        in_window = np.zeros(n, dtype=bool)
        in_window[window] = True
        keys, self.codes = _masked_keys(texts, in_window, line_keys)
        self.n = n
        self.keys = keys
        self.gram, self.line = np.divmod(keys, n)
        m = len(keys)
        same = self.gram[1:] == self.gram[:-1]  # element k and k + 1 are one bigram's
        # the lines from each occurrence to its bigram's next one (_FAR: none)
        self.ahead = ahead = np.full(m + 1, _FAR, dtype=np.int64)
        ahead[:m - 1] = np.where(same, self.line[1:] - self.line[:-1], _FAR) if m else []
        self.back = np.minimum(np.concatenate(([_FAR], ahead[:m - 1])), _WIDE + 1)[:m]
        starts = np.flatnonzero(np.concatenate(([True], ~same))) if m else np.zeros(0, np.int64)
        sizes = np.diff(np.append(starts, m))
        self.lines_with = np.repeat(sizes, sizes)  # the number of window lines with each's bigram

    def as_bigrams(self, mask: np.ndarray) -> set[int]:
        """The masked bigrams as `_bigrams` numbers them (first code point low, second high)."""
        gram = _distinct(self.gram[mask])
        if self.codes is not None:
            gram = self.codes[gram]
        return set(((gram >> 21) | (gram & ((1 << 21) - 1)) << 32).tolist())

    def seen_before(self, mask=None) -> np.ndarray:
        """[line, t]: the (masked) bigrams of a line not on any of the t lines above it, for
        t = 0..8 (so t = 0: all of them)."""
        code = self.line * (_WIDE + 2) + self.back
        counts = np.bincount(code if mask is None else code[mask],
                             minlength=self.n * (_WIDE + 2)).reshape(self.n, _WIDE + 2)
        return counts[:, ::-1].cumsum(axis=1)[:, ::-1][:, 1:]

    def shared_across(self, width: int, mask=None) -> np.ndarray:
        """[line]: the (masked) bigrams both on one of the `width` lines above a line and on
        one of the `width` lines below it (the line itself not counted)."""
        ahead = self.ahead[:-1]
        # a bigram on line p next seen `ahead` lines below is in both windows of each line
        # between them that has both within reach
        sel = (ahead <= 2 * width) & (ahead >= 2)
        if mask is not None:
            sel &= mask
        p, gap = self.line[sel], ahead[sel]
        lo, hi = p + np.maximum(1, gap - width), p + np.minimum(width, gap - 1)
        size = self.n + 1
        shared = np.cumsum(np.bincount(lo, minlength=size) - np.bincount(hi + 1, minlength=size))
        # and in those of the line it is next seen on, if seen again within reach of that
        again = (ahead <= width) & (self.ahead[1:] <= width)
        if mask is not None:
            again &= mask
        return shared[:self.n] + np.bincount((self.line + ahead)[again], minlength=size)[:self.n]


def _union_sizes(seen: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """The number of distinct bigrams on lines start..stop - 1 (at most `_WIDE` lines): each
    line adds those not on any line of the window above it."""
    total = np.zeros(len(start), dtype=np.int64)
    last = len(seen) - 1
    for t in range(_WIDE):
        p = start + t
        total += np.where(p < stop, seen[np.minimum(p, last), t], 0)
    return total


def _window_signals(texts: list[str], short: list[int], window: list[int],
                    line_keys=None) -> tuple[dict[int, tuple], set[int]]:
    """For each short line, how the text around it hangs together: (coh, coh_prev, coh_next)
    over 3 lines either side (all bigrams), coh_wide over 8 lines either side (the issue's
    rare bigrams), and the topic shift of its own words (see `_topic_shift_plain` in
    tests/test_fast_paths.py for the same signals as plain set unions); and the bigrams on
    more than max(5, 10%) of the window lines, which name no subject (for `_page_shifts`).
    `line_keys`: `_line_keys` of every line, if made already."""
    if not short:
        return {}, set()
    n = len(texts)
    occ = _Occurrences(texts, window, line_keys)
    # rare: on at most max(3, 2%) of the window's lines; everywhere: on more than max(5, 10%)
    rare = occ.lines_with <= max(3, len(window) // 50)
    everywhere = occ.lines_with > max(5, len(window) // 10)
    s = np.asarray(short, dtype=np.int64)
    seen = occ.seen_before()
    own = seen[s, 0]
    before3 = _union_sizes(seen, np.maximum(0, s - 3), s)
    after3 = _union_sizes(seen, s + 1, np.minimum(n, s + 4))
    shared3 = occ.shared_across(3)[s]
    own_before3 = own - seen[s, 3]
    own_after3 = np.bincount(occ.line[occ.ahead[:-1] <= 3], minlength=n)[s]
    seen_rare = occ.seen_before(rare)
    before8 = _union_sizes(seen_rare, np.maximum(0, s - _WIDE), s)
    after8 = _union_sizes(seen_rare, s + 1, np.minimum(n, s + _WIDE + 1))
    shared8 = occ.shared_across(_WIDE, rare)[s]
    # The topic shift: a short line's words (not those everywhere), on a body line (not a
    # short one) of the 8 above it, and of the 8 below it.
    is_short = np.zeros(n, dtype=bool)
    is_short[s] = True
    body_key = occ.keys[~is_short[occ.line]]
    worded = np.zeros(n + 1, dtype=np.int64)  # body lines with a bigram, before each line
    worded[1:] = np.cumsum((seen[:, 0] > 0) & ~is_short)
    words = is_short[occ.line] & ~everywhere
    key, line = occ.keys[words], occ.line[words]
    k = np.searchsorted(body_key, key, side="right")
    below_key = np.append(body_key, _FAR)[k]  # the bigram's next body line, if in reach
    found_below = (below_key - key <= _WIDE) & (below_key // n == key // n)
    above_key = np.append(body_key, -_FAR)[k - 1]  # k - 1 = -1: the appended far one
    found_above = (key - above_key <= _WIDE) & (above_key // n == key // n)
    own_words = np.bincount(line, minlength=n)[s]
    words_below = np.bincount(line[found_below], minlength=n)[s]
    words_above = np.bincount(line[found_above], minlength=n)[s]
    body_below = worded[np.minimum(n, s + _WIDE + 1)] - worded[s + 1]
    body_above = worded[s] - worded[np.maximum(0, s - _WIDE)]
    out: dict[int, tuple] = {}
    for row in zip(short, *(a.tolist() for a in (
            own, before3, after3, shared3, own_before3, own_after3, before8, after8, shared8,
            own_words, words_below, words_above, body_below, body_above))):
        (i, n_own, b3, a3, sh3, ob3, oa3, b8, a8, sh8, ow, wb, wa, bb, ab) = row
        if ow < 3 or not bb or not ab:
            shift = "none"
        else:
            shift = _shift_bucket(wb, wa, ow)
        out[i] = (_ratio_bucket(sh3, b3, a3), _ratio_bucket(ob3, n_own, b3),
                  _ratio_bucket(oa3, n_own, a3), _wide_bucket(sh8, b8, a8), shift)
    return out, occ.as_bigrams(everywhere)


def _page_shifts(texts: list[str], grams: list, short: list[int], is_body: list[bool],
                 pages: list[int], everywhere: set[int], width: int = 40,
                 line_keys=None) -> dict[int, str]:
    """`_topic_shift` over the story's whole stretch: the body text of up to `width` lines
    either side of a short line, not past a page header. Eight lines are one section of an
    essay; a section's subhead names a thread of the essay above it too, a new essay's
    headline shares little with the essay before it (学习时报's blank layout prints nothing
    else between them).

    Whether a short line's bigram is on a body line of the stretch above it (below it) is
    whether its last body line before the short line (first after) is in the stretch: one
    binary search each, for all the issue's short lines at once, in the sorted (bigram,
    line) pairs of the body lines. The same answers as searching each bigram in the text
    of the stretch (tests/test_fast_paths.py `reference_page_shifts`, the code before,
    which took a quarter of the parser's time)."""
    n = len(texts)
    lengths = [len(t) if b else 0 for t, b in zip(texts, is_body)]
    chars = [0, *accumulate(lengths)]  # body characters before each line
    out: dict[int, str] = {}
    looked: list[tuple[int, int, int, int]] = []  # (short line, lo, hi, bigrams) to look up
    words: list[int] = []
    for i in short:
        own = grams[i] - everywhere
        if len(own) < 3:
            out[i] = "none"
            continue
        k = bisect_left(pages, i)  # the page headers before i are pages[:k]
        lo = max(i - width, pages[k - 1] + 1 if k else 0)
        hi = min(i + width, pages[k] - 1 if k < len(pages) else n - 1)
        if chars[i] - chars[lo] <= 0 or chars[hi + 1] - chars[i + 1] <= 0:
            out[i] = "none"  # no body text on one side
            continue
        looked.append((i, lo, hi, len(own)))
        words += own
    if not looked:
        return out
    keys, codes = _masked_keys(texts, np.asarray(is_body, dtype=bool), line_keys)
    gram = np.fromiter(words, dtype=np.int64, count=len(words))
    gram = (gram & 0xFFFFFFFF) << 21 | gram >> 32  # `_bigrams`' number as `_line_keys`'
    if codes is not None:  # numbered: a bigram on no body line gets a number none has
        at = np.minimum(np.searchsorted(codes, gram), max(len(codes) - 1, 0))
        gram = np.where(codes[at] == gram, at, -1) if len(codes) else np.full_like(gram, -1)
    rows = np.asarray(looked, dtype=np.int64)
    sizes = rows[:, 3]
    line, lo, hi = (np.repeat(rows[:, c], sizes) for c in range(3))
    m = len(keys)
    if m:
        at = np.searchsorted(keys, gram * n + line)  # the line itself is no body line
        after, before = keys[np.minimum(at, m - 1)], keys[np.maximum(at - 1, 0)]
        found_after = (at < m) & (after // n == gram) & (after % n <= hi)
        found_before = (at > 0) & (before // n == gram) & (before % n >= lo)
    else:  # body text of single characters only: no bigram anywhere
        found_after = found_before = np.zeros(gram.size, dtype=bool)
    owner = np.repeat(np.arange(len(looked)), sizes)
    gained = np.bincount(owner, weights=found_after, minlength=len(looked)).astype(np.int64)
    lost = np.bincount(owner, weights=found_before, minlength=len(looked)).astype(np.int64)
    for (i, _, _, size), a, b in zip(looked, gained.tolist(), lost.tolist()):
        shift = (a - b) / size
        out[i] = "neg" if shift < 0 else "0" if shift < 0.2 else "2" if shift < 0.4 else \
            "4" if shift < 0.6 else "6"
    return out


def _line_keys(texts: list[str], lines: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Every (bigram, line) of the masked lines once, as bigram * n + line, sorted; a
    bigram is its first code point << 21 | its second, or, when that times n would not fit
    in 63 bits, its index among the distinct ones (the second array then)."""
    n = len(texts)
    units = np.frombuffer("\n".join(texts).encode("utf-32-le"), dtype=np.uint32)
    breaks = units == 10
    line = np.cumsum(breaks) - breaks  # the line each character is on
    pair = ~breaks[:-1] & ~breaks[1:]
    if not lines.all():
        pair &= lines[line[:-1]]
    at = np.flatnonzero(pair)
    gram = units[at].astype(np.int64) << 21 | units[at + 1]  # code points fit in 21 bits
    codes = None
    if n >= _NUMBERED_FROM:  # gram * n would not fit in 63 bits: number the bigrams first
        codes = _distinct(gram)
        gram = np.searchsorted(codes, gram).astype(np.int64)
    return _distinct(gram * n + line[at]), codes


def _masked_keys(texts: list[str], lines: np.ndarray, line_keys=None):
    """`_line_keys(texts, lines)`, taken from those of every line when given (one sort an
    issue instead of one for each use: the sort is most of the cost)."""
    if line_keys is None:
        return _line_keys(texts, lines)
    keys, codes = line_keys
    return (keys if lines.all() else keys[lines[keys % len(texts)]]), codes


# The neighbour signals a line borrows from the two lines either side, with their names
# prefixed once here rather than for every line.
_NEIGHBOUR_KEYS = ("len", "end", "ind", "h", "bb", "dateline", "byline", "paren", "page",
                   "signoff", "author", "credit", "glued_signoff", "dash", "box")
_OFFSETS = (-2, -1, 1, 2)
_PREFIXED = {off: {k: f"{off:+d}:{k}" for k in _NEIGHBOUR_KEYS + ("len_end", "edge")}
             for off in _OFFSETS}


def _seen_as(own: list[dict]) -> dict[int, list[dict[str, str]]]:
    """Each line's signals as its neighbour at each offset sees them. Most lines look
    alike to a neighbour (a long body line ending in `。`), so each look is built once (as
    dicts: what a line's features are updated from fastest)."""
    out: dict[int, list[dict[str, str]]] = {off: [] for off in _OFFSETS}
    appends = [out[off].append for off in _OFFSETS]
    built: dict[tuple, list[dict[str, str]]] = {}
    for f in own:
        look = tuple(map(f.get, _NEIGHBOUR_KEYS))  # None where the line lacks the signal
        views = built.get(look)
        if views is None:
            views = []
            for off in _OFFSETS:
                names = _PREFIXED[off]
                items = {names[k]: v for k, v in zip(_NEIGHBOUR_KEYS, look) if v is not None}
                if off in (-1, 1):
                    items[names["len_end"]] = f"{f['len']}|{f['end']}"
                views.append(items)
            built[look] = views
        for append, items in zip(appends, views):
            append(items)
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
    grams: list = [None] * n  # the short lines' own, for `_parallel`
    for i in short:
        grams[i] = _bigrams(texts[i])
    parallel = _parallel(texts, grams, short)
    gaps = _gaps(short)
    # every line's (bigram, line) pairs, sorted once for both uses below
    line_keys = _line_keys(texts, np.ones(n, dtype=bool)) if short else None
    signals, everywhere = _window_signals(texts, short, window, line_keys)
    # each line's signals as its neighbours see them, built once, not four times
    seen_as = _seen_as(own)
    # the look of the line `off` away from each line, or the text's edge
    edge = {off: {_PREFIXED[off]["edge"]: "1"} for off in _OFFSETS}
    around = [([edge[off]] * -off + seen_as[off])[:n] if off < 0 else
              (seen_as[off][off:] + [edge[off]] * off)[:n] for off in _OFFSETS]
    head = {"bias": 1.0, "layout": layout, "md": "1" if headings else "0"}
    short_set = set(short)
    md = head["md"]
    pages = [j for j, f in enumerate(own) if "page" in f]
    page_shift = _page_shifts(texts, grams, short, [j not in short_set for j in range(n)],
                              pages, everywhere, line_keys=line_keys)

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
            ba, sb, sa, wide, shift = signals[i]
            feats["coh"] = ba
            feats["coh_prev"] = sb
            feats["coh_next"] = sa
            feats["coh_pn"] = f"{sb}|{sa}"
            feats["parallel"] = "1" if i in parallel else "0"
            feats["coh_wide"] = wide
            feats["shift"] = shift
            # its own weight per layout: where every line stands between blank lines,
            # the change of subject is about all that tells a headline from a subhead
            feats["shift_lay"] = f"{layout}{md}|{feats['shift']}"
            feats["gap_prev"], feats["gap_next"] = gaps[i]
            feats["shift_page"] = page_shift[i]
        if i < 12:
            feats["top"] = "1"
        out.append(feats)
    return out
