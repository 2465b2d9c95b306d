"""The two ranking engines: textrank4zh 0.3 reproduced (``Textrank4zhEngine``, with numpy
and networkx 2.x's ``pagerank``), and the default one (``DefaultEngine``), which ranks a batch
of articles through the compiled loops (``kernels.rank_batch``) and applies the edge rules
(sentences.py, names.py) before and after."""

from __future__ import annotations

import bisect
import dataclasses
import math
import re
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..model import KeySentence, KeywordCandidate, Summary
from ..text import (
    SentenceSpan,
    Tokenizer,
    sentence_bounds,
    split_sentences_textrank4zh,
    tokenizer_id,
)
from .names import FOLLOWERS, anchors, find_names, join_names
from .sentences import balanced, prepare
from .kernels import rank_batch
from .lexicon import DictionaryFlags, Lexicon


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

_SEPARATORS = re.compile("[\0\1]")


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
                 min_sentence_chars: int, cache_dir: Path | None = None,
                 user_dict: Path | None = None) -> None:
        self.tokenizer = tokenizer
        self.min_sentence_chars = min_sentence_chars
        follow = getattr(tokenizer, "flags_follow_words", False)
        dictionary = None
        if follow and cache_dir is not None:  # without a cache, building it costs 1 s a start
            dictionary = DictionaryFlags.deferred(cache_dir, tokenizer.tag,
                                              tagger_id(tokenizer, user_dict))
        self.lexicon = Lexicon(stopwords, follow, cache_dir=cache_dir, dictionary=dictionary)

    def analyse_batch(self, items: Sequence[tuple[str, str | None]],
                      count: Callable[[int], int], keywords: int, budget: int | None
                      ) -> list[Summary]:
        return self.analyse_batch_with_cuts(items, count, keywords, budget)[0]

    def analyse_batch_with_cuts(self, items: Sequence[tuple[str, str | None]],
                                count: Callable[[int], int], keywords: int,
                                budget: int | None
                                ) -> tuple[list[Summary], list[str | None]]:
        """``analyse_batch``, and each body's tokens as the tokenizer cut them, joined by
        NUL (None where the batch was tagged instead: the jieba backend), for the grouping
        words (digest/themes/words.py) not to cut the same text again."""
        lex = self.lexicon
        lex.ensure_room()
        b = _Batch.build(items, self.tokenizer, lex)
        # Datelines and marks are not shown; headings and list items are not picked.
        codes = b.codes
        b.s_start, chars = prepare(b.text, b.s_start, b.s_end, b.sentence_start,
                                   self.min_sentence_chars, codes)
        b.name_starts = anchors(codes)
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
        return (b.summaries(scores, picked, found, found_score, slots, max(keywords, 0), lex,
                            self.protected), b.body_cuts())


def tagger_id(tokenizer: Tokenizer, user_dict: Path | None) -> str:
    """The tagger and its dictionary, for the cache of its flags (text.tokenizer_id)."""
    return tokenizer_id(tokenizer.name, user_dict)


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
    codes: np.ndarray  # ``text`` as code points (UTF-32)
    name_starts: np.ndarray | None = None  # where a title is followed by a surname (offsets)
    token_end: np.ndarray | None = None  # cumulative token lengths, made when names need it
    cuts: list[str] | None = None  # each article string's tokens joined by NUL (cut path)

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
            joined = None
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
        codes = np.frombuffer(text.encode("utf-32-le"), np.uint32)
        starts, ends = sentence_bounds(text, codes)
        owner = np.searchsorted(article_start, starts, side="right") - 1
        body = starts >= body_start[owner]
        token_start = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        return cls(size=size, text=text, pid=pid,
                   token_start=token_start, article_start=article_start,
                   body_start=body_start, s_start=starts[body], s_end=ends[body],
                   s_article=owner[body],
                   sentence_start=np.searchsorted(owner[body], np.arange(size + 1)),
                   codes=codes, cuts=joined)

    def body_cuts(self) -> list[str | None]:
        """The tokens of each article's body alone: a deck is one line without a line
        break, and a line break is a token of its own, so the body's tokens start after
        the first one."""
        if self.cuts is None:
            return [None] * self.size
        has_deck = (self.body_start > self.article_start).tolist()
        return [joined[joined.find("\n") + 2:] if deck else joined
                for joined, deck in zip(self.cuts, has_deck)]

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
                shown, shown_to = balanced(text, starts[i], ends[i])
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
                    and text[at + 2] not in FOLLOWERS)
                if not whole:
                    near.add(int(pid[t + k - 1]))
        if near.isdisjoint(candidate_tokens):
            return candidates
        found = ends.tolist()

        def boundary(offset: int) -> bool:  # did a token end at this offset?
            at = bisect.bisect_left(found, offset)
            return at < len(found) and found[at] == offset

        names = find_names(text, boundary, lexicon.idf_of, starts.tolist())
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
        return join_names(text, candidates, names, protected, pieces)
