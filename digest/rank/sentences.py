"""Key sentences as a reader sees them: which sentences may be shown, and how.

The default ranker calls these at its edges (before ranking: what a sentence starts with and
whether it may be picked; after: its quotes). Pure functions on the text and its sentence
offsets, so they run the same on a batch as on one article.

- The dateline and printing marks a sentence opens with (`□东昌府讯 8月22日，`,
  `新华社北京4月28日电（记者 …）`, `本报聊城讯`) are left out of the shown text: the digest
  shows the date beside the story. Nothing after them is touched.
- Heading-like pieces are never picked: a paragraph that does not end a sentence (a subhead, a
  `主办单位：…` line, a headline left in the body), a short one-sentence paragraph without a
  comma, a series of short run-in heads opening paragraphs (`全面建设先进制造业新高地。…`,
  `全面建设对外开放新高地。…`), and the items of a list, which end in a semicolon
  (`…选举办法》；`). An article with nothing else keeps its usual candidates.
- Quotes and brackets come out balanced: a sentence that opens a quote the splitter cut
  (`“成绩靠前的县市区，要保持优势，再创佳绩；`) extends to the closing mark when it is near on
  the same line; else the dangling mark is dropped, as is a closing mark whose opening lies
  in an earlier sentence.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

import numpy as np

from ..parse import match_dateline

# Printing marks that open a paragraph or a dateline (□东昌府讯): ornaments, not text.
MARKS = "□■◆◇▲△●○★☆◎※▪▫•"
_LEAD_MARKS = re.compile(rf"^[{MARKS}\s]+")
# What follows a dateline before the sentence proper: the date and its separator.
_AFTER_DATELINE = re.compile(r"\s*(?:\d{1,2}月\d{1,2}日(?:电)?)?\s*[，,：:\s]*")
_SENTENCE_END = "。！？!?…"
_CLOSING = "”’」』）)]】》〕\"'"
_LIST_END = "；;"
_INNER_PUNCT = re.compile(r"[，,、：:；;]")
HEADING_CHARS = 20  # a one-sentence paragraph this short and without a comma reads as a head
# How far a sentence may grow to reach its closing quote: past this, the quote is dropped.
MAX_EXTENSION = 80
PAIRS = {"“": "”", "‘": "’", "「": "」", "『": "』", "《": "》", "（": "）", "(": ")"}
_PAIR_MARK = re.compile("[" + re.escape("".join(PAIRS) + "".join(PAIRS.values())) + "]")


def lead_length(sentence: str) -> int:
    """Characters at the start of ``sentence`` that are printing marks or a dateline
    (`□东昌府讯 8月22日，`): to be left out of what is shown. 0 when there are none."""
    if not sentence:
        return 0
    head = _LEAD_MARKS.match(sentence)
    skip = head.end() if head else 0
    first = sentence[skip:skip + 1]
    if first in ("新", "本", "中", "人", "央") or "讯" in sentence[skip:skip + 12]:
        found = match_dateline(sentence[skip:])
        if found is not None:
            skip += len(found.text)
            skip += _AFTER_DATELINE.match(sentence, skip).end() - skip
    return skip


def heading_like(sentence: str, whole_paragraph: bool) -> bool:
    """A piece that reads as a heading, label or list item rather than a sentence."""
    core = sentence.rstrip(_CLOSING + " ")
    if not core:
        return True
    if core[-1] in _LIST_END:
        return True
    if not whole_paragraph:
        return False
    if core[-1] not in _SENTENCE_END:
        return True  # a paragraph that never ends a sentence: subhead, label, headline
    return len(sentence) <= HEADING_CHARS and not _INNER_PUNCT.search(sentence)


def _classes() -> np.ndarray:
    table = np.zeros(0x10000, np.uint8)
    for chars, flag in ((_SENTENCE_END, _END), (_LIST_END, _ITEM), (_CLOSING, _CLOSE),
                        ("\n", _BREAK)):
        table[[ord(c) for c in chars]] |= flag
    return table


_END, _ITEM, _CLOSE, _BREAK = 1, 2, 4, 8
_CLASS = _classes()
_LEAD_START = frozenset(MARKS + "新本中人央")  # what a dateline or a mark starts with


def prepare(text: str, s_start: np.ndarray, s_end: np.ndarray, sentence_start: np.ndarray,
            min_chars: int, codes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For the body sentences of a batch (offsets into ``text``; article a's are
    ``sentence_start[a]:sentence_start[a + 1]``): their start with the dateline and marks
    skipped, and their length as far as picking goes (0: never picked). An article left
    without any candidate keeps its usual ones (every sentence of ``min_chars`` or more).

    ``codes`` is the text as code points (UTF-32), if the caller has it. Array passes over
    all sentences; Python only for those that open a paragraph."""
    n = len(text)
    if len(s_start) == 0 or n == 0:
        return s_start.copy(), s_end - s_start
    if codes is None:
        codes = np.frombuffer(text.encode("utf-32-le"), np.uint32)

    def kind(at: np.ndarray) -> np.ndarray:
        return _CLASS[np.minimum(codes[at], 0xFFFF)]

    before = kind(np.maximum(s_start - 1, 0))
    line_start = (s_start == 0) | (before & _BREAK != 0)
    after = kind(np.minimum(s_end, n - 1))
    whole = line_start & ((s_end >= n) | (after & _BREAK != 0))
    last = kind(s_end - 1)
    core = np.where((last & _CLOSE != 0) & (s_end - 2 >= s_start),
                    kind(np.maximum(s_end - 2, 0)), last)
    heading = (core & _ITEM != 0) | (whole & (core & (_END | _ITEM) == 0))
    new_start = s_start.copy()
    owner = np.searchsorted(sentence_start, np.arange(len(s_start)), side="right") - 1
    runs: dict[int, list[int]] = {}  # per article: short sentences opening a paragraph
    opening = np.flatnonzero(line_start)
    for k, s, e, w, a, h in zip(opening.tolist(), s_start[opening].tolist(),
                                s_end[opening].tolist(), whole[opening].tolist(),
                                owner[opening].tolist(), heading[opening].tolist()):
        if text[s] in _LEAD_START or "讯" in text[s:s + 12]:
            s += lead_length(text[s:e])
            new_start[k] = s
        if not h and e - s <= HEADING_CHARS and not _INNER_PUNCT.search(text, s, e):
            if w:
                heading[k] = True  # a short one-sentence paragraph without a comma
            else:
                runs.setdefault(a, []).append(k)
    for found in runs.values():
        heading[_parallel(text, new_start, s_end, found)] = True
    lengths = np.where(heading, 0, s_end - new_start)
    plain = s_end - new_start
    usable = np.bincount(owner[lengths >= min_chars], minlength=len(sentence_start) - 1)
    for a in np.flatnonzero(usable == 0).tolist():
        k0, k1 = sentence_start[a], sentence_start[a + 1]
        lengths[k0:k1] = plain[k0:k1]
    return new_start, lengths


