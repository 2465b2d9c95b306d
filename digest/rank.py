"""Rank stage: each article's key sentences and keywords, by TextRank.

Two modes (``[rank].mode``):

- ``"textrank4zh"`` reproduces textrank4zh 0.3 as its README uses it
  (``analyze(text, lower=True, source="all_filters")``, ``get_key_sentences(num)``,
  ``TextRank4Keyword.analyze(text, lower=True, window=2)``, ``get_keywords(num)``): its
  delimiters, POS allow-list, stopwords, similarity (common words / (log|s1| + log|s2|)) with
  self-loops, and networkx 2.x PageRank with its stopping rule.
- ``"default"``: TextRank on an IDF-weighted cosine graph, personalised towards the lede and
  the headline deck, with boilerplate demoted and near-duplicates skipped (MMR).

Both tag an article once and derive everything from that token list. The default mode
ranks a batch of articles at a time with numpy/scipy (block-diagonal graphs, one power
iteration for all), so Python's per-call costs are paid per batch, not per sentence; graphs
live only for the batch being ranked, and a result never depends on the batch.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import math
import queue
import re
import statistics
import threading
from itertools import chain, repeat
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, Sequence

import numpy as np
from scipy import sparse

from .config import Config, RankConfig
from .model import Article, KeySentence, ParsedIssue, Summary
from .text import (SentenceSpan, Tokenizer, load_stopwords, make_tokenizer, sentence_bounds,
                   split_sentences_textrank4zh)

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


@functools.lru_cache(maxsize=1)
def jieba_idf() -> tuple[dict[str, float], float]:
    """jieba's IDF table (from a large general corpus, shipped with jieba) and its median,
    which jieba itself uses for unknown words."""
    spec = importlib.util.find_spec("jieba")
    path = Path(spec.submodule_search_locations[0]) / "analyse" / "idf.txt"
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


class Lexicon(dict):
    """Token key -> id, shared by the articles a Ranker sees, with per-id attributes in numpy
    arrays: mapping a batch's tokens is one C-level ``map`` and the rest is array indexing.

    The key is the word itself when the tagger's flag is a function of the word (rjieba:
    dictionary lookup), else word and flag (jieba.posseg tags unknown words in context).
    ``word`` ids ignore the flag and letter case. Cleared past ``max_size`` to keep memory
    flat over an unbounded stream; results never depend on the ids' values."""

    ATTRIBUTES = {"word": np.int64, "length": np.int64, "wordy": bool, "content": bool,
                  "vertex": bool, "directive": bool, "attendance": bool,
                  "event": bool}

    def __init__(self, stopwords: frozenset[str], flags_follow_words: bool,
                 max_size: int = 300_000) -> None:
        super().__init__()
        self._stopwords = stopwords
        self._idf, self._median_idf = jieba_idf()
        self.flags_follow_words = flags_follow_words
        self._max_size = max_size
        self._reset()

    def _reset(self) -> None:
        self.clear()
        self.words: dict[str, int] = {}
        self.word_idf = np.zeros(4096)  # by word id
        for name, dtype in self.ATTRIBUTES.items():
            setattr(self, name, np.zeros(4096, dtype))

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

    def word_ids(self, words: Sequence[str], text: str,
                 tag: Callable[[str], list[tuple[str, str]]]) -> list[int]:
        """Ids of the words of ``text`` as the tagger's ``cut`` gives them, when its flags
        follow words: a known word needs no flag, so the article is cut, not tagged (rjieba's
        ``tag`` is the same cut plus a dictionary lookup, at twice the cost). A new word gets
        its flag by tagging it alone; a dictionary word that does not come back whole (its
        parts outscore it alone: 必成, 建在) by tagging the article, once."""
        ids = list(map(self.get, words, repeat(-1)))
        if -1 not in ids:
            return ids
        in_context = None
        for i, known in enumerate(ids):
            if known >= 0:
                continue
            word = words[i]
            if word in self:
                ids[i] = self[word]
                continue
            alone = tag(word)
            if len(alone) == 1:
                flag = alone[0][1]
            else:
                in_context = in_context or tag(text)
                flag = in_context[i][1]
            ids[i] = self._add(word, word, flag)
        return ids

    def _add(self, key: str, word: str, flag: str) -> int:
        index = len(self)
        if index == len(self.length):
            for name in self.ATTRIBUTES:
                old = getattr(self, name)
                setattr(self, name, np.concatenate((old, np.zeros_like(old))))
        text = word.strip().lower()  # "GDP" and "gdp" are one word
        wordy = bool(_WORDY.search(text))
        content = wordy and text not in self._stopwords
        word_id = self.word[index] = self.words.setdefault(text, len(self.words))
        if word_id == len(self.word_idf):
            self.word_idf = np.concatenate((self.word_idf, np.zeros_like(self.word_idf)))
        self.word_idf[word_id] = self._idf.get(text, self._median_idf)
        self.length[index] = len(word)
        self.wordy[index] = wordy
        self.content[index] = content and flag in SENTENCE_FLAGS
        self.vertex[index] = (content and flag in KEYWORD_FLAGS and len(text) >= 2
                              and not text.isdigit())
        self.directive[index] = text in DIRECTIVE_WORDS
        self.attendance[index] = text in ATTENDANCE_WORDS
        self.event[index] = text in EVENT_WORDS
        self[key] = index
        return index


