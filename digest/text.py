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

from .jit import numba
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
# Classified per character with a lookup table, in one compiled pass over a whole batch of
# articles: about 1 us an article here, where a regex took 60 us and numpy 6 us.
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


def sentence_bounds(text: str, codes: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    r"""Start and end offsets of the sentences of ``text`` (whitespace trimmed, in order);
    ``codes``: the text as code points (UTF-32), if the caller has them.

    Every rule looks no further than the current line, so splitting "\n".join(texts) gives
    the sentences of each text, shifted: the batch ranker relies on that."""
    if codes is None:
        codes = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    return _sentence_bounds(codes, _CLASSES)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _is_terminal(codes, classes, i):
    kind = classes[codes[i]]
    if kind & _TERMINAL:
        return True
    # A period ends a sentence unless a letter or digit follows (3.5, www.gov.cn).
    return (kind & _PERIOD) != 0 and (i + 1 == len(codes)
                                      or classes[codes[i + 1]] & _ALNUM == 0)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _sentence_bounds(codes, classes):
    """One pass over the characters (compiled: a regex or numpy took 10x longer a batch)."""
    n = len(codes)
    cuts = np.empty(n + 1, np.int64)
    count = 0
    i = 0
    while i < n:
        kind = classes[codes[i]]
        if kind & _NEWLINE:
            cut, i = i, i + 1
        elif _is_terminal(codes, classes, i):
            i += 1
            while i < n and (_is_terminal(codes, classes, i) or classes[codes[i]] & _CLOSER):
                i += 1
            cut = i
        else:
            i += 1
            continue
        if count == 0 or cuts[count - 1] != cut:
            cuts[count] = cut
            count += 1
    starts = np.empty(count + 1, np.int64)
    ends = np.empty(count + 1, np.int64)
    letters = np.empty(count + 1, np.int64)
    pieces = 0
    blank = _SPACE | _NEWLINE
    repair = False
    for k in range(count + 1):
        start = 0 if k == 0 else cuts[k - 1]
        end = n if k == count else cuts[k]
        while start < end and classes[codes[start]] & blank:
            start += 1
        while end > start and classes[codes[end - 1]] & blank:
            end -= 1
        if start == end:
            continue
        words = 0
        for j in range(start, end):
            if classes[codes[j]] & _WORD:
                words += 1
        starts[pieces], ends[pieces], letters[pieces] = start, end, words
        pieces += 1
        repair = repair or words == 0 or _is_enumerator(codes, classes, start, end, words)
    if not repair:
        return starts[:pieces], ends[:pieces]
    return _repair(codes, classes, starts[:pieces], ends[:pieces], letters[:pieces])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _is_enumerator(codes, classes, start, end, words):
    """A bare list number: "1.", "12."."""
    return (end - start <= 3 and words == end - start - 1
            and classes[codes[end - 1]] & _PERIOD != 0 and classes[codes[start]] & _DIGIT != 0)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _repair(codes, classes, starts, ends, letters):
    """Rare pieces: one without letters (a stray closing quote) joins the sentence before it
    on the same line, or is dropped; a bare list number ("1.") joins the next one on its line."""
    line = np.zeros(len(codes) + 1, np.int64)  # line[i]: line breaks in codes[:i + 1]
    breaks = 0
    for i in range(len(codes)):
        if classes[codes[i]] & _NEWLINE:
            breaks += 1
        line[i] = breaks
    out_start = np.empty(len(starts), np.int64)
    out_end = np.empty(len(starts), np.int64)
    count = 0
    carry, carry_end = -1, 0
    for k in range(len(starts)):
        s, e = starts[k], ends[k]
        if carry >= 0 and line[s] != line[carry]:
            out_start[count], out_end[count] = carry, carry_end
            count += 1
            carry = -1
        if _is_enumerator(codes, classes, s, e, letters[k]):
            if carry < 0:
                carry, carry_end = s, e
            continue
        if letters[k] == 0:
            if carry < 0 and count > 0 and line[s] == line[out_end[count - 1] - 1]:
                out_end[count - 1] = e
            continue
        out_start[count] = s if carry < 0 else carry
        out_end[count] = e
        count += 1
        carry = -1
    if carry >= 0:
        out_start[count], out_end[count] = carry, carry_end
        count += 1
    return out_start[:count], out_end[:count]


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

        if user_dict:
            self._jieba = rjieba.Jieba()
            for word, freq, flag in read_user_dict(user_dict):
                self._jieba.add_word(word, freq, flag)
        else:
            # The instance rjieba builds on import, with its plain dictionary: loading
            # another one would add 0.1 s to every start.
            self._jieba = rjieba._DEFAULT_JIEBA if hasattr(rjieba, "_DEFAULT_JIEBA") \
                else rjieba.Jieba()
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


def tokenizer_id(name: str, user_dict: Path | None) -> str:
    """What a tokenizer's output depends on: its backend's name and version and the user
    dictionary's content (for caches of what it cut or tagged)."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version(name)
    except PackageNotFoundError:
        release = "?"
    words = hashlib.sha256(user_dict.read_bytes()).hexdigest() if user_dict else "-"
    return f"{name} {release} {words}"


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
