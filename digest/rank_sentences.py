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

from .parse import match_dateline

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
_OPENERS = "".join(PAIRS)
_CLOSERS = "".join(PAIRS.values())


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


def prepare(text: str, s_start: np.ndarray, s_end: np.ndarray, sentence_start: np.ndarray,
            min_chars: int) -> tuple[np.ndarray, np.ndarray]:
    """For the body sentences of a batch (offsets into ``text``; article a's are
    ``sentence_start[a]:sentence_start[a + 1]``): their start with the dateline and marks
    skipped, and their length as far as picking goes (0: never picked). An article left
    without any candidate keeps its usual ones (every sentence of ``min_chars`` or more)."""
    starts = s_start.tolist()
    ends = s_end.tolist()
    size = len(text)
    new_start = list(starts)
    chars = [0] * len(starts)
    bounds = sentence_start.tolist()
    for a in range(len(bounds) - 1):
        run_in: list[int] = []  # short sentences that open a paragraph and run on
        for k in range(bounds[a], bounds[a + 1]):
            s, e = starts[k], ends[k]
            line_start = s == 0 or text[s - 1] == "\n"
            if line_start:
                first = text[s]
                if first in MARKS or first in "新本中人央" or "讯" in text[s:s + 12]:
                    s = new_start[k] = s + lead_length(text[s:e])
            whole = line_start and (e == size or text[e] == "\n")
            piece = text[s:e]
            chars[k] = 0 if heading_like(piece, whole) else e - s
            if line_start and not whole and chars[k] and len(piece) <= HEADING_CHARS \
                    and not _INNER_PUNCT.search(piece):
                run_in.append(k)
        for k in _parallel(text, starts, new_start, ends, run_in):
            chars[k] = 0
    lengths = np.array(chars, np.int64)
    plain = s_end - np.array(new_start, np.int64)
    for a in range(len(bounds) - 1):
        k0, k1 = bounds[a], bounds[a + 1]
        if k1 > k0 and not (lengths[k0:k1] >= min_chars).any():
            lengths[k0:k1] = plain[k0:k1]
    return np.array(new_start, np.int64), lengths


def _parallel(text: str, starts: list[int], new_start: list[int], ends: list[int],
              run_in: list[int]) -> list[int]:
    """Of the short sentences opening paragraphs, those printed as a series of run-in heads
    (`全面建设先进制造业新高地。…`, `全面建设对外开放新高地。…`): two or more that begin with the
    same two characters or end with the same three."""
    if len(run_in) < 2:
        return []
    cores = {k: text[new_start[k]:ends[k]].rstrip(_SENTENCE_END + _CLOSING) for k in run_in}
    heads = Counter(c[:2] for c in cores.values())
    tails = Counter(c[-3:] for c in cores.values())
    return [k for k, c in cores.items() if heads[c[:2]] >= 2 or tails[c[-3:]] >= 2]


def _unmatched(piece: str) -> tuple[list[int], list[int]]:
    """Positions of opening marks never closed and of closing marks never opened."""
    stack: list[int] = []
    stray: list[int] = []
    for i, ch in enumerate(piece):
        if ch in PAIRS:
            stack.append(i)
        elif ch in _CLOSERS:
            if stack and PAIRS[piece[stack[-1]]] == ch:
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
    if not any(c in _OPENERS or c in _CLOSERS for c in piece):
        return piece, end
    opened, stray = _unmatched(piece)
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
