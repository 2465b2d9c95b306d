"""What the ranker knows of words: the word table (word -> id in compiled code), jieba's IDF
table (cached in the state folder) and the lexicon of tokens seen (ids with their word id,
length and flag bits, for the compiled ranker)."""

from __future__ import annotations

import atexit
import functools
import hashlib
import importlib.util
import itertools
import re
import statistics
import time
import weakref
from itertools import repeat
from pathlib import Path
from typing import Callable, Sequence, TypeVar

import numpy as np

from .kernels import (ATTENDANCE, CONTENT, DIRECTIVE, EVENT, SLOT_FIELDS, VERTEX, WORDY, fnv1a,
                      table_add_missing, table_find_words, table_insert, table_lookup_batch,
                      table_rehash)

T = TypeVar("T")


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
# The bits a tagger's flag, and a word, give (Lexicon._extend; the bits are kernels.WORDY...).
_FLAG_BITS = {flag: CONTENT * (flag in SENTENCE_FLAGS) | VERTEX * (flag in KEYWORD_FLAGS)
              for flag in SENTENCE_FLAGS | KEYWORD_FLAGS}
_WORD_BITS: dict[str, int] = {}
for _words, _bit in ((DIRECTIVE_WORDS, DIRECTIVE), (ATTENDANCE_WORDS, ATTENDANCE),
                     (EVENT_WORDS, EVENT)):
    for _word in _words:
        _WORD_BITS[_word] = _WORD_BITS.get(_word, 0) | _bit


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


def empty_slots(size: int) -> np.ndarray:
    return np.zeros((size, SLOT_FIELDS), np.int64)