def length_factor(chars: np.ndarray, short: int = 20, typical: int = 40) -> np.ndarray:
    """A key point is read at a glance: among equally central sentences prefer the shorter,
    mildly (weight (typical / chars) ** 0.25); fragments under ``short`` characters are
    damped."""
    chars = np.maximum(np.asarray(chars, float), 1.0)
    return np.where(chars < short, chars / short * (typical / short) ** 0.25,
                    (typical / chars) ** 0.25)


def position_prior(position: np.ndarray) -> np.ndarray:
    """News puts the essentials first (inverted pyramid): weight 1/sqrt(1 + position)."""
    return 1.0 / np.sqrt(1.0 + position)


def block_pagerank(weights: sparse.spmatrix, block: np.ndarray, blocks: int,
                   personalization: np.ndarray, *, alpha: float, tol: float = 1.0e-6,
                   max_iter: int = 100, check_every: int = 4) -> np.ndarray:
    """Personalised PageRank of many independent graphs at once (one block per article).

    ``weights`` is symmetric and block-diagonal; ``block[i]`` is node i's block. Repeated
    entries add up. Power iteration from the uniform vector; dangling nodes jump by the
    personalisation. Every ``check_every`` rounds, a block whose last round changed it by
    less than size * tol (L1) is frozen, so each block's result is the one it would get
    alone, in any batch.

    Works on the COO form: a matrix-vector product sums each node's edges in the order they
    are listed, which is document order for our graphs, never the order of other articles
    or of lexicon ids; and it needs no sorting into rows."""
    n = weights.shape[0]
    if n == 0:
        return np.zeros(0)
    edges = weights.tocoo()
    size = np.bincount(block, minlength=blocks)
    total = np.bincount(block, personalization, minlength=blocks)
    p = np.where(total[block] > 0, personalization / np.where(total > 0, total, 1)[block],
                 1.0 / size[block])
    out_weight = np.bincount(edges.row, edges.data, minlength=n)
    dangling = np.flatnonzero(out_weight == 0)
    inverse = np.divide(alpha, out_weight, out=np.zeros(n), where=out_weight > 0)
    # x -> alpha W D^-1 x: each edge j -> i weighs alpha / degree j
    step = sparse.coo_matrix((edges.data * inverse[edges.col], (edges.row, edges.col)),
                             shape=(n, n))
    teleport = (1 - alpha) * p
    dangling_block, dangling_p = block[dangling], alpha * p
    x = 1.0 / size[block]
    moving = np.ones(blocks, bool)
    final = x  # the value of each block when it stopped moving
    for _ in range(0, max_iter, check_every):
        for _ in range(check_every):
            last = x
            x = step @ last
            x += teleport
            if len(dangling):
                stuck = np.bincount(dangling_block, last[dangling], minlength=blocks)
                x += stuck[block] * dangling_p
        change = np.bincount(block, np.abs(x - last), minlength=blocks)
        stopped = moving & (change < size * tol)
        if stopped.any():
            # The others go on; a stopped block may too, but its result is kept from here.
            final = np.where(stopped[block], x, final)
            moving &= ~stopped
            if not moving.any():
                return final
    return np.where(moving[block], x, final)


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` of integers by one sort (numpy 2's hash-based unique is 10x slower here).
    A stable sort (timsort) because our keys come grouped by article: it merges those runs
    at little cost, where quicksort starts over (2.3x slower on a batch's keys)."""
    ordered = np.sort(values, kind="stable")
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if len(ordered) \
        else ordered


def first_occurrence(keys: np.ndarray) -> np.ndarray:
    """For each element, the index of the first element with the same key. Numbering words
    by where they first occur (not by lexicon id) makes every sum over an article's words run
    in the same order whatever the lexicon has seen before: results are bit-for-bit the same
    in any batch."""
    order = np.argsort(keys, kind="stable")
    starts = first_of_groups(keys[order])
    first = order[starts][np.cumsum(starts) - 1]
    out = np.empty_like(order)
    out[order] = first
    return out


def first_of_groups(group: np.ndarray) -> np.ndarray:
    """For an array sorted by group, True at the first element of each group."""
    return np.concatenate(([True], group[1:] != group[:-1])) if len(group) else group.astype(bool)


def number_by_first_occurrence(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number the distinct keys 0, 1, ... in order of first occurrence. Returns each
    element's number and, for each number, the index of its first element."""
    order = np.argsort(keys, kind="stable")
    starts = first_of_groups(keys[order])
    firsts = order[starts]  # by key
    by_position = np.argsort(firsts, kind="stable")
    number_of_key = np.empty(len(firsts), np.int64)
    number_of_key[by_position] = np.arange(len(firsts))
    numbers = np.empty(len(keys), np.int64)
    numbers[order] = number_of_key[np.cumsum(starts) - 1]
    return numbers, firsts[by_position]


def order_in_groups(group: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Indices sorted by group, then by descending score rounded to 12 decimals (last-bit
    noise is no rank), then by index: ``np.lexsort((-np.round(score, 12), group))`` in two
    stable argsorts, 4x faster (the group pass is a radix sort on small integers)."""
    order = np.argsort(-np.round(score, 12), kind="stable")
    grouped = group[order]
    if len(grouped) and grouped.max() < np.iinfo(np.int16).max:
        grouped = grouped.astype(np.int16)
    return order[np.argsort(grouped, kind="stable")]


def top_per_group(group: np.ndarray, score: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """Indices of the ``limit[g]`` best-scored elements of each group g, grouped in group
    order, best first; equal scores keep index order (see ``order_in_groups``)."""
    order = order_in_groups(group, score)
    grouped = group[order]
    rank = np.arange(len(order)) - np.searchsorted(grouped, grouped, side="left")
    return order[rank < limit[grouped]]


def csr_rows(matrix: sparse.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the given rows of a CSR matrix, concatenated."""
    start, stop = matrix.indptr[rows], matrix.indptr[rows + 1]
    counts = stop - start
    at = np.repeat(start - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    return matrix.indices[at], matrix.data[at]


def mmr_pick(article: np.ndarray, relevance: np.ndarray, similarity: sparse.csr_matrix,
             eligible: np.ndarray, wanted: np.ndarray, chars: np.ndarray,
             budget: int | None, blocks: int, weight: float = 0.7) -> np.ndarray:
    """Maximal marginal relevance in every article at once: round after round, each article
    takes the eligible sentence with the best ``weight * relevance - (1 - weight) * (max
    similarity to its picks)``, until it has ``wanted`` of them; with a character budget, a
    sentence that no longer fits is passed over. Returns a mask of picked sentences."""
    n = len(article)
    best = np.zeros(blocks)
    np.maximum.at(best, article[eligible], relevance[eligible])
    relevance = relevance / np.where(best > 0, best, 1.0)[article]
    picked = np.zeros(n, bool)
    taken = np.zeros(blocks, np.int64)
    used = np.zeros(blocks, np.int64)
    redundancy = np.zeros(n)
    index = np.arange(n)
    for _ in range(int(wanted.max(initial=0))):
        allowed = eligible & ~picked & (taken < wanted)[article]
        if budget is not None:
            allowed &= used[article] + chars <= budget
        if not allowed.any():
            break
        gain = weight * relevance[allowed] - (1 - weight) * redundancy[allowed]
        rows, groups = index[allowed], article[allowed]
        order = order_in_groups(groups, gain)  # ties go by position
        chosen = rows[order][first_of_groups(groups[order])]
        picked[chosen] = True
        np.add.at(taken, article[chosen], 1)
        np.add.at(used, article[chosen], chars[chosen])
        columns, values = csr_rows(similarity, chosen)
        np.maximum.at(redundancy, columns, values)
    return picked


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
    keyword_alpha = 0.85
    keyword_tol = 1.0e-5  # only the order of the top words matters
    window = 3
    headline_weight = 1.0

    def __init__(self, tokenizer: Tokenizer, stopwords: frozenset[str],
                 min_sentence_chars: int) -> None:
        self.tokenizer = tokenizer
        self.min_sentence_chars = min_sentence_chars
        self.lexicon = Lexicon(stopwords, getattr(tokenizer, "flags_follow_words", False))

    def analyse_batch(self, items: Sequence[tuple[str, str | None]],
                      count: Callable[[int], int], keywords: int, budget: int | None
                      ) -> list[Summary]:
        self.lexicon.ensure_room()
        batch = _Batch.build(items, self.tokenizer, self.lexicon)
        scores, picked = self._sentences(batch, count, budget)
        top_words = self._keywords(batch, keywords)
        return batch.summaries(scores, picked, top_words)

    def _sentences(self, b: "_Batch", count: Callable[[int], int], budget: int | None
                   ) -> tuple[np.ndarray, np.ndarray]:
        lex = self.lexicon
        n = len(b.s_start)
        similarity, to_deck = self._sentence_graph(b)
        prior = position_prior(b.s_local) * (1.0 + self.headline_weight * to_deck)
        scores = block_pagerank(similarity, b.s_article, b.size, prior, alpha=self.sentence_alpha)
        directive = b.inside & lex.directive[b.pid]
        directives = np.bincount(b.sid[directive], minlength=n)
        boilerplate = np.where(directives >= 2, 0.6, 1.0) * np.where(
            self._attendance_lines(b), 0.5, 1.0)
        boilerplate[b.s_local == 0] = 1.0  # the lede states the story, whoever attended
        chars = b.s_end - b.s_start
        scores = scores * boilerplate * length_factor(chars)
        eligible = chars >= self.min_sentence_chars
        candidates = np.bincount(b.s_article[eligible], minlength=b.size)
        wanted = np.fromiter(map(count, candidates.tolist()), np.int64, b.size)
        picked = mmr_pick(b.s_article, scores, similarity, eligible, wanted, chars, budget,
                          b.size)
        return scores, picked

    def _sentence_graph(self, b: "_Batch") -> tuple[sparse.csr_matrix, np.ndarray]:
        """Cosine similarity of IDF-weighted word sets between the sentences of each article
        (no self-loops), and each sentence's cosine to its article's deck."""
        n = len(b.s_start)
        use = self.lexicon.content[b.pid] & (b.inside | b.deck)
        row = np.where(b.deck, n + b.t_article, b.sid)[use]
        # Sorting (word's first occurrence, row) gives both the distinct cells and, word by
        # word, the columns of a CSC matrix: a word of one article is a column of its own.
        word_key = b.word_key[use]
        cells = sorted_unique((first_occurrence(word_key) << _ROW_BITS) | row)
        column_word, rows = cells >> _ROW_BITS, cells & _ROW_MASK
        weight = self.lexicon.word_idf[word_key[column_word] % b.words]
        norm = np.sqrt(np.bincount(rows, weight * weight, minlength=n + b.size))
        weight = weight / norm[rows]
        column = np.cumsum(first_of_groups(column_word)) - 1
        columns = int(column[-1]) + 1 if len(column) else 0
        deck = rows >= n  # the deck cells come last in their column
        deck_weight = np.zeros(columns)
        deck_weight[column[deck]] = weight[deck]
        body = ~deck
        rows, column, weight = rows[body], column[body], weight[body]
        to_deck = np.bincount(rows, weight * deck_weight[column], minlength=n)
        indptr = np.concatenate(([0], np.cumsum(np.bincount(column, minlength=columns))))
        vectors = sparse.csc_matrix((weight, rows, indptr), shape=(n, columns))
        similarity = (vectors @ vectors.T).tocsr()
        similarity.setdiag(0.0)
        similarity.eliminate_zeros()
        return similarity, to_deck

    def _attendance_lines(self, b: "_Batch") -> np.ndarray:
        """Sentences whose last word is 出席/参加/陪同/列席, or 会议/活动/仪式 right after one."""
        lex = self.lexicon
        n = len(b.s_start)
        body = np.flatnonzero(b.inside)
        if len(body) == 0:
            return np.zeros(n, bool)
        sentence = b.sid[body]
        last = np.append(sentence[1:] != sentence[:-1], True)
        ids = b.pid[body]
        before = np.concatenate(([False], lex.attendance[ids][:-1] & ~last[:-1]))
        ends_so = lex.attendance[ids] | (lex.event[ids] & before)
        out = np.zeros(n, bool)
        out[sentence[last]] = ends_so[last]
        return out

    def _keywords(self, b: "_Batch", keywords: int) -> np.ndarray:
        """TextRank over co-occurrence of nouns within ``window`` content words. Returns the
        index (in ``b.tokens``) of each keyword's first occurrence, grouped by article, best
        first."""
        lex = self.lexicon
        sequence = np.flatnonzero(lex.content[b.pid] & b.inside)  # what a reader reads
        is_vertex = lex.vertex[b.pid[sequence]]
        if keywords <= 0 or not is_vertex.any():
            return np.zeros(0, np.int64)
        vertex_tokens = sequence[is_vertex]
        numbers, firsts = number_by_first_occurrence(b.word_key[vertex_tokens])
        size = len(firsts)
        node = np.full(len(sequence), -1)
        node[is_vertex] = numbers
        first = vertex_tokens[firsts]  # token of each vertex's first occurrence
        keys = b.word_key[first]
        sentence = b.sid[sequence]
        ends = [], []
        for distance in range(1, self.window):
            a, c = node[:-distance], node[distance:]
            linked = (a >= 0) & (c >= 0) & (a != c) & (sentence[:-distance] == sentence[distance:])
            ends[0].extend((a[linked], c[linked]))
            ends[1].extend((c[linked], a[linked]))
        rows, columns = np.concatenate(ends[0]), np.concatenate(ends[1])
        weights = sparse.coo_matrix((np.ones(len(rows)), (rows, columns)), shape=(size, size))
        article = b.t_article[first]
        idf = lex.word_idf[keys % b.words]
        deck_keys = sorted_unique(b.word_key[b.deck])
        at = np.minimum(np.searchsorted(deck_keys, keys), max(len(deck_keys) - 1, 0))
        in_deck = deck_keys[at] == keys if len(deck_keys) else np.zeros(size, bool)
        scores = block_pagerank(weights, article, b.size, idf * (1.0 + in_deck),
                                alpha=self.keyword_alpha, tol=self.keyword_tol)
        # Centrality alone crowns 工作/发展 in every article; weighting by IDF keeps the words
        # that tell articles apart, which is what theme grouping needs.
        scores = scores * np.sqrt(idf)
        chosen = top_per_group(article, scores, np.full(b.size, keywords))
        return b.token_index[first[chosen]]


_ROW_BITS = 21  # sentences (and decks) in one batch: < 2 million
_ROW_MASK = (1 << _ROW_BITS) - 1


@dataclasses.dataclass
class _Batch:
    """Flat arrays over a batch of articles: its word tokens and its body sentences (s_*).

    Each article is tagged once as ``deck + "\\n" + body``; these strings joined by "\\n" form
    ``text``, the coordinate system of every offset. Only tokens with a letter, digit or CJK
    character are kept in the token arrays (``token_index`` maps back to ``tokens``)."""

    size: int
    text: str
    tokens: Sequence[str]  # the words, as the tokenizer cut them
    words: int  # word ids are below this; word_key = article * words + word id
    token_index: np.ndarray  # position of each kept token in `tokens`
    pid: np.ndarray  # lexicon id
    t_article: np.ndarray
    word_key: np.ndarray  # the same word in two articles has two keys
    sid: np.ndarray  # body sentence of the token (meaningful where `inside`)
    inside: np.ndarray  # the token lies in a body sentence
    deck: np.ndarray  # the token belongs to the headline deck
    s_start: np.ndarray
    s_end: np.ndarray
    s_article: np.ndarray
    s_local: np.ndarray  # index of the sentence in its article's split_sentences(body)

    @classmethod
    def build(cls, items: Sequence[tuple[str, str | None]], tokenizer: Tokenizer,
              lexicon: Lexicon) -> "_Batch":
        size = len(items)
        strings, body_at = [], []
        for body, deck in items:
            prefix = " ".join(deck.split()) + "\n" if deck else ""
            strings.append(prefix + body)
            body_at.append(len(prefix))
        tagged, ids = [], []
        for string in strings:  # the one tokenizer call of each article
            if lexicon.flags_follow_words:
                words = tokenizer.cut(string)
                ids += lexicon.word_ids(words, string, tokenizer.tag)
            else:
                tokens = tokenizer.tag(string)
                words = [word for word, _ in tokens]
                ids += lexicon.token_ids(tokens)
            tagged.append(words)
        text = "\n".join(strings)
        length = np.array([len(string) + 1 for string in strings], np.int64)
        base = np.cumsum(length) - length
        body_start = base + np.array(body_at, np.int64)
        starts, ends = sentence_bounds(text)
        owner = np.searchsorted(base, starts, side="right") - 1
        body = starts >= body_start[owner]
        s_start, s_end, s_article = starts[body], ends[body], owner[body]
        s_local = np.arange(len(s_start)) - np.searchsorted(s_article, s_article, side="left")

        tokens = list(chain.from_iterable(tagged))  # words
        pid = np.array(ids, np.int64)
        t_article = np.repeat(np.arange(size), [len(t) for t in tagged])
        token_length = lexicon.length[pid]
        t_start = np.cumsum(token_length) - token_length + t_article  # + the "\n" joiners
        keep = np.flatnonzero(lexicon.wordy[pid])  # punctuation and spaces play no part
        pid, t_article, t_start = pid[keep], t_article[keep], t_start[keep]
        sid = np.searchsorted(s_start, t_start, side="right") - 1
        inside = (sid >= 0) & (t_start < s_end[np.maximum(sid, 0)]) if len(s_start) else \
            np.zeros(len(pid), bool)
        words = len(lexicon.words) + 1
        return cls(size=size, text=text, tokens=tokens, words=words, token_index=keep,
                   pid=pid, t_article=t_article, word_key=t_article * words + lexicon.word[pid],
                   sid=np.maximum(sid, 0), inside=inside, deck=t_start < body_start[t_article],
                   s_start=s_start, s_end=s_end, s_article=s_article, s_local=s_local)

    def summaries(self, scores: np.ndarray, picked: np.ndarray, keyword_tokens: np.ndarray
                  ) -> list[Summary]:
        chosen = np.flatnonzero(picked)  # grouped by article, in document order
        cut = np.searchsorted(self.s_article[chosen], np.arange(self.size + 1)).tolist()
        word_cut = np.searchsorted(self._article_of_token(keyword_tokens),
                                   np.arange(self.size + 1)).tolist()
        text, tokens = self.text, self.tokens
        starts, ends = self.s_start.tolist(), self.s_end.tolist()
        local, score, chosen = self.s_local.tolist(), scores.tolist(), chosen.tolist()
        keyword_tokens = keyword_tokens.tolist()
        out = []
        for a in range(self.size):
            sentences = tuple(KeySentence(local[i], text[starts[i]:ends[i]], score[i])
                              for i in chosen[cut[a]:cut[a + 1]])
            found = tuple(tokens[t] for t in keyword_tokens[word_cut[a]:word_cut[a + 1]])
            out.append(Summary(sentences=sentences, keywords=found))
        return out

    def _article_of_token(self, token_index: np.ndarray) -> np.ndarray:
        return self.t_article[np.searchsorted(self.token_index, token_index)]


# ---------------------------------------------------------------------------------------------
# The stage's interface


class Ranker:
    """Key sentences and keywords of articles, by ``config.rank.mode``."""

    batch_size = 64  # articles ranked together: numpy's per-call cost is paid once for all

    def __init__(self, config: Config) -> None:
        self.rank = config.rank
        text = config.text
        engine: type[DefaultEngine] | type[Textrank4zhEngine] = DefaultEngine
        if config.rank.mode == "textrank4zh":
            # Exact reproduction needs textrank4zh's own tagger, jieba.posseg: rjieba tags
            # new words differently (1% of tokens on the seeds, 3 of 48 top-3s change).
            engine, text = Textrank4zhEngine, dataclasses.replace(text, tokenizer="jieba")
        tokenizer = make_tokenizer(text, cache_dir=Path(config.paths.state) / "cache")
        stopwords = load_stopwords(text.stopwords)
        self.engine = engine(tokenizer, stopwords, text.min_sentence_chars)

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