def _parallel(text: str, new_start: np.ndarray, ends: np.ndarray, run_in: list[int]
              ) -> list[int]:
    """Of the short sentences opening paragraphs, those printed as a series of run-in heads
    (`全面建设先进制造业新高地。…`, `全面建设对外开放新高地。…`): two or more that begin with the
    same two characters or end with the same three."""
    if len(run_in) < 2:
        return []
    cores = {k: text[int(new_start[k]):int(ends[k])].rstrip(_SENTENCE_END + _CLOSING)
             for k in run_in}
    heads = Counter(c[:2] for c in cores.values())
    tails = Counter(c[-3:] for c in cores.values())
    return [k for k, c in cores.items() if heads[c[:2]] >= 2 or tails[c[-3:]] >= 2]


def _unmatched(piece: str) -> tuple[list[int], list[int]]:
    """Positions of opening marks never closed and of closing marks never opened."""
    stack: list[int] = []
    stray: list[int] = []
    for m in _PAIR_MARK.finditer(piece):
        i, ch = m.start(), m.group()
        if ch in PAIRS:
            stack.append(i)
        elif stack and PAIRS[piece[stack[-1]]] == ch:
            stack.pop()
        elif any(PAIRS[piece[j]] == ch for j in stack):
            while PAIRS[piece[stack.pop()]] != ch:
                pass
        else:
            stray.append(i)
    return stack, stray


def balanced(text: str, start: int, end: int) -> tuple[str, int]:
    """The sentence ``text[start:end]`` as shown, with its quotes and brackets balanced, and
    the offset where what it shows ends (beyond ``end`` when it was extended to its closing
    mark, which then covers the sentences up to there)."""
    piece = text[start:end]
    opened, stray = _unmatched(piece)
    if not opened and not stray:
        return piece, end
    if opened:
        line_end = text.find("\n", end)
        line_end = len(text) if line_end < 0 else line_end
        limit = min(line_end, end + MAX_EXTENSION)
        want = [PAIRS[piece[i]] for i in reversed(opened)]
        at, reach = end, None
        for ch in want:  # innermost first
            at = text.find(ch, at, limit)
            if at < 0:
                break
            at += 1
        else:
            reach = at
        if reach is not None:
            # the closing mark and the terminal punctuation that follows it
            while reach < limit and text[reach] in _SENTENCE_END + _LIST_END + _CLOSING:
                reach += 1
            return balanced_drop(text[start:reach], _unmatched(text[start:reach])[1]), reach
    return balanced_drop(piece, sorted(opened + stray)), end


def balanced_drop(piece: str, positions: Sequence[int]) -> str:
    if not positions:
        return piece
    drop = set(positions)
    return "".join(ch for i, ch in enumerate(piece) if i not in drop).strip()