class WordTable:
    """Word -> id (ids 0, 1, 2... in order of addition), looked up in compiled code: all the
    words of a batch in one call. A Python dict costs as much again as cutting
    the text, because every string fresh from the tokenizer has to be hashed; here a word is
    FNV-1a hashed over its code points, found by open addressing and compared in full, so
    there are no false matches. A hand-written table because no library offers a string map
    callable from numba without converting each string."""

    def __init__(self) -> None:
        self.slots = empty_slots(1 << 12)
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
        self.hashes[i] = fnv1a(codes, 0, len(codes))
        self.used += len(codes)
        self.count += 1
        if 2 * self.count > len(self.slots):  # keep probes short: at most half full
            self.slots = empty_slots(2 * len(self.slots))
            table_rehash(self.slots, self.hashes.view(np.int64), self.starts, self.lengths,
                         self.count)
        else:
            table_insert(self.slots, self.hashes.view(np.int64), self.starts, self.lengths, i)
        return i

    def lookup(self, articles: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Ids of the words of each article, given as its words joined by NUL (-1: unknown;
        all -2 if a word holds NUL or U+0001 or is empty), and each article's number of
        words."""
        codes = np.frombuffer("\1".join(articles).encode("utf-32-le"), np.uint32)
        return table_lookup_batch(codes, len(articles), self.slots, self.pool)

    def lookup_adding(self, articles: Sequence[str]) -> tuple[np.ndarray, np.ndarray, int]:
        """``lookup``, adding the words it does not know, in order of first occurrence
        (ids from the returned count on): one compiled pass, so that text full of new words
        costs little more than known text. Raises ValueError where ``lookup`` gives -2."""
        codes = np.frombuffer("\1".join(articles).encode("utf-32-le"), np.uint32)
        ids, counts = table_lookup_batch(codes, len(articles), self.slots, self.pool)
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
                self.slots = empty_slots(size)
                table_rehash(self.slots, self.hashes.view(np.int64), self.starts,
                             self.lengths, self.count)
            self.count, self.used = table_add_missing(
                codes, ids, self.slots, self.hashes.view(np.int64), self.pool, self.starts,
                self.lengths, self.count, self.used)
        return ids, counts, first

    def ids_in(self, other: "WordTable", first: int) -> np.ndarray:
        """The ids in ``other`` of this table's words ``first`` to the last (-1 where
        ``other`` does not have one): compiled, from the code points, no strings made."""
        return table_find_words(self.hashes.view(np.int64), self.starts, self.lengths,
                                self.pool, first, self.count, other.slots, other.pool)

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


# A word table kept in the state folder's cache: its arrays without the slots, which are
# rebuilt on loading (8 MB less to read for 300,000 words).
TABLE_ARRAYS = ("hashes", "starts", "lengths", "pool")


def table_arrays(table: WordTable) -> dict[str, np.ndarray]:
    return {"hashes": table.hashes[:table.count], "starts": table.starts[:table.count],
            "lengths": table.lengths[:table.count], "pool": table.pool[:table.used]}


def table_from_arrays(data, count: int) -> WordTable:
    """The table ``table_arrays`` saved, of ``count`` words; ValueError if the arrays do not
    fit together."""
    table = WordTable()
    for name in TABLE_ARRAYS:
        setattr(table, name, data[name])
    table.count = count
    table.used = len(table.pool)
    if not (len(table.hashes) == len(table.starts) == len(table.lengths) == count
            and (table.starts + table.lengths <= table.used).all()):
        raise ValueError("inconsistent arrays")
    size = 1 << max(12, (2 * count - 1).bit_length())
    table.slots = empty_slots(size)
    table_rehash(table.slots, table.hashes.view(np.int64), table.starts, table.lengths, count)
    return table


def save_arrays(path: Path, **arrays) -> None:
    """``np.savez`` written atomically (a temporary file, then rename); nothing on a
    read-only state folder (what it holds is rebuilt at every start)."""
    import os
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass


def read_arrays(path: Path | None, stamp: np.ndarray, make: Callable[[dict], T]) -> T | None:
    """``make`` of the arrays ``save_arrays`` wrote at ``path`` when they carry ``stamp``;
    None when the file is missing, unreadable, stale or corrupt (``make`` raising included):
    the caller rebuilds it."""
    if path is None:
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if np.array_equal(data["stamp"], stamp):
                return make({name: data[name] for name in data.files})
    except Exception:  # noqa: BLE001 - missing, unreadable, corrupt: rebuilt by the caller
        pass
    return None


# The dictionary's tables (IDF, flags, learnt-word values) as `make` builds them after
# installing: they depend only on the installed dictionaries, so a new state folder reads them
# from here instead of building them (1.5-3 s of a first run); a state's own copy, built when
# its user dictionary or a new jieba changes a stamp, is read first.
SHIPPED_TABLES = Path(__file__).resolve().parent / "__pycache__" / "tables"
SHIPPED_NAMES = ("idf-v1.npz", "flags-v1.npz", "words-v1.npz")


def read_table(path: Path | None, stamp: np.ndarray, make: Callable[[dict], T]) -> T | None:
    """``read_arrays`` of the state's cached table, else of the one built at install time
    (the same stamp: anything else in it would be stale)."""
    found = read_arrays(path, stamp, make)
    if found is None and path is not None:
        found = read_arrays(SHIPPED_TABLES / path.name, stamp, make)
    return found


class IdfTable:
    """jieba's IDF table (``jieba_idf``) as a compiled word table: a batch of words looked up
    in one call. Built from idf.txt once and kept in ``<state>/cache/`` as numpy arrays,
    which load in a few milliseconds where parsing the 270,000 lines into a dict took 0.2 s
    of every start. The cache file names its format and the source file's size and
    modification time; it is written atomically (temporary file, then rename), and one
    that is stale, unreadable or corrupt is rebuilt."""

    VERSION = 1

    def __init__(self, table: WordTable, values: np.ndarray, median: float) -> None:
        self.table, self.values, self.median = table, values, median

    @classmethod
    def load(cls, cache_dir: Path | None) -> "IdfTable":
        source = jieba_idf_path()
        stat = source.stat()
        stamp = np.array([cls.VERSION, stat.st_size, stat.st_mtime_ns], np.int64)
        cache = cache_dir / f"idf-v{cls.VERSION}.npz" if cache_dir is not None else None
        cached = read_table(cache, stamp, lambda data: cls(
            table_from_arrays(data, len(data["values"])), data["values"], float(data["median"])))
        if cached is not None:
            return cached
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
        save_arrays(path, stamp=stamp, values=self.values, median=self.median,
                    **table_arrays(self.table))

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


class DictionaryFlags:
    """The tagger's flag of every word of jieba's dictionary (``jieba/dict.txt``, 349,000
    words; rjieba ships the same), as a compiled word table: a new word found there needs no
    tagging. Built once, by tagging the dictionary a word a line (about 1 s), and kept in
    ``<state>/cache/`` as IdfTable is. A flag comes from the tagger itself, so the table
    holds what tagging the word gives (``flags_follow_words``); a word it does not have is
    tagged as before. The cache file names the dictionary (size, modification time), the
    tagger's version and the user dictionary's content: a change of any rebuilds it."""

    VERSION = 1

    def __init__(self, table: WordTable, codes: np.ndarray, names: Sequence[str],
                 stamp: str | None = None) -> None:
        self.table, self.codes, self.names = table, codes, list(names)
        self.stamp = stamp  # what the table was built from (None: not known, not cached)

    @classmethod
    def stamp_of(cls, tagger: str) -> str:
        """What the table is built from: its format, the dictionary (size, modification
        time) and ``tagger``."""
        stat = jieba_dict_path().stat()
        return f"{cls.VERSION} {stat.st_size} {stat.st_mtime_ns} {tagger}"

    @classmethod
    def deferred(cls, cache_dir: Path, tag: Callable[[str], list[tuple[str, str]]],
                 tagger: str) -> "DictionaryFlags":
        """``load``, done at the first use of the table: its stamp is known at once (the kept
        lexicon is named by it), its 12 MB are read only when a batch brings new words (a
        warm ``digest summarize`` of known text never does)."""
        return _DeferredFlags(cache_dir, tag, tagger)

    @classmethod
    def load(cls, cache_dir: Path, tag: Callable[[str], list[tuple[str, str]]],
             tagger: str) -> "DictionaryFlags":
        """``tagger`` names the tagger and its dictionary (version, user dictionary)."""
        source = jieba_dict_path()
        stamp = np.array([cls.stamp_of(tagger)])
        cache = cache_dir / f"flags-v{cls.VERSION}.npz"
        cached = read_table(cache, stamp, lambda data: cls(
            table_from_arrays(data, len(data["codes"])), data["codes"],
            str(data["names"][0]).split(" "), str(stamp[0])))
        if cached is not None:
            return cached
        built = cls.build(source, tag)
        built.stamp = str(stamp[0])
        save_arrays(cache, stamp=stamp, codes=built.codes, names=np.array([" ".join(built.names)]),
                    **table_arrays(built.table))
        return built

    @classmethod
    def build(cls, source: Path, tag: Callable[[str], list[tuple[str, str]]]
              ) -> "DictionaryFlags":
        with source.open(encoding="utf-8") as fh:
            words = [line.split(" ", 1)[0].strip() for line in fh]
        # Every token that tagging gives carries its word's flag, whole lines or pieces.
        flags = dict(tag("\n".join(w for w in words if w)))
        flags = {w: f for w, f in flags.items()
                 if w.strip() and "\0" not in w and "\1" not in w and " " not in f and f}
        names = sorted(set(flags.values()))
        code_of = {name: i for i, name in enumerate(names)}
        table = WordTable()
        ids, _, _ = table.lookup_adding(["\0".join(flags)])
        codes = np.zeros(table.count, np.uint8 if len(names) < 256 else np.uint16)
        codes[ids] = [code_of[f] for f in flags.values()]
        return cls(table, codes, names)

    def flags(self, words: Sequence[str]) -> list[str | None]:
        """The flag of each word (none of them empty or holding NUL or U+0001), None where
        the dictionary does not have it."""
        if not self.table.count:
            return [None] * len(words)
        ids, _ = self.table.lookup(["\0".join(words)])
        names = self.names
        return [names[c] if i >= 0 else None
                for i, c in zip(ids.tolist(), self.codes[np.maximum(ids, 0)].tolist())]


class _DeferredFlags(DictionaryFlags):
    """A DictionaryFlags whose arrays are read (or built) when first asked for."""

    def __init__(self, cache_dir: Path, tag: Callable[[str], list[tuple[str, str]]],
                 tagger: str) -> None:
        self.stamp = self.stamp_of(tagger)
        self._source = (cache_dir, tag, tagger)

    def __getattr__(self, name: str):  # only for what is not set yet: table, codes, names
        if name not in ("table", "codes", "names"):
            raise AttributeError(name)
        loaded = DictionaryFlags.load(*self._source)
        self.table, self.codes, self.names = loaded.table, loaded.codes, loaded.names
        return getattr(self, name)


class DictionaryWords:
    """What learning a word gives the lexicon (``Lexicon._learn``: its flag bits, its word
    id, that word's IDF), worked out in advance for every word of the flags table, so that
    the dictionary words of a new text are learnt by one compiled lookup and a few array
    operations instead of Python statements a word (on the dev papers, 50,000 of a cold
    pass's 70,000 new words). Words are numbered by the form the ranker compares
    (``normal``: stripped, lower case; the lexicon's word ids of these forms), with the IDF
    of each form. The stopwords come from the configuration: they are applied on loading.
    Cached next to the flags table, under its stamp and the IDF file's."""

    VERSION = 1

    def __init__(self, table: WordTable, group: np.ndarray, bits: np.ndarray,
                 normal: WordTable, group_idf: np.ndarray, stamp: str | None = None) -> None:
        self.table = table  # the flags table's words
        self.group, self.bits, self.normal, self.group_idf = group, bits, normal, group_idf
        self.stamp = stamp  # what it was made from, stopwords included (None: not known)

    @classmethod
    def load(cls, cache_dir: Path | None, dictionary: DictionaryFlags, idf: IdfTable,
             stopwords: frozenset[str]) -> "DictionaryWords":
        cache = stamp = None
        if cache_dir is not None and dictionary.stamp is not None:
            stamp = np.array([cls._file_stamp(dictionary)])
            cache = cache_dir / f"words-v{cls.VERSION}.npz"
        known = read_table(cache, stamp, lambda data: cls(
            dictionary.table, data["group"], data["bits"],
            table_from_arrays(data, len(data["group_idf"])), data["group_idf"]))
        if known is None:
            known = cls.build(dictionary, idf)
            if cache is not None:
                save_arrays(cache, stamp=stamp, group=known.group, bits=known.bits,
                            group_idf=known.group_idf, **table_arrays(known.normal))
        known = known.without(stopwords)
        known.stamp = cls.stamp_of(cache_dir, dictionary, stopwords)
        return known

    @classmethod
    def _file_stamp(cls, dictionary: DictionaryFlags) -> str:
        source = jieba_idf_path().stat()
        return f"{cls.VERSION} {source.st_size} {source.st_mtime_ns} {dictionary.stamp}"

    @classmethod
    def stamp_of(cls, cache_dir: Path | None, dictionary: DictionaryFlags,
                 stopwords: frozenset[str]) -> str | None:
        """The stamp ``load`` gives the table (its file's, and the stopwords), without
        loading it; None when it is not cached."""
        if cache_dir is None or dictionary.stamp is None:
            return None
        listed = "\n".join(sorted(stopwords)).encode("utf-8", "surrogatepass")
        return f"{cls._file_stamp(dictionary)} {hashlib.sha256(listed).hexdigest()}"

    @classmethod
    def build(cls, dictionary: DictionaryFlags, idf: IdfTable) -> "DictionaryWords":
        words = dictionary.table.words(0)
        names = dictionary.names
        flags = [names[c] for c in dictionary.codes[:len(words)].tolist()]
        texts = [word.strip().lower() for word in words]  # as Lexicon._learn
        normal = WordTable()
        group, _, _ = normal.lookup_adding(["\0".join(texts)])
        bits = word_bits(texts, flags, frozenset())
        return cls(dictionary.table, group, bits, normal, idf.lookup(normal.words(0)))

    def without(self, stopwords: frozenset[str]) -> "DictionaryWords":
        """The same with ``stopwords`` no content words (the bits ``word_bits`` gives)."""
        probe = [w for w in stopwords if w and "\0" not in w and "\1" not in w]
        if not probe:
            return self
        ids, _ = self.normal.lookup(["\0".join(probe)])
        stop = np.zeros(self.normal.count, bool)
        stop[ids[ids >= 0]] = True
        bits = np.where(stop[self.group], self.bits & np.uint8(0xFF ^ (CONTENT | VERTEX)),
                        self.bits).astype(np.uint8)
        return DictionaryWords(self.table, self.group, bits, self.normal, self.group_idf)


def word_bits(texts: Sequence[str], flags: Sequence[str], stopwords: frozenset[str]
              ) -> np.ndarray:
    """The flag bits (kernels.WORDY...) of words in the form the ranker compares (stripped,
    lower case) with their tagger's flags. Column by column (comprehensions and numpy, not
    one Python statement per word and attribute): on text full of new words this is most
    of what learning a word costs."""
    wordy = np.array([_WORDY.search(text) is not None for text in texts], bool)
    content = wordy & np.array([text not in stopwords for text in texts], bool)
    by_flag = np.array([_FLAG_BITS.get(flag, 0) for flag in flags], np.uint8)
    vertex = content & (by_flag & VERTEX != 0) & np.array(
        [len(text) >= 2 and not text.isdigit() for text in texts], bool)
    return (WORDY * wordy | CONTENT * (content & (by_flag & CONTENT != 0)) | VERTEX * vertex
            | np.array([_WORD_BITS.get(text, 0) for text in texts], np.uint8)).astype(np.uint8)


def jieba_dict_path() -> Path:
    spec = importlib.util.find_spec("jieba")  # found, not imported
    return Path(spec.submodule_search_locations[0]) / "dict.txt"


class Lexicon(dict):
    """Token key -> id, shared by the articles a Ranker sees, with per-id attributes in numpy
    arrays (``word`` id, ``length``, ``flags`` bits) for the compiled ranker.

    The key is the word itself when the tagger's flag is a function of the word (rjieba:
    dictionary lookup); then ``table`` holds the same ids for compiled lookups of a whole
    batch (``batch_ids``). Else the key is word and flag (jieba.posseg tags unknown words in
    context) and tokens are looked up here, one article at a time (``token_ids``).
    ``word`` ids ignore the flag and letter case. Cleared past ``max_size`` to keep memory
    flat over an unbounded stream; results never depend on the ids' values. With the
    dictionary's flags table (rjieba), the dictionary's words are learnt from
    ``DictionaryWords`` and the lexicon is kept in the state folder between runs (``keep``)."""

    ATTRIBUTES = {"word": np.int64, "length": np.int64, "flags": np.uint8}
    VERSION = 1  # of the kept lexicon's file
    KEEP_AFTER = 256  # new tokens before the lexicon is written again (and it has doubled)
    # Seconds between two writes in the middle of a run: a pass over new text would write
    # it each time it doubled (three times on the dev papers, 0.06 s); it is written at
    # exit (or when a worker leaves) anyway, and this bounds what a crash loses.
    KEEP_EVERY = 60.0

    def __init__(self, stopwords: frozenset[str], flags_follow_words: bool,
                 max_size: int = 300_000, cache_dir: Path | None = None,
                 dictionary: DictionaryFlags | None = None) -> None:
        super().__init__()
        self._stopwords = stopwords
        self._dictionary = dictionary
        self._cache_dir = cache_dir
        # The dictionary's words, learnt in advance (``_known``, read at its first use: a
        # batch of known words needs neither it nor the IDF table, nor the flags table).
        self._has_known = dictionary is not None and flags_follow_words
        self._known_stamp = DictionaryWords.stamp_of(cache_dir, dictionary, stopwords) \
            if self._has_known else None
        self.flags_follow_words = flags_follow_words
        self._max_size = max_size
        self._kept = cache_dir / f"lexicon-v{self.VERSION}.npz" \
            if cache_dir is not None and self._known_stamp is not None else None
        self._kept_at = time.monotonic()
        self._reset()
        self._load_kept()
        if self._kept is not None:
            weak = weakref.ref(self)
            atexit.register(lambda: (lexicon := weak()) is not None and lexicon._keep_new())

    @functools.cached_property
    def _idf(self) -> IdfTable:
        return idf_table(self._cache_dir)

    @functools.cached_property
    def _known(self) -> DictionaryWords | None:
        if not self._has_known:
            return None
        return DictionaryWords.load(self._cache_dir, self._dictionary, self._idf,
                                    self._stopwords)

    def preload(self) -> None:
        """Read now the tables read at first use (the dictionary's words, IDF and flags):
        a process about to fork workers reads them once for all of them to share, where
        each would otherwise read its own (~0.1 s a worker, at its first file)."""
        known = self._known
        if known is not None and self._dictionary is not None:
            self._dictionary.table  # noqa: B018 - a _DeferredFlags reads its arrays here
        self._idf  # noqa: B018

    def _reset(self) -> None:
        self.clear()
        self.table = WordTable()
        self.spelling: list[str] = []  # by id: the token as the tokenizer gave it
        # Word ids, numbered as the lexicon meets them (compact: the compiled ranker's
        # arrays by word id stay small): of the dictionary's forms (DictionaryWords.normal)
        # through ``_word_of_form``, of the others through ``words``.
        self._word_of_form = np.full(0, -1, np.int64)  # grown as forms are met
        self.words: dict[str, int] = {}
        self.word_count = 0
        self.word_idf = np.zeros(4096)  # by word id
        for name, dtype in self.ATTRIBUTES.items():
            setattr(self, name, np.zeros(4096, dtype))
        self._kept_size = 0  # tokens the kept file has

    def idf_of(self, word: str) -> float | None:
        """The word's IDF in jieba's general corpus, None if it is not there."""
        return self._idf.get(word)

    def ensure_room(self) -> None:
        if len(self) + self.word_count > self._max_size:
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
        if not words:
            return ids, counts
        last = first + len(words)
        self._grow(last)
        todo = np.arange(first, last)
        known = self._known
        if known is not None:  # the dictionary's words: learnt in advance
            where = self.table.ids_in(known.table, first)
            hit = where >= 0
            at, where = todo[hit], where[hit]
            self.word[at] = self._word_ids(known.group[where])
            self.flags[at] = known.bits[where]
            todo = todo[~hit]
        self.length[first:last] = self.table.lengths[first:last]
        if len(todo):
            new = [words[i] for i in (todo - first).tolist()] if len(todo) < len(words) \
                else words
            flags = self._flags_of(new, todo, ids, counts, self.table.lengths, texts, tag,
                                   self._dictionary if known is None else None)
            self._learn(todo, new, flags)
        self.update(zip(words, range(first, last)))
        self.spelling.extend(words)
        if len(self) >= max(2 * self._kept_size, self._kept_size + self.KEEP_AFTER) \
                and time.monotonic() - self._kept_at >= self.KEEP_EVERY:
            self.keep()
        return ids, counts

    # -- kept in the state folder between runs -------------------------------------------
    # What the lexicon learnt (the tokens and their attributes, the forms learnt beside the
    # dictionary's) is written to <state>/cache/ whenever it has doubled, so that the next
    # run starts with it: a user's second run meets its words as known. Results never
    # depend on it (ids are arbitrary); the file names the dictionary, tagger, IDF and
    # stopwords it was learnt with (another of any starts empty), is written atomically
    # (several workers may write it: the last one wins) and is skipped on a read-only
    # state folder.

    def keep(self) -> None:
        """Writes the lexicon to the state folder's cache (nothing without one), as few
        and small arrays as it can (each costs a write): the words' code points, their
        hashes, the flag bits, the IDFs and one array of the other integers, with the
        numbers of each part first. A token's length is its word's in the table."""
        if self._kept is None:
            return
        count, forms = len(self), np.flatnonzero(self._word_of_form >= 0)
        t = self.table
        learnt = np.frombuffer("\1".join(self.words).encode("utf-32-le"), np.uint32)
        sizes = [count, self.word_count, len(forms), len(self.words), t.used, len(learnt)]
        ints = np.concatenate([np.array(sizes, np.int64), t.lengths[:count],
                               self.word[:count], forms, self._word_of_form[forms],
                               np.fromiter(self.words.values(), np.int64, len(self.words))])
        save_arrays(self._kept, stamp=np.array([self._known_stamp]),
                    ints=ints.astype(np.int32), hashes=t.hashes[:count],
                    flags=self.flags[:count], word_idf=self.word_idf[:self.word_count],
                    codes=np.concatenate([t.pool[:t.used], learnt]))
        self._kept_size = count
        self._kept_at = time.monotonic()

    def _load_kept(self) -> None:
        if self._kept is None:
            return
        read_arrays(self._kept, np.array([self._known_stamp]), self._take_kept)

    def _keep_new(self) -> None:
        """At exit, or when the lexicon is dropped before it: what was learnt since the file
        was last written (when it did not double), so that the next run starts with it."""
        try:
            # the state folder, not its cache/: a new state reads the install-time tables
            # and has no cache/ until something is written there
            if len(self) > self._kept_size and self._kept.parent.parent.is_dir():
                self.keep()
        except Exception:  # noqa: BLE001 - at exit, a file not written is only a cold start
            pass

    def __del__(self) -> None:
        # A command's ranker is usually gone before the atexit hook runs (`digest summarize`
        # drops it when it returns), and what it learnt would be lost with it.
        if getattr(self, "_kept", None) is not None:
            self._keep_new()

    def _take_kept(self, data: dict) -> bool:
        """Takes the arrays ``keep`` wrote, or raises (then the lexicon starts empty)."""
        ints, codes, word_idf = data["ints"].astype(np.int64), data["codes"], data["word_idf"]
        hashes, flags = data["hashes"], data["flags"]
        count, word_count, n_forms, n_learnt, used, learnt_length = ints[:6].tolist()
        parts = [count, count, n_forms, n_forms, n_learnt]
        if len(ints) != 6 + sum(parts) or len(codes) != used + learnt_length \
                or len(word_idf) != word_count or len(hashes) != count \
                or len(flags) != count:
            raise ValueError("inconsistent arrays")
        lengths, word, forms, form_words, learnt_words = \
            np.split(ints[6:], np.cumsum(parts)[:-1])
        starts = np.cumsum(lengths) - lengths  # added one after the other
        table = table_from_arrays({"hashes": hashes, "starts": starts, "lengths": lengths,
                                   "pool": codes[:used].copy()}, count)
        learnt = codes[used:].tobytes().decode("utf-32-le").split("\1") if n_learnt else []
        if not (len(learnt) == n_learnt and table.used == used
                and all((a < b).all() and (a >= 0).all()
                        for a, b in ((word, word_count), (learnt_words, word_count),
                                     (form_words, word_count), (forms, 1 << 24)))):
            raise ValueError("inconsistent arrays")
        spelling = table.words(0)
        attributes = {"word": word, "length": lengths, "flags": flags}
        self.table, self.spelling = table, spelling
        for name, dtype in self.ATTRIBUTES.items():
            setattr(self, name, grown(attributes[name].astype(dtype), count + 1))
        self.word_count = word_count
        self.word_idf = grown(word_idf.astype(float), word_count + 1)
        self._word_of_form = np.full(int(forms.max()) + 1 if len(forms) else 0, -1, np.int64)
        self._word_of_form[forms] = form_words
        self.words = dict(zip(learnt, learnt_words.tolist()))
        self.update(zip(spelling, range(count)))
        self._kept_size = count
        return True

    @staticmethod
    def _flags_of(words: Sequence[str], new_ids: np.ndarray, ids: np.ndarray,
                  counts: np.ndarray,
                  lengths: np.ndarray, texts: Sequence[str],
                  tag: Callable[[str], list[tuple[str, str]]],
                  dictionary: DictionaryFlags | None = None) -> list[str]:
        """The tagger's flags of new words (lexicon ids ``new_ids``). A flag belongs to the word
        (``flags_follow_words``), so all the new words of a batch are tagged in one call,
        a line each (tagging each word alone took 25 us a word). A word that does not come
        back whole there (a word the HMM found in context, or a dictionary word whose parts
        outscore it alone: 必成, 建在) takes its flag from tagging the clause of its first
        occurrence (between punctuation marks: the tokenizer cuts each run of letters on its
        own, so the clause gives the tokens the whole text does, for a fraction of the
        time; all the clauses in one call), else its line, else the whole text. Any tagging that returns the word whole
        gives its flag. ``lengths``: characters of each id. A word the ``dictionary`` has
        is not tagged at all: most of a new text's new words."""
        flags = dictionary.flags(words) if dictionary is not None else [None] * len(words)
        if None not in flags:
            return flags
        alone = dict(tag("\n".join([w for w, f in zip(words, flags) if f is None])))
        flags = [alone.get(word) if flag is None else flag for word, flag in zip(words, flags)]
        if None not in flags:
            return flags
        missed = [k for k, flag in enumerate(flags) if flag is None]
        wanted = np.zeros(int(ids.max()) + 1, bool)
        wanted[new_ids[missed]] = True
        where = np.flatnonzero(wanted[ids])
        _, first = np.unique(ids[where], return_index=True)
        occurs = dict(zip(ids[where[first]].tolist(), where[first].tolist()))  # id -> at
        ends = np.cumsum(counts)
        chars = np.concatenate(([0], np.cumsum(lengths[ids])))  # offsets in the batch
        places = []
        for k in missed:
            at = occurs[int(new_ids[k])]
            a = int(np.searchsorted(ends, at, side="right"))
            text = texts[a]
            offset = int(chars[at] - chars[ends[a] - counts[a]])
            begin, end = offset, offset + len(words[k])
            while begin > 0 and text[begin - 1] not in _CLAUSE_BREAKS:
                begin -= 1
            while end < len(text) and text[end] not in _CLAUSE_BREAKS:
                end += 1
            places.append((a, at, offset, begin, end))
        # The clauses tagged in one call, a line each (each is cut on its own anyway).
        clauses = dict.fromkeys((a, begin, end) for a, _, _, begin, end in places)
        in_clauses = dict(tag("\n".join(texts[a][b:e] for a, b, e in clauses)))
        in_line: dict[tuple[int, int, int], dict[str, str]] = {}
        for k, (a, at, offset, _, _) in zip(missed, places):
            flags[k] = in_clauses.get(words[k])
            if flags[k] is not None:
                continue
            text = texts[a]
            for begin, end in ((text.rfind("\n", 0, offset) + 1, _line_end(text, offset)),
                               (0, len(text))):
                if (a, begin, end) not in in_line:
                    in_line[a, begin, end] = dict(tag(text[begin:end]))
                flags[k] = in_line[a, begin, end].get(words[k])
                if flags[k] is not None:
                    break
            else:  # cannot happen: the word is one of the text's tokens
                t0 = int(ends[a] - counts[a])
                flags[k] = tag(text)[at - t0][1]
        return flags

    def _add(self, key: str, word: str, flag: str) -> int:
        self._extend([key], [word], [flag], in_table=False)
        return len(self) - 1

    def _grow(self, size: int) -> None:
        for name in self.ATTRIBUTES:
            setattr(self, name, grown(getattr(self, name), size))

    def _extend(self, keys: Sequence[str], words: Sequence[str], flags: Sequence[str],
                in_table: bool) -> None:
        """Adds new tokens (ids from ``len(self)`` on); ``in_table``: the word table has
        them already."""
        first = len(self)
        last = first + len(keys)
        self._grow(last)
        at = np.arange(first, last)
        self.length[first:last] = [len(word) for word in words]
        self._learn(at, words, flags)
        self.update(zip(keys, range(first, last)))
        self.spelling.extend(words)
        if self.flags_follow_words and not in_table:
            for key in keys:
                self.table.add(key)  # same id: both count additions from 0

    def _word_ids(self, forms: np.ndarray) -> np.ndarray:
        """The word ids of dictionary forms (ids in DictionaryWords.normal), numbering those
        met for the first time."""
        if len(forms) and forms.max() >= len(self._word_of_form):
            wider = np.full(max(self._known.normal.count, int(forms.max()) + 1), -1, np.int64)
            wider[:len(self._word_of_form)] = self._word_of_form
            self._word_of_form = wider
        ids = self._word_of_form[forms]
        new = ids < 0
        if new.any():
            fresh = np.unique(forms[new])
            first = self.word_count
            self.word_count += len(fresh)
            self._word_of_form[fresh] = np.arange(first, self.word_count)
            self.word_idf = grown(self.word_idf, self.word_count)
            self.word_idf[first:self.word_count] = self._known.group_idf[fresh]
            ids = self._word_of_form[forms]
        return ids

    def _learn(self, at: np.ndarray, words: Sequence[str], flags: Sequence[str]) -> None:
        """The word ids and flag bits of new tokens (lexicon ids ``at``, arrays grown)."""
        texts = [word.strip().lower() for word in words]  # "GDP" and "gdp" are one word
        self.flags[at] = word_bits(texts, flags, self._stopwords)
        word_ids = np.empty(len(texts), np.int64)
        rest = range(len(texts))
        if self._known is not None:  # a form the dictionary has: that form's word id
            probe = [t if t and "\0" not in t and "\1" not in t else "\2" for t in texts]
            forms = self._known.normal.lookup(["\0".join(probe)])[0]
            found = forms >= 0
            word_ids[found] = self._word_ids(forms[found])
            rest = np.flatnonzero(~found).tolist()
        vocabulary = self.words
        first = self.word_count
        for i in rest:
            word_ids[i] = vocabulary.setdefault(texts[i], self.word_count)
            if word_ids[i] == self.word_count:
                self.word_count += 1
        self.word[at] = word_ids
        if self.word_count > first:
            self.word_idf = grown(self.word_idf, self.word_count)
            self.word_idf[first:self.word_count] = self._idf.lookup(
                list(itertools.islice(vocabulary, len(vocabulary) - (self.word_count - first),
                                      None)))
