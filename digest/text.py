"""Text stage helpers: sentence splitting, tokenisation backends and stopwords.

Everything here is about turning an article's text into units the ranker can count:
sentences (with their character offsets, so tokens of one whole-article `tag` call can be
mapped back to them) and (word, POS flag) tokens.

Two tokeniser backends share one small interface (`cut`, `tag`):

- ``rjieba``: the jieba-rs binding. Same dictionary and algorithm as jieba; on the seeds its
  ``tag`` takes 0.008 s where ``jieba.posseg`` takes 0.63 s (``make bench``).
- ``jieba``: the reference Python package (``jieba.lcut`` / ``jieba.posseg``). Its prefix
  dictionary cache is written under the state folder, never to the shared temp folder.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np

TOKENIZERS = ("rjieba", "jieba")
DATA = Path(__file__).resolve().parent / "data"  # package data (pyproject: package-data)

# ---------------------------------------------------------------------------------------------
# Sentences


class SentenceSpan(NamedTuple):
    """One sentence: ``text`` is ``source[start:end]`` with surrounding whitespace trimmed."""

    start: int
    end: int
    text: str


# A sentence ends after a run of terminal punctuation (。！？；… and ASCII !?;, or a period
# not followed by a letter or digit, so 3.5, 2022.7.22 and www.gov.cn stay whole), together
# with the closing quotes and brackets that follow the run (。” ！）). A line break always ends
# a sentence: headlines, subheads and page-final fragments carry no punctuation but must not be
# glued to the next paragraph. The text after the last terminator is a sentence too.
# Classified per character with a lookup table, so a whole batch of articles is split in a
# few numpy operations: the regex equivalent cost about 60 us an article here.
_TERMINAL, _PERIOD, _CLOSER, _NEWLINE, _SPACE, _WORD, _DIGIT, _ALNUM = (1 << i for i in range(8))


def _char_classes() -> np.ndarray:
    table = np.zeros(0x110000, np.uint8)

    def mark(chars: str, flag: int) -> None:
        table[[ord(c) for c in chars]] |= flag

    mark("。！？；!?;…", _TERMINAL)
    mark(".．", _PERIOD)
    mark("”’」』）)]】》〕\"'", _CLOSER)
    mark("\n", _NEWLINE)
    mark("".join(chr(c) for c in range(0x3000 + 1) if chr(c).isspace()), _SPACE)
    digit, letter = _WORD | _DIGIT | _ALNUM, _WORD | _ALNUM
    for low, high, flags in (("0", "9", digit), ("０", "９", digit), ("A", "Z", letter),
                             ("a", "z", letter), ("Ａ", "Ｚ", letter), ("ａ", "ｚ", letter),
                             ("\u3400", "\u9fff", _WORD), ("\uf900", "\ufaff", _WORD)):
        table[ord(low):ord(high) + 1] |= flags
    return table


_CLASSES = _char_classes()


def sentence_bounds(text: str) -> tuple[np.ndarray, np.ndarray]:
    r"""Start and end offsets of the sentences of ``text`` (whitespace trimmed, in order).

    Every rule looks no further than the current line, so splitting "\n".join(texts) gives
    the sentences of each text, shifted: the batch ranker relies on that."""
    codes = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    n = len(codes)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    cls = np.append(_CLASSES[codes], np.uint8(0))  # a sentinel after the end
    # Only punctuation, quotes and line breaks can end a sentence: work on those positions.
    at = np.flatnonzero(cls[:n] & (_TERMINAL | _PERIOD | _CLOSER | _NEWLINE))
    kind = cls[at]
    terminal = (kind & _TERMINAL != 0) | ((kind & _PERIOD != 0) & (cls[at + 1] & _ALNUM == 0))
    closer = kind & _CLOSER != 0
    adjacent = np.append(at[1:] == at[:-1] + 1, False)  # candidate k+1 follows k directly
    # A closer belongs to a run when the nearest non-closer before it, with nothing else in
    # between, is a terminator.
    stretch = np.cumsum(np.concatenate(([True], ~adjacent[:-1]))) if len(at) else at
    position = np.arange(len(at))
    last_other = np.maximum.accumulate(np.where(closer, -1, position))
    safe = np.maximum(last_other, 0)
    in_run = terminal | (closer & (last_other >= 0) & terminal[safe]
                         & (stretch[safe] == stretch))
    run_end = in_run & ~(np.append(in_run[1:], False) & adjacent)
    # Cut after a run's end, or at a line break. Taken in the order of `at`, these positions
    # never decrease (a cut after at[k] is at most at[k + 1]): dropping repeats is enough.
    newline = kind & _NEWLINE != 0
    cuts = (at + run_end)[run_end | newline]
    cuts = cuts[np.append(True, cuts[1:] != cuts[:-1])] if len(cuts) else cuts
    start = np.concatenate(([0], cuts))
    end = np.append(cuts, n)
    blank = _SPACE | _NEWLINE
    while True:  # trim leading whitespace: a step per blank character, usually 0 to 2
        step = (start < end) & (cls[start] & blank != 0)
        if not step.any():
            break
        start = start + step
    while True:
        step = (end > start) & (cls[end - 1] & blank != 0)
        if not step.any():
            break
        end = end - step
    keep = start < end
    start, end = start[keep], end[keep]
    words = np.concatenate(([0], np.cumsum(cls[:n] & _WORD != 0)))
    letters = words[end] - words[start]
    short_number = (end - start <= 3) & (letters == end - start - 1) & (
        cls[end - 1] & _PERIOD != 0) & (cls[start] & _DIGIT != 0)
    if letters.all() and not short_number.any():
        return start, end
    return _repair(start, end, letters > 0, short_number, np.cumsum(cls[:n] & _NEWLINE != 0))


def _repair(start, end, has_word, enumerator, lines):
    """Rare pieces: one without letters (a stray closing quote) joins the sentence before it
    on the same line, or is dropped; a bare list number ("1.") joins the next one on its line."""
    starts, ends = [], []
    carry, carry_end = None, 0
    for s, e, word, number in zip(start.tolist(), end.tolist(), has_word.tolist(),
                                  enumerator.tolist()):
        if carry is not None and lines[s] != lines[carry]:
            starts.append(carry)
            ends.append(carry_end)
            carry = None
        if number:
            if carry is None:
                carry, carry_end = s, e
            continue
        if not word:
            if carry is None and ends and lines[s] == lines[ends[-1] - 1]:
                ends[-1] = e
            continue
        starts.append(s if carry is None else carry)
        ends.append(e)
        carry = None
    if carry is not None:
        starts.append(carry)
        ends.append(carry_end)
    return np.array(starts, np.int64), np.array(ends, np.int64)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_sentences(text: str, min_chars: int = 1) -> list[SentenceSpan]:
    """Split Chinese news text into sentences, in document order.

    Sentences shorter than ``min_chars`` characters are left out; the offsets of the others
    always point into ``text``."""
    starts, ends = sentence_bounds(text)
    return [SentenceSpan(s, e, text[s:e]) for s, e in zip(starts.tolist(), ends.tolist())
            if e - s >= min_chars]


# textrank4zh 0.3 splits on these and nothing else (util.sentence_delimiters), then strips.
TEXTRANK4ZH_DELIMITERS = "?!;？！。；…\n"
_TEXTRANK4ZH_SPLIT = re.compile("[" + re.escape(TEXTRANK4ZH_DELIMITERS) + "]")


def split_sentences_textrank4zh(text: str) -> list[SentenceSpan]:
    """Sentences exactly as textrank4zh 0.3 cuts them: delimiters dropped, no quote handling."""
    spans, start = [], 0
    for match in _TEXTRANK4ZH_SPLIT.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    out = []
    for start, end in spans:
        start, end = _trim(text, start, end)
        if start < end:
            out.append(SentenceSpan(start, end, text[start:end]))
    return out


# ---------------------------------------------------------------------------------------------
# Tokenisers


class Tokenizer(Protocol):
    """What the ranker needs from a word segmenter. Tokens cover the input exactly: joined
    back together they give the text, whitespace and punctuation included."""

    name: str
    # True when a word's POS flag never depends on its context (a dictionary lookup), so a
    # word can be looked up once and its flag reused.
    flags_follow_words: bool

    def cut(self, text: str) -> list[str]: ...

    def tag(self, text: str) -> list[tuple[str, str]]: ...


# jieba's user dictionary line: "word [freq] [tag]" (the same pattern jieba itself uses).
_USER_DICT_LINE = re.compile(r"^(.+?)( [0-9]+)?( [a-z]+)?$")


def read_user_dict(path: Path) -> list[tuple[str, int | None, str | None]]:
    """Entries of a jieba user dictionary file (UTF-8, one ``word [freq] [tag]`` a line)."""
    entries = []
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        line = line.strip()
        if not line:
            continue
        word, freq, flag = _USER_DICT_LINE.match(line).groups()
        entries.append((word, int(freq) if freq else None, flag.strip() if flag else None))
    return entries


class RjiebaTokenizer:
    """jieba-rs through rjieba; a private instance so a user dictionary stays local."""

    name = "rjieba"
    flags_follow_words = True  # jieba-rs tags by dictionary lookup (else x / m / eng)

    def __init__(self, user_dict: Path | None = None) -> None:
        import rjieba

        self._jieba = rjieba.Jieba()
        for word, freq, flag in read_user_dict(user_dict) if user_dict else ():
            self._jieba.add_word(word, freq, flag)
        # Bound methods straight from the extension: no Python frame per call.
        self.cut = self._jieba.cut
        self.tag = self._jieba.tag


class JiebaTokenizer:
    """The jieba package. The prefix-dictionary cache goes to ``cache_dir``."""

    name = "jieba"
    flags_follow_words = False  # jieba.posseg's HMM tags unknown words in context

    def __init__(self, cache_dir: Path, user_dict: Path | None = None) -> None:
        import jieba
        import jieba.posseg

        # jieba logs its dictionary loading at DEBUG to stderr; that is noise for a CLI.
        jieba.setLogLevel(logging.WARNING)
        cache_dir.mkdir(parents=True, exist_ok=True)
        self._jieba = jieba.Tokenizer()
        self._jieba.tmp_dir = str(cache_dir)  # else tempfile.gettempdir(): a shared /tmp
        self._jieba.initialize()
        if user_dict:
            self._jieba.load_userdict(str(user_dict))
        self._posseg = jieba.posseg.POSTokenizer(self._jieba)
        self.cut = self._jieba.lcut

    def tag(self, text: str) -> list[tuple[str, str]]:
        return [(pair.word, pair.flag) for pair in self._posseg.cut(text)]


@functools.lru_cache(maxsize=8)
def _tokenizer(name: str, cache_dir: Path, user_dict: Path | None) -> Tokenizer:
    if name == "rjieba":
        return RjiebaTokenizer(user_dict)
    if name == "jieba":
        return JiebaTokenizer(cache_dir, user_dict)
    raise ValueError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}")


def make_tokenizer(text_config, cache_dir: Path) -> Tokenizer:
    """The backend named by ``text_config.tokenizer``, with its user dictionary loaded.

    Built once per (backend, cache folder, user dictionary) in a process: loading a
    dictionary costs 0.1 s (rjieba) to 1 s (jieba)."""
    user_dict = Path(text_config.user_dict) if text_config.user_dict else None
    return _tokenizer(text_config.tokenizer, Path(cache_dir), user_dict)


# ---------------------------------------------------------------------------------------------
# Stopwords


@functools.lru_cache(maxsize=1)
def builtin_stopwords() -> frozenset[str]:
    """The shipped list (textrank4zh 0.3's, see data/NOTICE.txt)."""
    text = (DATA / "stopwords.txt").read_text(encoding="utf-8")
    return frozenset(filter(None, (line.strip() for line in text.splitlines())))


@functools.lru_cache(maxsize=8)
def load_stopwords(extra: Path | None = None) -> frozenset[str]:
    """The built-in stopwords plus those of ``extra`` (one word a line, UTF-8)."""
    words = builtin_stopwords()
    if extra is None:
        return words
    lines = Path(extra).read_text(encoding="utf-8-sig").splitlines()
    return words | frozenset(filter(None, (line.strip() for line in lines)))
