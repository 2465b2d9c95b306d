"""Rank stage: each article's key sentences and keywords, by TextRank.

Two modes (``[rank].mode``):

- ``"textrank4zh"`` reproduces textrank4zh 0.3 as its README uses it
  (``analyze(text, lower=True, source="all_filters")``, ``get_key_sentences(num)``,
  ``TextRank4Keyword.analyze(text, lower=True, window=2)``, ``get_keywords(num)``): its
  delimiters, POS allow-list, stopwords, similarity (common words / (log|s1| + log|s2|)) with
  self-loops, and networkx 2.x PageRank with its stopping rule.
- ``"default"``: TextRank on an IDF-weighted cosine graph, personalised towards the lede and
  the headline deck, with boilerplate demoted and near-duplicates skipped (MMR).

Both tokenize an article once and derive everything from that token list. The textrank4zh
mode builds its graphs with numpy (an incidence-matrix product). The default mode ranks a
batch of articles at a time: each article is cut (not tagged: a known word's flags come from
the lexicon), its words are mapped to lexicon ids by a compiled hash table, and graphs,
PageRank, MMR and keywords run as compiled loops (numba), article by article. Per article
that costs a fifth of the tokenizer's time, where numpy's array passes over the batch cost
2.5 times it (``make bench``). Graphs live only for the article being ranked, and a result
never depends on the batch.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import importlib.util
import itertools
import json
import logging
import math
import queue
import re
import statistics
import sys
import threading
import time
from itertools import repeat
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, Sequence

import numba
import numpy as np

from .config import Config, RankConfig
from .model import Article, KeySentence, KeywordCandidate, ParsedIssue, Summary
from .text import (SentenceSpan, Tokenizer, load_stopwords, make_tokenizer, read_user_dict,
                   sentence_bounds, split_sentences_textrank4zh)
from . import rank_names, rank_sentences


def _load_numba_arrays_without_scipy() -> None:
    """numba's array support, loaded at the first compiled call, imports scipy.linalg (0.05-0.3
    s, 30 MiB) only to find a BLAS for np.dot, which no loop here uses: load it now with
    scipy hidden. Later imports of scipy (the themes stage) are not affected."""
    hidden = "scipy.linalg"
    if hidden in sys.modules or "numba.np.arraymath" in sys.modules:
        return
    sys.modules[hidden] = None  # type: ignore[assignment]  # its import fails
    try:
        import numba.np.arraymath  # noqa: F401
    except ImportError:
        pass
    finally:
        if hidden in sys.modules and sys.modules[hidden] is None:
            del sys.modules[hidden]


_load_numba_arrays_without_scipy()

# ---------------------------------------------------------------------------------------------
# How many sentences


def pick_count(candidates: int, rank: RankConfig, top: int | None = None) -> int:
    """Sentences to pick: ``top`` if given, else ``rank.ratio`` of the candidates (rounded
    up, at least one) if set, else ``rank.sentences``."""
    if top is not None:
        wanted = top
    elif rank.ratio is not None:
        wanted = max(1, math.ceil(rank.ratio * candidates))
    else:
        wanted = rank.sentences
    return max(0, min(wanted, candidates))


def within_budget(order: Sequence[int], lengths: Sequence[int], count: int,
                  budget: int | None) -> list[int]:
    """The first ``count`` of ``order`` (best first) whose total length stays within
    ``budget`` characters; a sentence that does not fit is skipped, not cut."""
    picked, used = [], 0
    for i in order:
        if len(picked) == count:
            break
        if budget is not None and used + lengths[i] > budget:
            continue
        picked.append(i)
        used += lengths[i]
    return picked


# ---------------------------------------------------------------------------------------------
# PageRank


def pagerank(weights: np.ndarray, personalization: np.ndarray | None = None, *,
             alpha: float = 0.85, tol: float = 1.0e-6, max_iter: int = 100) -> np.ndarray:
    """PageRank of a weighted graph by power iteration, as networkx 2.x computes it.

    ``weights[i, j]`` is the weight of edge i -> j (symmetric for an undirected graph, a
    self-loop on the diagonal counts once). Rows are normalised to transition probabilities;
    a node without edges (dangling) jumps by ``personalization`` (uniform if None). Starts
    from the uniform vector and stops when the L1 change is below ``n * tol``, or after
    ``max_iter`` rounds (networkx would raise; a ranking still needs an answer).
    """
    n = weights.shape[0]
    if n == 0:
        return np.zeros(0)
    p = (np.full(n, 1.0 / n) if personalization is None
         else personalization / personalization.sum())
    out_weight = np.asarray(weights.sum(axis=1)).ravel()
    dangling = out_weight == 0
    inverse = np.zeros(n)
    np.divide(1.0, out_weight, out=inverse, where=~dangling)
    transition = weights * inverse[:, None]  # scale rows: 1/S multiplied, as networkx does
    teleport = (1 - alpha) * p
    x = np.full(n, 1.0 / n)
    has_dangling = bool(dangling.any())
    for _ in range(max_iter):
        last = x
        spread = x @ transition
        if has_dangling:
            spread = spread + x[dangling].sum() * p
        x = alpha * spread + teleport
        if np.abs(x - last).sum() < n * tol:
            break
    return x


def rank_order(scores: np.ndarray) -> np.ndarray:
    """Indices by descending score; equal scores keep document order (a stable sort, as
    Python's ``sorted`` in textrank4zh)."""
    return np.argsort(-scores, kind="stable")


# ---------------------------------------------------------------------------------------------
# Tokens of one article (textrank4zh mode)


def sentence_of_tokens(token_starts: np.ndarray, spans: Sequence[SentenceSpan]) -> np.ndarray:
    """For each token start offset, the index of the sentence containing it, or -1."""
    if not spans:
        return np.full(len(token_starts), -1)
    starts = np.fromiter((s.start for s in spans), np.int64, len(spans))
    ends = np.fromiter((s.end for s in spans), np.int64, len(spans))
    index = np.searchsorted(starts, token_starts, side="right") - 1
    inside = (index >= 0) & (token_starts < ends[np.maximum(index, 0)])
    return np.where(inside, index, -1)


def token_starts(words: Sequence[str], offset: int = 0) -> np.ndarray:
    lengths = np.fromiter(map(len, words), np.int64, len(words))
    return np.cumsum(lengths) - lengths - offset


# ---------------------------------------------------------------------------------------------
# textrank4zh compatibility

# textrank4zh 0.3 util.allow_speech_tags
TEXTRANK4ZH_FLAGS = frozenset(
    ["an", "i", "j", "l", "n", "nr", "nrfg", "ns", "nt", "nz", "t", "v", "vd", "vn", "eng"])


def textrank4zh_similarity(words_a: Sequence[str], words_b: Sequence[str]) -> float:
    """textrank4zh's sentence similarity: distinct common words / (log|a| + log|b|)."""
    common = len(set(words_a) & set(words_b))
    if common == 0:
        return 0.0
    denominator = math.log(len(words_a)) + math.log(len(words_b))
    return 0.0 if abs(denominator) < 1e-12 else common / denominator


def textrank4zh_graph(sentence_words: Sequence[Sequence[str]]) -> np.ndarray:
    """The similarity matrix textrank4zh builds, vectorised: a sentence x word incidence
    matrix gives the common-word counts; the diagonal (self-loops) is kept."""
    n = len(sentence_words)
    vocabulary: dict[str, int] = {}
    rows, cols = [], []
    for row, words in enumerate(sentence_words):
        for word in set(words):
            rows.append(row)
            cols.append(vocabulary.setdefault(word, len(vocabulary)))
    incidence = np.zeros((n, len(vocabulary)))
    incidence[rows, cols] = 1.0
    common = incidence @ incidence.T
    with np.errstate(divide="ignore"):
        log_length = np.log(np.fromiter(map(len, sentence_words), float, n))
    denominator = log_length[:, None] + log_length[None, :]
    usable = (common > 0) & (np.abs(denominator) >= 1e-12)
    return np.divide(common, denominator, out=np.zeros((n, n)), where=usable)


def textrank4zh_keyword_graph(vertex_words: Sequence[Sequence[str]],
                              edge_words: Sequence[Sequence[str]], window: int = 2
                              ) -> tuple[list[str], np.ndarray]:
    """textrank4zh's word graph: vertices in order of first appearance, an unweighted edge
    between vertices within ``window`` words of each other in the edge word lists."""
    index: dict[str, int] = {}
    for words in vertex_words:
        for word in words:
            index.setdefault(word, len(index))
    graph = np.zeros((len(index), len(index)))
    for words in edge_words:
        ids = [index.get(word, -1) for word in words]
        for distance in range(1, max(window, 2)):
            for a, b in zip(ids, ids[distance:]):
                if a >= 0 and b >= 0:
                    graph[a, b] = graph[b, a] = 1.0
    return list(index), graph


class Textrank4zhEngine:
    """textrank4zh 0.3, reproduced (see the module docstring for the calls it mirrors)."""

    def __init__(self, tokenizer: Tokenizer, stopwords: frozenset[str],
                 min_sentence_chars: int) -> None:
        self.tokenizer = tokenizer
        self.stopwords = stopwords
        self.min_sentence_chars = min_sentence_chars

    def _words(self, tokens: Sequence[tuple[str, str]], pos_filter: bool) -> list[str]:
        # WordSegmentation.segment: POS filter, drop 'x', strip, lower, stopwords.
        out = []
        for word, flag in tokens:
            if flag == "x" or (pos_filter and flag not in TEXTRANK4ZH_FLAGS):
                continue
            word = word.strip().lower()
            if word and word not in self.stopwords:
                out.append(word)
        return out

    def analyse(self, text: str, count: Callable[[int], int], keywords: int,
                budget: int | None) -> Summary:
        spans = split_sentences_textrank4zh(text)
        tokens = self.tokenizer.tag(text)
        owner = sentence_of_tokens(token_starts([w for w, _ in tokens]), spans)
        per_sentence: list[list[tuple[str, str]]] = [[] for _ in spans]
        for token, sentence in zip(tokens, owner.tolist()):
            if sentence >= 0:
                per_sentence[sentence].append(token)
        filtered = [self._words(t, pos_filter=True) for t in per_sentence]
        scores = pagerank(textrank4zh_graph(filtered))
        lengths = [len(s.text) for s in spans]
        order = [i for i in rank_order(scores).tolist()
                 if lengths[i] >= self.min_sentence_chars]
        picked = within_budget(order, lengths, count(len(order)), budget)
        unfiltered = [self._words(t, pos_filter=False) for t in per_sentence]
        vocabulary, graph = textrank4zh_keyword_graph(filtered, unfiltered)
        word_scores = pagerank(graph)
        top_words = tuple(vocabulary[i] for i in rank_order(word_scores)[:keywords].tolist())
        sentences = tuple(KeySentence(i, spans[i].text, float(scores[i])) for i in sorted(picked))
        return Summary(sentences=sentences, keywords=top_words)

    def analyse_batch(self, items: Sequence[tuple[str, str | None]],
                      count: Callable[[int], int], keywords: int, budget: int | None
                      ) -> list[Summary]:
        """textrank4zh has no notion of a headline deck: it is ignored."""
        return [self.analyse(text, count, keywords, budget) for text, _ in items]


# ---------------------------------------------------------------------------------------------
# Default mode


def jieba_idf_path() -> Path:
    spec = importlib.util.find_spec("jieba")  # found, not imported
    return Path(spec.submodule_search_locations[0]) / "analyse" / "idf.txt"


@functools.lru_cache(maxsize=1)
def jieba_idf() -> tuple[dict[str, float], float]:
    """jieba's IDF table (from a large general corpus, shipped with jieba) and its median,
    which jieba itself uses for unknown words."""
    path = jieba_idf_path()
    table = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            word, _, value = line.rstrip("\n").rpartition(" ")
            table[word] = float(value)
    return table, statistics.median(table.values())


# Content words for sentence similarity: textrank4zh's allow-list without time words (今年,
# 近日 link every sentence of a news story), plus jieba's other noun flags.
SENTENCE_FLAGS = frozenset(
    ["an", "a", "i", "j", "l", "n", "ng", "nr", "nrfg", "nrt", "ns", "nt", "nz", "v", "vd",
     "vn", "eng"])
# Keywords name things: nouns, names, places, organisations, nominal verbs, abbreviations.
KEYWORD_FLAGS = frozenset(["n", "nr", "nrfg", "nrt", "ns", "nt", "nz", "vn", "j", "eng"])
# Boilerplate of Chinese official news that editors leave out of key points: exhortation
# lists (会议要求/强调：要…，要…) and attendance lines (…副区长某某参加。).
DIRECTIVE_WORDS = frozenset(["要", "必须", "务必", "应当"])
ATTENDANCE_WORDS = frozenset(["出席", "参加", "陪同", "列席"])
EVENT_WORDS = frozenset(["会议", "活动", "仪式"])
_WORDY = re.compile(r"[0-9A-Za-z\u3400-\u9fff\uf900-\ufaff]")
# What the ranker needs to know of a token, as bits of Lexicon.flags: has a letter, digit or
# CJK character; is a content word (sentence similarity); is a keyword candidate; is one of
# the boilerplate words above.
WORDY, CONTENT, VERTEX, DIRECTIVE, ATTENDANCE, EVENT = (1 << i for i in range(6))
# The bits a tagger's flag, and a word, give (Lexicon._extend).
_FLAG_BITS = {flag: CONTENT * (flag in SENTENCE_FLAGS) | VERTEX * (flag in KEYWORD_FLAGS)
              for flag in SENTENCE_FLAGS | KEYWORD_FLAGS}
_WORD_BITS: dict[str, int] = {}
for _words, _bit in ((DIRECTIVE_WORDS, DIRECTIVE), (ATTENDANCE_WORDS, ATTENDANCE),
                     (EVENT_WORDS, EVENT)):
    for _word in _words:
        _WORD_BITS[_word] = _WORD_BITS.get(_word, 0) | _bit


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _fnv1a(codes: np.ndarray, start: int, end: int) -> np.uint64:
    value = np.uint64(0xCBF29CE484222325)
    for i in range(start, end):
        value = (value ^ np.uint64(codes[i])) * np.uint64(0x100000001B3)
    return value


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _table_find(codes, start, end, key, slots, hashes, pool, starts, lengths):
    mask = len(slots) - 1
    at = np.int64(key & np.uint64(mask))
    n = end - start
    while True:
        i = slots[at]
        if i < 0:
            return -1
        if hashes[i] == key and lengths[i] == n:
            same = True
            for k in range(n):
                if pool[starts[i] + k] != codes[start + k]:
                    same = False
                    break
            if same:
                return i
        at = (at + 1) & mask


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _table_insert(slots, hashes, i):
    mask = len(slots) - 1
    at = np.int64(hashes[i] & np.uint64(mask))
    while slots[at] >= 0:
        at = (at + 1) & mask
    slots[at] = i


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _table_rehash(slots, hashes, count):
    for i in range(count):
        _table_insert(slots, hashes, i)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _table_lookup_batch(codes, articles, slots, hashes, pool, starts, lengths):
    """Ids of the words in ``codes`` (-1: unknown), and how many words each article has:
    words are joined by code point 0, articles by 1. If the articles do not come out as
    ``articles`` or a word is empty, every id is -2."""
    ids = np.empty(len(codes) + 1, np.int64)
    counts = np.zeros(articles, np.int64)
    n, t, a, start = len(codes), 0, 0, 0
    broken = False
    for i in range(n + 1):
        code = codes[i] if i < n else 1
        if code > 1:
            continue
        if i > start:
            if a < articles:
                ids[t] = _table_find(codes, start, i, _fnv1a(codes, start, i), slots, hashes,
                                     pool, starts, lengths)
                counts[a] += 1
            t += 1
        elif code == 0:
            broken = True
        if code == 1:
            a += 1
        start = i + 1
    ids = ids[:t]
    if broken or a != articles:
        ids[:] = -2
    return ids, counts


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _table_add_missing(codes, ids, slots, hashes, pool, starts, lengths, count, used):
    """Gives each word of ``codes`` whose id is -1 (unknown to ``_table_lookup_batch``) its
    id, adding new words to the table in order of first occurrence, from id ``count`` on;
    the arrays must have room (``WordTable.lookup_adding``). Returns the new count and the
    new end of the pool."""
    n, t, start = len(codes), 0, 0
    for i in range(n + 1):
        code = codes[i] if i < n else 1
        if code > 1:
            continue
        if i > start:
            if ids[t] == -1:
                key = _fnv1a(codes, start, i)
                found = _table_find(codes, start, i, key, slots, hashes, pool, starts,
                                    lengths)
                if found < 0:
                    found = count
                    hashes[found], starts[found], lengths[found] = key, used, i - start
                    pool[used:used + i - start] = codes[start:i]
                    used += i - start
                    _table_insert(slots, hashes, found)
                    count += 1
                ids[t] = found
            t += 1
        start = i + 1
    return count, used


_SEPARATORS = re.compile("[\0\1]")


def grown(array: np.ndarray, size: int) -> np.ndarray:
    """``array`` if it holds ``size`` items, else a copy doubled until it does (zero-filled):
    the lexicon and the word table grow word by word, in amortised constant time."""
    capacity = max(len(array), 1)
    while capacity < size:
        capacity *= 2
    if capacity == len(array):
        return array
    bigger = np.zeros(capacity, array.dtype)
    bigger[:len(array)] = array
    return bigger


class WordTable:
    """Word -> id (ids 0, 1, 2... in order of addition), looked up in compiled code: all the
    words of a batch in one call. A Python dict costs as much again as cutting
    the text, because every string fresh from the tokenizer has to be hashed; here a word is
    FNV-1a hashed over its code points, found by open addressing and compared in full, so
    there are no false matches. A hand-written table because no library offers a string map
    callable from numba without converting each string."""

    def __init__(self) -> None:
        self.slots = np.full(1 << 12, -1, np.int64)
        self.hashes = np.zeros(1 << 10, np.uint64)  # by id
        self.starts = np.zeros(1 << 10, np.int64)  # by id, into pool
        self.lengths = np.zeros(1 << 10, np.int64)
        self.pool = np.zeros(1 << 13, np.uint32)  # the words' code points
        self.used = 0
        self.count = 0

    def add(self, word: str) -> int:
        codes = np.frombuffer(word.encode("utf-32-le"), np.uint32)
        i = self.count
        self.hashes, self.starts, self.lengths = (
            grown(a, i + 1) for a in (self.hashes, self.starts, self.lengths))
        self.pool = grown(self.pool, self.used + len(codes))
        self.pool[self.used:self.used + len(codes)] = codes
        self.starts[i], self.lengths[i] = self.used, len(codes)
        self.hashes[i] = _fnv1a(codes, 0, len(codes))
        self.used += len(codes)
        self.count += 1
        if 2 * self.count > len(self.slots):  # keep probes short: at most half full
            self.slots = np.full(2 * len(self.slots), -1, np.int64)
            _table_rehash(self.slots, self.hashes, self.count)
        else:
            _table_insert(self.slots, self.hashes, i)
        return i

    def lookup(self, articles: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Ids of the words of each article, given as its words joined by NUL (-1: unknown;
        all -2 if a word holds NUL or U+0001 or is empty), and each article's number of
        words."""
        codes = np.frombuffer("\1".join(articles).encode("utf-32-le"), np.uint32)
        return _table_lookup_batch(codes, len(articles), self.slots, self.hashes, self.pool,
                                   self.starts, self.lengths)

    def lookup_adding(self, articles: Sequence[str]) -> tuple[np.ndarray, np.ndarray, int]:
        """``lookup``, adding the words it does not know, in order of first occurrence
        (ids from the returned count on): one compiled pass, so that text full of new words
        costs little more than known text. Raises ValueError where ``lookup`` gives -2."""
        codes = np.frombuffer("\1".join(articles).encode("utf-32-le"), np.uint32)
        ids, counts = _table_lookup_batch(codes, len(articles), self.slots, self.hashes,
                                          self.pool, self.starts, self.lengths)
        first = self.count
        if len(ids) and ids[0] == -2:
            raise ValueError("a word holds NUL or U+0001: clean the texts before cutting")
        missing = int(np.count_nonzero(ids == -1))
        if missing:
            most = first + missing  # an upper bound: a new word may occur more than once
            self.hashes, self.starts, self.lengths = (
                grown(a, most) for a in (self.hashes, self.starts, self.lengths))
            self.pool = grown(self.pool, self.used + len(codes))
            if 2 * most > len(self.slots):  # keep probes short: at most half full
                size = len(self.slots)
                while size < 2 * most:
                    size *= 2
                self.slots = np.full(size, -1, np.int64)
                _table_rehash(self.slots, self.hashes, self.count)
            self.count, self.used = _table_add_missing(
                codes, ids, self.slots, self.hashes, self.pool, self.starts, self.lengths,
                self.count, self.used)
        return ids, counts, first

    def words(self, first: int) -> list[str]:
        """The words of ids ``first`` to the last, as strings."""
        if first >= self.count:
            return []
        start = int(self.starts[first])
        text = self.pool[start:self.used].tobytes().decode("utf-32-le")
        ends = (self.starts[first:self.count] + self.lengths[first:self.count] - start)
        begins = (self.starts[first:self.count] - start).tolist()
        return [text[b:e] for b, e in zip(begins, ends.tolist())]


# Punctuation that jieba never joins to a word: the tokenizer cuts the text between two of
# them as it cuts the whole (it segments each run of CJK letters and digits on its own).
_CLAUSE_BREAKS = frozenset("，。！？；：、（）《》“”‘’\n")


def _line_end(text: str, offset: int) -> int:
    end = text.find("\n", offset)
    return len(text) if end < 0 else end


class IdfTable:
    """jieba's IDF table (``jieba_idf``) as a compiled word table: a batch of words looked up
    in one call. Built from idf.txt once and kept in ``<state>/cache/`` as numpy arrays,
    which load in a few milliseconds where parsing the 270,000 lines into a dict took 0.2 s
    of every start. The cache file names its format and the source file's size and
    modification time; it is written atomically (temporary file, then rename), and one
    that is stale, unreadable or corrupt is rebuilt."""

    VERSION = 1
    ARRAYS = ("hashes", "starts", "lengths", "pool")  # the slots are rebuilt: 8 MB less

    def __init__(self, table: WordTable, values: np.ndarray, median: float) -> None:
        self.table, self.values, self.median = table, values, median

    @classmethod
    def load(cls, cache_dir: Path | None) -> "IdfTable":
        source = jieba_idf_path()
        stat = source.stat()
        stamp = np.array([cls.VERSION, stat.st_size, stat.st_mtime_ns], np.int64)
        cache = cache_dir / f"idf-v{cls.VERSION}.npz" if cache_dir is not None else None
        if cache is not None:
            try:
                with np.load(cache, allow_pickle=False) as data:
                    if np.array_equal(data["stamp"], stamp):
                        table = WordTable()
                        for name in cls.ARRAYS:
                            setattr(table, name, data[name])
                        table.count = count = len(data["values"])
                        table.used = len(table.pool)
                        if not (len(table.hashes) == len(table.starts) == len(table.lengths)
                                == count and (table.starts + table.lengths <= table.used).all()):
                            raise ValueError("inconsistent arrays")
                        size = 1 << max(12, (2 * count - 1).bit_length())
                        table.slots = np.full(size, -1, np.int64)
                        _table_rehash(table.slots, table.hashes, count)
                        return cls(table, data["values"], float(data["median"]))
            except Exception:  # noqa: BLE001 - missing, unreadable, corrupt: rebuilt below
                pass
        built = cls.build(source)
        if cache is not None:
            built.save(cache, stamp)
        return built

    @classmethod
    def build(cls, source: Path) -> "IdfTable":
        table, median = jieba_idf()
        table_ = WordTable()
        words = list(table)  # dict order: each word once, its last value
        ids, _, _ = table_.lookup_adding(["\0".join(words)])
        values = np.zeros(table_.count)
        values[ids] = np.fromiter(table.values(), float, len(table))
        jieba_idf.cache_clear()  # the dict is not needed any more
        return cls(table_, values, median)

    def save(self, path: Path, stamp: np.ndarray) -> None:
        import os
        import tempfile

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    t = self.table
                    np.savez(fh, stamp=stamp, values=self.values, median=self.median,
                             hashes=t.hashes[:t.count], starts=t.starts[:t.count],
                             lengths=t.lengths[:t.count], pool=t.pool[:t.used])
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError:
            pass  # a read-only state folder: the table is rebuilt at every start

    def get(self, word: str) -> float | None:
        """IDF of one word, None if the table does not have it (as ``dict.get``)."""
        if not word or "\0" in word or "\1" in word:
            return None
        ids, _ = self.table.lookup([word])
        return float(self.values[ids[0]]) if ids[0] >= 0 else None

    def lookup(self, words: Sequence[str]) -> np.ndarray:
        """IDF of each word; the median for a word the table does not have."""
        if not words:
            return np.zeros(0)
        # An empty word or one holding a separator is in no table: look up "\2" instead.
        probe = [w if w and "\0" not in w and "\1" not in w else "\2" for w in words]
        ids, _ = self.table.lookup(["\0".join(probe)])
        return np.where(ids >= 0, self.values[np.maximum(ids, 0)], self.median)


@functools.lru_cache(maxsize=4)
def idf_table(cache_dir: Path | None) -> IdfTable:
    return IdfTable.load(cache_dir)


class Lexicon(dict):
    """Token key -> id, shared by the articles a Ranker sees, with per-id attributes in numpy
    arrays (``word`` id, ``length``, ``flags`` bits) for the compiled ranker.

    The key is the word itself when the tagger's flag is a function of the word (rjieba:
    dictionary lookup); then ``table`` holds the same ids for compiled lookups of a whole
    batch (``batch_ids``). Else the key is word and flag (jieba.posseg tags unknown words in
    context) and tokens are looked up here, one article at a time (``token_ids``).
    ``word`` ids ignore the flag and letter case. Cleared past ``max_size`` to keep memory
    flat over an unbounded stream; results never depend on the ids' values."""

    ATTRIBUTES = {"word": np.int64, "length": np.int64, "flags": np.uint8}

    def __init__(self, stopwords: frozenset[str], flags_follow_words: bool,
                 max_size: int = 300_000, cache_dir: Path | None = None) -> None:
        super().__init__()
        self._stopwords = stopwords
        self._idf = idf_table(cache_dir)
        self.flags_follow_words = flags_follow_words
        self._max_size = max_size
        self._reset()

    def _reset(self) -> None:
        self.clear()
        self.table = WordTable()
        self.spelling: list[str] = []  # by id: the token as the tokenizer gave it
        self.words: dict[str, int] = {}
        self.word_idf = np.zeros(4096)  # by word id
        for name, dtype in self.ATTRIBUTES.items():
            setattr(self, name, np.zeros(4096, dtype))

    def idf_of(self, word: str) -> float | None:
        """The word's IDF in jieba's general corpus, None if it is not there."""
        return self._idf.get(word)

    def ensure_room(self) -> None:
        if len(self) + len(self.words) > self._max_size:
            self._reset()

    def token_ids(self, tokens: Sequence[tuple[str, str]]) -> list[int]:
        """Ids of one article's (word, flag) tokens. Called right after the article is tagged,
        while its tokens are still in the CPU cache: on a whole batch at once this costs 3x
        more."""
        if self.flags_follow_words:
            keys = [word for word, _ in tokens]
        else:
            keys = [word + "\x1f" + flag for word, flag in tokens]
        ids = list(map(self.get, keys, repeat(-1)))
        if -1 in ids:  # words not seen before: once each
            for i, known in enumerate(ids):
                if known < 0:
                    ids[i] = self.get(keys[i]) if keys[i] in self else self._add(keys[i],
                                                                                   *tokens[i])
        return ids

    def batch_ids(self, joined: Sequence[str], texts: Sequence[str],
                  tag: Callable[[str], list[tuple[str, str]]]) -> tuple[np.ndarray, np.ndarray]:
        """Ids of the words of a batch of articles, as the tagger's ``cut`` gave them, when
        its flags follow words: a known word needs no flag, so articles are cut, not tagged
        (rjieba's ``tag`` is the same cut plus a dictionary lookup, at twice the cost).

        ``joined[a]`` is article a's words joined by NUL, ``texts[a]`` its text, which must
        hold no NUL or U+0001 (they join words and articles for the compiled word table).
        One string an article, not a list of words: a batch's 25,000 word objects kept
        alive until the batch is ranked cost more than cutting them (memory, not
        arithmetic). Returns the ids and each article's number of words."""
        first = len(self)
        ids, counts, table_first = self.table.lookup_adding(joined)
        assert table_first == first  # the table and the lexicon count additions alike
        words = self.table.words(first)
        if words:
            flags = self._flags_of(words, first, ids, counts, self.table.lengths, texts, tag)
            self._extend(words, words, flags, in_table=True)
        return ids, counts

    @staticmethod
    def _flags_of(words: Sequence[str], first: int, ids: np.ndarray, counts: np.ndarray,
                  lengths: np.ndarray, texts: Sequence[str],
                  tag: Callable[[str], list[tuple[str, str]]]) -> list[str]:
        """The tagger's flags of new words (ids ``first`` on). A flag belongs to the word
        (``flags_follow_words``), so all the new words of a batch are tagged in one call,
        a line each (tagging each word alone took 25 us a word). A word that does not come
        back whole there (a word the HMM found in context, or a dictionary word whose parts
        outscore it alone: 必成, 建在) takes its flag from tagging the clause of its first
        occurrence (between punctuation marks: the tokenizer cuts each run of letters on its
        own, so the clause gives the tokens the whole text does, for a fraction of the
        time), else its line, else the whole text. Any tagging that returns the word whole
        gives its flag. ``lengths``: characters of each id."""
        alone = dict(tag("\n".join(words)))
        flags = [alone.get(word) for word in words]
        if None not in flags:
            return flags
        missed = [k for k, flag in enumerate(flags) if flag is None]
        occurs = {}  # id -> batch position of its first occurrence
        for at in np.flatnonzero(np.isin(ids, np.array(missed) + first)).tolist():
            occurs.setdefault(int(ids[at]), at)
        ends = np.cumsum(counts)
        in_line: dict[tuple[int, int], dict[str, str]] = {}
        for k in missed:
            at = occurs[first + k]
            a = int(np.searchsorted(ends, at, side="right"))
            t0 = int(ends[a] - counts[a])
            text = texts[a]
            offset = int(lengths[ids[t0:at]].sum())
            begin, end = offset, offset + len(words[k])
            while begin > 0 and text[begin - 1] not in _CLAUSE_BREAKS:
                begin -= 1
            while end < len(text) and text[end] not in _CLAUSE_BREAKS:
                end += 1
            for begin, end in ((begin, end), (text.rfind("\n", 0, offset) + 1,
                                              _line_end(text, offset)), (0, len(text))):
                if (a, begin, end) not in in_line:
                    in_line[a, begin, end] = dict(tag(text[begin:end]))
                flags[k] = in_line[a, begin, end].get(words[k])
                if flags[k] is not None:
                    break
            else:  # cannot happen: the word is one of the text's tokens
                flags[k] = tag(text)[at - t0][1]
        return flags

    def _add(self, key: str, word: str, flag: str) -> int:
        self._extend([key], [word], [flag], in_table=False)
        return len(self) - 1

    def _extend(self, keys: Sequence[str], words: Sequence[str], flags: Sequence[str],
                in_table: bool) -> None:
        """Adds new tokens (ids from ``len(self)`` on); ``in_table``: the word table has
        them already."""
        first = len(self)
        last = first + len(keys)
        for name in self.ATTRIBUTES:
            setattr(self, name, grown(getattr(self, name), last))
        # Column by column over the new words (comprehensions and numpy, not one Python
        # statement per word and attribute): on text full of new words this is most of
        # what learning a word costs.
        vocabulary = self.words
        known = len(vocabulary)
        texts = [word.strip().lower() for word in words]  # "GDP" and "gdp" are one word
        wordy = np.array([_WORDY.search(text) is not None for text in texts], bool)
        content = wordy & np.array([text not in self._stopwords for text in texts], bool)
        by_flag = np.array([_FLAG_BITS.get(flag, 0) for flag in flags], np.uint8)
        vertex = content & (by_flag & VERTEX != 0) & np.array(
            [len(text) >= 2 and not text.isdigit() for text in texts], bool)
        bits = (WORDY * wordy | CONTENT * (content & (by_flag & CONTENT != 0))
                | VERTEX * vertex
                | np.array([_WORD_BITS.get(text, 0) for text in texts], np.uint8))
        word_ids = [vocabulary.setdefault(text, len(vocabulary)) for text in texts]
        self.word_idf = grown(self.word_idf, len(vocabulary))
        self.word_idf[known:len(vocabulary)] = self._idf.lookup(
            list(itertools.islice(vocabulary, known, None)))
        self.word[first:last] = word_ids
        self.length[first:last] = [len(word) for word in words]
        self.flags[first:last] = bits
        self.update(zip(keys, range(first, last)))
        self.spelling.extend(words)
        if self.flags_follow_words and not in_table:
            for key in keys:
                self.table.add(key)  # same id: both count additions from 0


# The default engine's arithmetic runs in compiled loops (numba), one article at a time. With
# numpy on flat arrays over a batch, each of its ~150 array passes costs more than the loop it
# replaces, and the whole took 2.5x the tokenizer's time; compiled, it takes a fraction of it.
# Every sum runs in document order within one article, so a result never depends on the batch
# or on what the lexicon saw before.

_CHECK_EVERY = 4  # PageRank tests for convergence every few rounds
_MAX_ROUNDS = 100
_MMR_WEIGHT = 0.7  # relevance against redundancy with the sentences already picked


@numba.njit(cache=True, nogil=True, error_model="numpy")
def length_factor(chars: int, short: int = 20, typical: int = 40) -> float:
    """A key point is read at a glance: among equally central sentences prefer the shorter,
    mildly (weight (typical / chars) ** 0.25); fragments under ``short`` characters are
    damped."""
    chars = max(chars, 1)
    if chars < short:
        return chars / short * (typical / short) ** 0.25
    return (typical / chars) ** 0.25


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _round12(value: float) -> float:
    """``np.round(value, 12)``: last-bit noise is no rank."""
    return np.rint(value * 1e12) / 1e12


@numba.njit(cache=True, nogil=True, error_model="numpy")
def edge_pagerank(n: int, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray,
                  personalization: np.ndarray, alpha: float, tol: float) -> np.ndarray:
    """Personalised PageRank of a symmetric graph given as an edge list (row, col, weight;
    repeated edges add up), by power iteration from the uniform vector, as networkx 2.x
    computes it: a node without edges jumps by the personalisation; every few rounds, stop
    when the last round changed the vector by less than n * tol (L1)."""
    out = np.zeros(n)
    for e in range(len(rows)):
        out[rows[e]] += weights[e]
    total = 0.0
    for i in range(n):
        total += personalization[i]
    p = np.empty(n)
    for i in range(n):
        p[i] = personalization[i] / total if total > 0 else 1.0 / n
    share = np.zeros(n)  # alpha / degree
    for i in range(n):
        if out[i] > 0:
            share[i] = alpha / out[i]
    unweighted = True
    for e in range(len(rows)):
        unweighted = unweighted and weights[e] == 1.0
    teleport = (1 - alpha) * p
    spread = alpha * p  # of what the dangling nodes hold
    dangling = np.flatnonzero(out == 0)
    x = np.full(n, 1.0 / n)
    last = np.empty(n)
    sent = np.empty(n)  # what each node passes along each of its edges this round
    for rounds in range(1, _MAX_ROUNDS + 1):
        last, x = x, last
        for i in range(n):
            sent[i] = share[i] * last[i]
        x[:] = 0.0
        if unweighted:
            for e in range(len(rows)):
                x[rows[e]] += sent[cols[e]]
        else:
            for e in range(len(rows)):
                x[rows[e]] += weights[e] * sent[cols[e]]
        stuck = 0.0
        for i in dangling:
            stuck += last[i]
        change = 0.0
        for i in range(n):
            value = x[i] + teleport[i]
            if len(dangling):
                value += stuck * spread[i]
            x[i] = value
            change += abs(value - last[i])
        if rounds % _CHECK_EVERY == 0 and change < n * tol:
            break
    return x


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _locate_tokens(pid, t0, t1, start, body_start, s_start, s_end, k0, k1, lex_length,
                   lex_word, lex_flags, index, sentence, in_deck, words, flags):
    """The tokens of one article with a letter, digit or CJK character, written to the
    buffers: their position in the batch, their sentence (index in the article, -1 if in
    none: the deck, stray marks), whether they belong to the deck, their word id and flags.
    ``start`` is the article's offset. Returns how many."""
    n, at, k = 0, start, k0
    for t in range(t0, t1):
        here = at
        at += lex_length[pid[t]]
        if not lex_flags[pid[t]] & WORDY:
            continue
        while k < k1 and s_end[k] <= here:
            k += 1
        index[n] = t
        sentence[n] = k - k0 if k < k1 and s_start[k] <= here else -1
        in_deck[n] = here < body_start
        words[n] = lex_word[pid[t]]
        flags[n] = lex_flags[pid[t]]
        n += 1
    return n


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _sentence_graph(words, sentence, in_deck, flags, m, word_idf, slot):
    """Cosine similarity of IDF-weighted word sets between the article's m sentences (dense,
    no self-loops) and each sentence's cosine to the deck. Words are numbered by first
    occurrence through ``slot`` (word id -> number, -1 when unseen; left as found)."""
    n = len(words)
    cell_row = np.empty(n, np.int64)
    cell_col = np.empty(n, np.int64)
    col_word = np.empty(n, np.int64)
    col_last_row = np.empty(n, np.int64)
    cells = columns = 0
    for k in range(n):
        if not flags[k] & CONTENT or (sentence[k] < 0 and not in_deck[k]):
            continue
        row = sentence[k] if sentence[k] >= 0 else m  # the deck is row m
        word = words[k]
        col = slot[word]
        if col < 0:
            col = columns
            slot[word] = col
            col_word[col] = word
            col_last_row[col] = -1
            columns += 1
        if col_last_row[col] == row:  # rows come in runs: a repeat is in the current run
            continue
        col_last_row[col] = row
        cell_row[cells], cell_col[cells] = row, col
        cells += 1
    for c in range(columns):
        slot[col_word[c]] = -1
    norm = np.zeros(m + 1)
    weight = np.empty(cells)
    for c in range(cells):
        weight[c] = word_idf[col_word[cell_col[c]]]
        norm[cell_row[c]] += weight[c] * weight[c]
    for c in range(cells):
        weight[c] /= np.sqrt(norm[cell_row[c]])
    # Cells by column (a counting sort, stable: document order within a column).
    start = np.zeros(columns + 1, np.int64)
    for c in range(cells):
        start[cell_col[c] + 1] += 1
    for c in range(columns):
        start[c + 1] += start[c]
    fill = start[:-1].copy()
    by_column = np.empty(cells, np.int64)
    for c in range(cells):
        by_column[fill[cell_col[c]]] = c
        fill[cell_col[c]] += 1
    similarity = np.zeros((m, m))
    to_deck = np.zeros(m)
    for col in range(columns):
        deck_weight = 0.0
        for a in range(start[col], start[col + 1]):
            if cell_row[by_column[a]] == m:
                deck_weight = weight[by_column[a]]
        for a in range(start[col], start[col + 1]):
            i = cell_row[by_column[a]]
            if i == m:
                continue
            to_deck[i] += weight[by_column[a]] * deck_weight
            for b in range(start[col], start[col + 1]):
                j = cell_row[by_column[b]]
                if j != m and j != i:
                    similarity[i, j] += weight[by_column[a]] * weight[by_column[b]]
    return similarity, to_deck


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _dense_edges(matrix):
    m = matrix.shape[0]
    count = 0
    for i in range(m):
        for j in range(m):
            if matrix[i, j] != 0:
                count += 1
    rows = np.empty(count, np.int64)
    cols = np.empty(count, np.int64)
    weights = np.empty(count)
    e = 0
    for i in range(m):
        for j in range(m):
            if matrix[i, j] != 0:
                rows[e], cols[e], weights[e] = i, j, matrix[i, j]
                e += 1
    return rows, cols, weights


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _boilerplate(sentence, flags, m):
    """x0.6 for a sentence with two or more 要/必须/务必/应当; x0.5 for one whose last word is
    出席/参加/陪同/列席, or 会议/活动/仪式 right after one; never for the lede."""
    directives = np.zeros(m, np.int64)
    attendance_line = np.zeros(m, np.bool_)
    last = -1  # previous token in a sentence
    for k in range(len(sentence)):
        s = sentence[k]
        if s < 0:
            continue
        if flags[k] & DIRECTIVE:
            directives[s] += 1
        before = last >= 0 and sentence[last] == s and flags[last] & ATTENDANCE != 0
        # the last word decides
        attendance_line[s] = flags[k] & ATTENDANCE != 0 or (flags[k] & EVENT != 0 and before)
        last = k
    factor = np.ones(m)
    for s in range(1, m):
        if directives[s] >= 2:
            factor[s] *= 0.6
        if attendance_line[s]:
            factor[s] *= 0.5
    return factor


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _mmr_pick(relevance, similarity, chars, min_chars, wanted, budget):
    """Maximal marginal relevance: round after round, the candidate with the best
    0.7 relevance - 0.3 (max similarity to the picks), until ``wanted`` are picked; with a
    character budget (>= 0), a sentence that no longer fits is passed over."""
    m = len(relevance)
    best = 0.0
    for i in range(m):
        if chars[i] >= min_chars:
            best = max(best, relevance[i])
    scale = best if best > 0 else 1.0
    picked = np.zeros(m, np.bool_)
    redundancy = np.zeros(m)
    used = 0
    for _ in range(wanted):
        chosen, top = -1, 0.0
        for i in range(m):
            if picked[i] or chars[i] < min_chars or (budget >= 0 and used + chars[i] > budget):
                continue
            gain = _round12(_MMR_WEIGHT * (relevance[i] / scale)
                            - (1 - _MMR_WEIGHT) * redundancy[i])
            if chosen < 0 or gain > top:
                chosen, top = i, gain
        if chosen < 0:
            break
        picked[chosen] = True
        used += chars[chosen]
        for j in range(m):
            redundancy[j] = max(redundancy[j], similarity[chosen, j])
    return picked


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _keywords(index, words, sentence, in_deck, flags, word_idf, slot, keywords, window,
              alpha, tol, out, out_score):
    """TextRank over co-occurrence of nouns within ``window`` content words of a sentence;
    teleport by IDF (doubled for words of the deck); score x sqrt(IDF). Writes to ``out`` the
    batch position of each keyword's first occurrence, best first, and to ``out_score`` its
    score; returns how many."""
    n = len(words)
    sequence = np.empty(n, np.int64)  # what a reader reads: content words of the body
    length = 0
    for k in range(n):
        if flags[k] & CONTENT and sentence[k] >= 0:
            sequence[length] = k
            length += 1
    node = np.full(length, -1, np.int64)
    node_word = np.empty(length, np.int64)
    node_token = np.empty(length, np.int64)
    nodes = 0
    for q in range(length):
        k = sequence[q]
        if not flags[k] & VERTEX:
            continue
        v = slot[words[k]]
        if v < 0:
            v = nodes
            slot[words[k]] = v
            node_word[v], node_token[v] = words[k], index[k]
            nodes += 1
        node[q] = v
    if nodes == 0:
        return 0
    # Edges, each way, by distance then direction: summing them in this order is part of the
    # result, kept fixed.
    most = 2 * length * max(window - 1, 0)
    rows = np.empty(most, np.int64)
    cols = np.empty(most, np.int64)
    edges = 0
    for distance in range(1, window):
        first = edges
        for q in range(length - distance):
            a, c = node[q], node[q + distance]
            if a >= 0 and c >= 0 and a != c and \
                    sentence[sequence[q]] == sentence[sequence[q + distance]]:
                rows[edges] = a
                cols[edges] = c
                edges += 1
        for e in range(first, edges):  # the other way
            rows[edges + e - first] = cols[e]
            cols[edges + e - first] = rows[e]
        edges += edges - first
    # Words of the deck (any word with a letter: the deck is short) get twice the teleport.
    deck_marks = np.zeros(nodes, np.bool_)
    for k in range(n):
        if in_deck[k]:
            v = slot[words[k]]
            if v >= 0:
                deck_marks[v] = True
    idf = np.empty(nodes)
    teleport = np.empty(nodes)
    for v in range(nodes):
        idf[v] = word_idf[node_word[v]]
        teleport[v] = idf[v] * (2.0 if deck_marks[v] else 1.0)
        slot[node_word[v]] = -1
    scores = edge_pagerank(nodes, rows[:edges], cols[:edges], np.ones(edges), teleport,
                           alpha, tol)
    # Centrality alone crowns 工作/发展 in every article; weighting by IDF keeps the words
    # that tell articles apart, which is what theme grouping needs.
    for v in range(nodes):
        scores[v] = _round12(scores[v] * np.sqrt(idf[v]))
    count = min(keywords, nodes)
    order = np.argsort(-scores, kind="mergesort")  # stable: ties keep the first occurrence
    for r in range(count):
        out[r] = node_token[order[r]]
        out_score[r] = scores[order[r]]
    return count


@numba.njit(cache=True, nogil=True, error_model="numpy")
def rank_batch(pid, token_start, article_start, body_start, s_start, s_end, s_chars,
               sentence_start, wanted, budget, min_chars, keywords, lex_length, lex_word, lex_flags, word_idf,
               sentence_alpha, sentence_tol, headline_weight, keyword_alpha, keyword_tol,
               window):
    """The default engine on a batch: for each article, the scores of its body sentences and
    which are picked, and the batch positions of its keywords (``keywords`` slots an article,
    -1 where unused). ``s_chars`` is each sentence's length as picking sees it (0: never
    picked)."""
    size = len(article_start)
    scores = np.zeros(len(s_start))
    picked = np.zeros(len(s_start), np.bool_)
    found = np.full(size * keywords, -1, np.int64)
    found_score = np.zeros(size * keywords)
    slot = np.full(len(word_idf), -1, np.int64)
    most = 0
    for a in range(size):
        most = max(most, token_start[a + 1] - token_start[a])
    index = np.empty(most, np.int64)
    sentence = np.empty(most, np.int64)
    in_deck = np.empty(most, np.bool_)
    words = np.empty(most, np.int64)
    flags = np.empty(most, np.uint8)
    for a in range(size):
        k0, k1 = sentence_start[a], sentence_start[a + 1]
        m = k1 - k0
        n = _locate_tokens(pid, token_start[a], token_start[a + 1], article_start[a],
                           body_start[a], s_start, s_end, k0, k1, lex_length, lex_word,
                           lex_flags, index, sentence, in_deck, words, flags)
        if keywords > 0:
            _keywords(index[:n], words[:n], sentence[:n], in_deck[:n], flags[:n], word_idf,
                      slot, keywords, window, keyword_alpha, keyword_tol,
                      found[a * keywords:(a + 1) * keywords],
                      found_score[a * keywords:(a + 1) * keywords])
        if m == 0:
            continue
        similarity, to_deck = _sentence_graph(words[:n], sentence[:n], in_deck[:n],
                                              flags[:n], m, word_idf, slot)
        prior = np.empty(m)
        for i in range(m):
            prior[i] = 1.0 / np.sqrt(1.0 + i) * (1.0 + headline_weight * to_deck[i])
        rows, cols, weights = _dense_edges(similarity)
        centrality = edge_pagerank(m, rows, cols, weights, prior, sentence_alpha,
                                   sentence_tol)
        factor = _boilerplate(sentence[:n], flags[:n], m)
        chars = s_chars[k0:k1]
        for i in range(m):
            scores[k0 + i] = centrality[i] * factor[i] * length_factor(chars[i])
        picked[k0:k1] = _mmr_pick(scores[k0:k1], similarity, chars, min_chars, wanted[a],
                                  budget)
    return scores, picked, found, found_score


class DefaultEngine:
    """The default ranker, on a batch of articles at a time. General signals of news writing
    rather than rules fitted to the seeds (the damping 0.6 and the 0.25 power were picked
    among a few values with the seed ROUGE, see README):

    - similarity: cosine of IDF-weighted word sets (jieba's IDF table), so that sharing
      发展/工作 counts little and sharing a name or place counts much (textrank4zh's
      count/log-length similarity favours long sentences);
    - personalised PageRank, damping 0.6: teleport weights = position prior 1/sqrt(1 + i)
      x (1 + cosine to the headline deck); centrality decides among plausible sentences;
    - boilerplate (two or more 要/必须/务必/应当; a line ending in 出席/参加/陪同/列席) x0.6
      and x0.5 except for the lede, and a mild preference for short sentences,
      (40 / chars) ** 0.25;
    - MMR against near-duplicates;
    - keywords: TextRank over a 3-word co-occurrence window of nouns, teleport weights by IDF
      (doubled for words of the deck), score x sqrt(IDF): specific words beat 工作/发展.
    """

    sentence_alpha = 0.6  # the priors (lede, deck) weigh more than in web PageRank
    sentence_tol = 1.0e-6
    keyword_alpha = 0.85
    keyword_tol = 1.0e-5  # only the order of the top words matters
    window = 3
    headline_weight = 1.0
    candidates = 4  # keyword candidates kept, per keyword asked for: the store re-weights them
    protected: frozenset[str] = frozenset()  # user dictionary words: never joined into names

    def __init__(self, tokenizer: Tokenizer, stopwords: frozenset[str],
                 min_sentence_chars: int, cache_dir: Path | None = None) -> None:
        self.tokenizer = tokenizer
        self.min_sentence_chars = min_sentence_chars
        self.lexicon = Lexicon(stopwords, getattr(tokenizer, "flags_follow_words", False),
                               cache_dir=cache_dir)

    def analyse_batch(self, items: Sequence[tuple[str, str | None]],
                      count: Callable[[int], int], keywords: int, budget: int | None
                      ) -> list[Summary]:
        lex = self.lexicon
        lex.ensure_room()
        b = _Batch.build(items, self.tokenizer, lex)
        # Datelines and marks are not shown; headings and list items are not picked.
        codes = np.frombuffer(b.text.encode("utf-32-le"), np.uint32)
        b.s_start, chars = rank_sentences.prepare(b.text, b.s_start, b.s_end, b.sentence_start,
                                                  self.min_sentence_chars, codes)
        b.name_starts = rank_names.anchors(codes)
        eligible = chars >= self.min_sentence_chars
        candidates = np.bincount(b.s_article[eligible], minlength=b.size)
        wanted = np.fromiter(map(count, candidates.tolist()), np.int64, b.size)
        slots = max(keywords, 0) * self.candidates
        scores, picked, found, found_score = rank_batch(
            b.pid, b.token_start, b.article_start, b.body_start, b.s_start, b.s_end, chars,
            b.sentence_start, wanted, -1 if budget is None else budget,
            self.min_sentence_chars, slots, lex.length, lex.word, lex.flags,
            lex.word_idf, self.sentence_alpha, self.sentence_tol, self.headline_weight,
            self.keyword_alpha, self.keyword_tol, self.window)
        return b.summaries(scores, picked, found, found_score, slots, max(keywords, 0), lex,
                           self.protected)


@dataclasses.dataclass
class _Batch:
    """A batch of articles as flat arrays: the lexicon ids of all their tokens, and their body
    sentences as character offsets.

    Each article is tokenized once as ``deck + "\\n" + body``; these strings joined by "\\n"
    form ``text``, the coordinate system of every offset."""

    size: int
    text: str
    pid: np.ndarray  # lexicon id of each token, article after article
    token_start: np.ndarray  # article a's tokens are pid[token_start[a]:token_start[a + 1]]
    article_start: np.ndarray  # offset of each article's string in `text`
    body_start: np.ndarray  # offset of each article's body in `text`
    s_start: np.ndarray  # body sentences, article after article
    s_end: np.ndarray
    s_article: np.ndarray
    sentence_start: np.ndarray  # article a's sentences are s_start[sentence_start[a]:...[a + 1]]
    name_starts: np.ndarray | None = None  # where a title is followed by a surname (offsets)
    token_end: np.ndarray | None = None  # cumulative token lengths, made when names need it

    @classmethod
    def build(cls, items: Sequence[tuple[str, str | None]], tokenizer: Tokenizer,
              lexicon: Lexicon) -> "_Batch":
        size = len(items)
        strings, body_at = [], []
        for body, deck in items:
            prefix = " ".join(deck.split()) + "\n" if deck else ""
            strings.append(prefix + body)
            body_at.append(len(prefix))
        if lexicon.flags_follow_words:
            # NUL and U+0001 join words and articles for the table; in news text they are
            # noise anyway.
            strings = [_SEPARATORS.sub(" ", s) if "\0" in s or "\1" in s else s
                       for s in strings]
            cut = tokenizer.cut
            joined = ["\0".join(cut(string)) for string in strings]  # one tokenizer call each
            pid, counts = lexicon.batch_ids(joined, strings, tokenizer.tag)
        else:
            ids, counts = [], []
            for string in strings:
                tokens = tokenizer.tag(string)
                ids += lexicon.token_ids(tokens)
                counts.append(len(tokens))
            pid = np.array(ids, np.int64)
        text = "\n".join(strings)
        length = np.array([len(string) + 1 for string in strings], np.int64)
        article_start = np.cumsum(length) - length
        body_start = article_start + np.array(body_at, np.int64)
        starts, ends = sentence_bounds(text)
        owner = np.searchsorted(article_start, starts, side="right") - 1
        body = starts >= body_start[owner]
        token_start = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        return cls(size=size, text=text, pid=pid,
                   token_start=token_start, article_start=article_start,
                   body_start=body_start, s_start=starts[body], s_end=ends[body],
                   s_article=owner[body],
                   sentence_start=np.searchsorted(owner[body], np.arange(size + 1)))

    def summaries(self, scores: np.ndarray, picked: np.ndarray, found: np.ndarray,
                  found_score: np.ndarray, slots: int, keywords: int, lexicon: Lexicon,
                  protected: frozenset[str]) -> list[Summary]:
        spelling = lexicon.spelling
        text = self.text
        starts, ends, score = self.s_start.tolist(), self.s_end.tolist(), scores.tolist()
        first = self.sentence_start.tolist()
        chosen = np.flatnonzero(picked).tolist()
        cut = np.searchsorted(picked.nonzero()[0], self.sentence_start).tolist()
        tokens = self.pid[np.maximum(found, 0)]
        # the general corpus's share of documents with the word (unknown words: jieba's median)
        priors = np.exp(-lexicon.word_idf[lexicon.word[tokens]]).tolist()
        found_words = tokens.tolist()
        found_score = found_score.tolist()
        found_count = (found.reshape(self.size, slots) >= 0).sum(axis=1).tolist()
        article_end = self.article_start[1:].tolist() + [len(text) + 1]
        named = np.searchsorted(self.name_starts if self.name_starts is not None
                                else np.zeros(0, np.int64), self.article_start).tolist()
        named.append(len(self.name_starts) if self.name_starts is not None else 0)
        out = []
        for a in range(self.size):
            sentences = []
            shown_to = -1  # a sentence extended to its closing quote covers the next ones
            for i in chosen[cut[a]:cut[a + 1]]:
                if starts[i] < shown_to:
                    continue
                shown, shown_to = rank_sentences.balanced(text, starts[i], ends[i])
                sentences.append(KeySentence(i - first[a], shown, score[i]))
            lo = a * slots
            hi = lo + found_count[a]
            candidates = list(zip([spelling[t] for t in found_words[lo:hi]], found_score[lo:hi],
                                  priors[lo:hi]))
            if candidates and named[a + 1] > named[a]:
                at = int(self.article_start[a])
                candidates = self._whole_names(
                    a, text[at:article_end[a] - 1], candidates, found_words[lo:hi], lexicon,
                    protected, self.name_starts[named[a]:named[a + 1]] - at)
            out.append(Summary(sentences=tuple(sentences),
                               keywords=tuple([c[0] for c in candidates[:keywords]]),
                               candidates=tuple(candidates)))
        return out

    def _whole_names(self, a: int, text: str, candidates: list[KeywordCandidate],
                     candidate_tokens: list[int], lexicon: Lexicon, protected: frozenset[str],
                     starts: np.ndarray) -> list[KeywordCandidate]:
        """Keyword candidates with person names the tokenizer cut joined back. ``starts``:
        where a title is followed by a surname in ``text``."""
        t0, t1 = int(self.token_start[a]), int(self.token_start[a + 1])
        pid = self.pid[t0:t1]
        if self.token_end is None:
            self.token_end = np.cumsum(lexicon.length[self.pid])
        ends = self.token_end[t0:t1] - (self.token_end[t0 - 1] if t0 else 0)
        # The tokens on the three characters after each title, but a word of two or three
        # characters starting there that is not followed by a possible third character of
        # the name (梅永杰, 王睿在; not 王彤宇来, 刘国中): unless one is a candidate, there is no
        # piece of a name to join (most articles stop here).
        near = set()
        for t, at in zip(np.searchsorted(ends, starts, side="right").tolist(), starts.tolist()):
            window = ends[max(t - 1, 0):t + 3].tolist()  # token ends around the name
            if t == 0:
                window.insert(0, 0)
            for k in range(1, len(window)):
                if window[k - 1] >= at + 3:
                    break
                whole = window[k - 1] == at and window[k] - at in (2, 3) and not (
                    window[k] == at + 2 and at + 2 < len(text)
                    and "\u4e00" <= text[at + 2] <= "\u9fff"
                    and text[at + 2] not in rank_names.FOLLOWERS)
                if not whole:
                    near.add(int(pid[t + k - 1]))
        if near.isdisjoint(candidate_tokens):
            return candidates
        found = ends.tolist()

        def boundary(offset: int) -> bool:  # did a token end at this offset?
            at = bisect.bisect_left(found, offset)
            return at < len(found) and found[at] == offset

        names = rank_names.find_names(text, boundary, lexicon.idf_of, starts.tolist())
        if not names:
            return candidates
        # the tokens lying on a name: the only words that can be pieces of it
        pieces: set[str] = set()
        for name in names:
            at = text.find(name)
            while at >= 0:
                t = bisect.bisect_right(found, at)
                while t < len(found) and (t == 0 or found[t - 1] < at + len(name)):
                    pieces.add(lexicon.spelling[pid[t]])
                    t += 1
                at = text.find(name, at + 1)
        return rank_names.join_names(text, candidates, names, protected, pieces)


# ---------------------------------------------------------------------------------------------
# Compiling

_log = logging.getLogger(__name__)
WARM_UP_TEXT = ("聊城市科技活动周今天启动。1. 全区将开展科普展览活动，GDP增长3.5%！”\n"
                "会议要求：要落实，要加强。副区长参加。")


def loops_compiled() -> bool:
    """Whether numba's cache holds the default mode's compiled loops for this source; if
    not, the first batch compiles them (10-30 s). Reads numba's cache index (numba's own
    code: any surprise there counts as compiled, the message is only a courtesy)."""
    try:
        return bool(rank_batch._cache._cache_file._load_index())
    except Exception:  # noqa: BLE001
        return True


def compile_loops() -> float:
    """Compiles (or loads from the cache) every compiled loop the default mode uses; the
    seconds it took. `make` runs it right after installing, so that no command stalls on
    its first run."""
    from .config import TextConfig

    start = time.perf_counter()
    tokenizer = make_tokenizer(TextConfig(tokenizer="rjieba"), Path("."))  # rjieba: no cache
    engine = DefaultEngine(tokenizer, load_stopwords(), 6)
    engine.analyse_batch([(WARM_UP_TEXT, "科技活动周")], lambda n: min(n, 3), 8, None)
    table = WordTable()  # the per-word path (jieba backend, tests), called from Python
    for i in range(3000):
        table.add(f"词{i}")
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------------
# The stage's interface


class Ranker:
    """Key sentences and keywords of articles, by ``config.rank.mode``."""

    batch_size = 256  # articles ranked together: the tokenizer and the ranker take turns less

    def __init__(self, config: Config) -> None:
        self.rank = config.rank
        text = config.text
        engine: type[DefaultEngine] | type[Textrank4zhEngine] = DefaultEngine
        if config.rank.mode == "textrank4zh":
            # Exact reproduction needs textrank4zh's own tagger, jieba.posseg: rjieba tags
            # new words differently (1% of tokens on the seeds, 3 of 48 top-3s change).
            engine, text = Textrank4zhEngine, dataclasses.replace(text, tokenizer="jieba")
        cache = Path(config.paths.state) / "cache"
        tokenizer = make_tokenizer(text, cache_dir=cache)
        stopwords = load_stopwords(text.stopwords)
        if engine is DefaultEngine:
            self.engine = DefaultEngine(tokenizer, stopwords, text.min_sentence_chars, cache)
        else:
            self.engine = Textrank4zhEngine(tokenizer, stopwords, text.min_sentence_chars)
        if text.user_dict and isinstance(self.engine, DefaultEngine):
            self.engine.protected = frozenset(w for w, _, _ in read_user_dict(text.user_dict))
        if engine is DefaultEngine and not loops_compiled():
            _log.warning("compiling the ranker's loops: the first run after installing takes "
                         "15-40 s (then cached in %s)", Path(__file__).parent / "__pycache__")

    def summarize(self, text: str, title: str | None = None, top: int | None = None
                  ) -> Summary:
        """Key sentences of ``text`` (document order, with scores) and its keywords.

        ``title`` is the headline deck (used by the default mode only). ``top`` overrides
        the configured count; ``rank.char_budget`` still applies. A sentence's ``index`` is
        its position in ``split_sentences(text)`` (default mode) or in textrank4zh's
        sentence list (textrank4zh mode)."""
        return self._rank([(text, title)], top)[0]

    def summarize_article(self, article: Article, top: int | None = None) -> Summary:
        """``summarize`` of the article's paragraphs, with kicker/title/subtitle as deck."""
        return self.summarize(article.body, deck_of(article), top=top)

    def summarize_articles(self, articles: Sequence[Article], top: int | None = None
                           ) -> list[Summary]:
        """``summarize_article`` for a whole issue, ranked in batches (the fast path)."""
        return self.summarize_batch([(a.body, deck_of(a)) for a in articles], top)

    def summarize_many(self, items: Iterable[tuple[str, str | None]], top: int | None = None
                       ) -> Iterator[Summary]:
        """``summarize`` for a stream of (text, title) pairs, in order; ranks up to
        ``batch_size`` articles at a time, so memory stays flat however long the stream."""
        batch: list[tuple[str, str | None]] = []
        for item in items:
            batch.append(item)
            if len(batch) == self.batch_size:
                yield from self._rank(batch, top)
                batch = []
        if batch:
            yield from self._rank(batch, top)

    def summarize_batch(self, items: Sequence[tuple[str, str | None]],
                        top: int | None = None) -> list[Summary]:
        """``summarize`` of each (text, title) pair, ``batch_size`` at a time."""
        return list(self.summarize_many(items, top))

    def _rank(self, items: Sequence[tuple[str, str | None]], top: int | None
              ) -> list[Summary]:
        def count(candidates: int) -> int:
            return pick_count(candidates, self.rank, top)

        return self.engine.analyse_batch(items, count, self.rank.keywords,
                                         self.rank.char_budget)


def deck_of(article: Article) -> str | None:
    """The headline deck: kicker, title and subtitle, as one line."""
    return " ".join(p for p in (article.kicker, article.title, article.subtitle) if p) or None


# ---------------------------------------------------------------------------------------------
# JSON Lines batch mode (`digest summarize --jsonl`)


@dataclasses.dataclass(frozen=True)
class JsonlRequest:
    line: int
    id: str
    text: str
    title: str | None


@dataclasses.dataclass(frozen=True)
class JsonlError:
    line: int
    id: str | None
    message: str


def parse_jsonl_line(raw: bytes, line: int) -> JsonlRequest | JsonlError | None:
    """One input line: ``{"id": str, "text": str, "title": str | null}``; None if blank."""
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return JsonlError(line, None, "not UTF-8")
    if not decoded.strip():
        return None
    try:
        value = json.loads(decoded)
    except json.JSONDecodeError as exc:
        return JsonlError(line, None, f"not JSON ({exc.msg})")
    if not isinstance(value, dict):
        return JsonlError(line, None, "expected a JSON object")
    key = value.get("id")
    if not isinstance(key, str):
        return JsonlError(line, None, '"id" must be a string')
    text, title = value.get("text"), value.get("title")
    if not isinstance(text, str):
        return JsonlError(line, key, '"text" must be a string')
    if title is not None and not isinstance(title, str):
        return JsonlError(line, key, '"title" must be a string or null')
    return JsonlRequest(line, key, text, title)


def summary_record(key: str, summary: Summary) -> dict:
    return {"id": key,
            "sentences": [{"index": s.index, "text": s.text, "score": s.score}
                          for s in summary.sentences],
            "keywords": list(summary.keywords)}


def error_record(error: JsonlError) -> dict:
    return {"id": error.id, "line": error.line, "error": error.message}


def _available_lines(source: BinaryIO, most: int) -> Iterator[list[tuple[int, bytes]]]:
    """Lines of ``source`` in groups: a group takes what has already arrived (up to
    ``most``), so a batch never waits for input that is not there yet. A reader thread
    fills a bounded queue: memory stays flat, and an interactive caller that sends one line
    and waits for its answer gets it."""
    lines: queue.Queue = queue.Queue(maxsize=2 * most)
    done = object()

    def read() -> None:
        try:
            for number, raw in enumerate(source, 1):
                lines.put((number, raw))
        finally:
            lines.put(done)

    threading.Thread(target=read, name="jsonl-reader", daemon=True).start()
    finished = False
    while not finished:
        item = lines.get()
        if item is done:
            return
        group = [item]
        while len(group) < most:
            try:
                item = lines.get_nowait()
            except queue.Empty:
                break
            if item is done:
                finished = True
                break
            group.append(item)
        yield group


def summarize_jsonl(source: BinaryIO, ranker: "Ranker", top: int | None = None
                    ) -> Iterator[tuple[dict, str | None]]:
    """Answer JSON Lines requests in order: for each input line, the output record and, for a
    malformed line, a message for stderr. Blank lines are skipped."""
    for group in _available_lines(source, ranker.batch_size):
        parsed = [parse_jsonl_line(raw, number) for number, raw in group]
        requests = [p for p in parsed if isinstance(p, JsonlRequest)]
        answers = iter(_rank_requests(ranker, requests, top))
        for item in parsed:
            if item is None:
                continue
            if isinstance(item, JsonlError):
                where = f"id {item.id!r}" if item.id is not None else f"line {item.line}"
                yield error_record(item), f"{where}: {item.message}"
                continue
            summary = next(answers)
            if isinstance(summary, JsonlError):
                yield error_record(summary), f"id {item.id!r}: {summary.message}"
            else:
                yield summary_record(item.id, summary), None


def _rank_requests(ranker: "Ranker", requests: Sequence[JsonlRequest], top: int | None
                   ) -> list[Summary | JsonlError]:
    items = [(r.text, r.title) for r in requests]
    try:
        return ranker.summarize_batch(items, top)
    except Exception:  # one bad article must not sink its batch: find it, rank the rest
        out: list[Summary | JsonlError] = []
        for request, item in zip(requests, items):
            try:
                out.append(ranker.summarize_batch([item], top)[0])
            except Exception as exc:  # noqa: BLE001 - reported per line, the stream goes on
                out.append(JsonlError(request.line, request.id, f"cannot rank: {exc!r}"))
        return out


# ---------------------------------------------------------------------------------------------
# Printing an issue's summaries (`digest summarize FILE...`)


def issue_summaries_json(source: str, issue: ParsedIssue, summaries: Sequence[Summary]) -> dict:
    return {"file": source,
            "articles": [{"index": article.index, "title": article.title,
                          **{k: v for k, v in summary_record("", summary).items() if k != "id"}}
                         for article, summary in zip(issue.articles, summaries)]}


def issue_summaries_text(source: str, issue: ParsedIssue, summaries: Sequence[Summary]) -> str:
    lines = [f"== {source}: {len(issue.articles)} articles"]
    for article, summary in zip(issue.articles, summaries):
        heading = deck_of(article) or f"(untitled {article.kind})"
        lines.append(f"[{article.index + 1}] {heading}")
        lines.extend(f"    {s.index:>3}  {s.text}" for s in summary.sentences)
        lines.append(f"    keywords: {' '.join(summary.keywords)}")
    return "\n".join(lines)
