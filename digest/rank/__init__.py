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

The package: ``kernels`` (the compiled loops), ``lexicon`` (word table, IDF table, lexicon),
``engines`` (the two engines), ``sentences`` and ``names`` (the default mode's edge rules),
``df`` (keywords re-weighted over the store). This module is the stage's interface and
imports none of them until a Ranker is made: numpy, numba and jieba load only when
something is ranked (``digest.store`` reads ``df`` without them).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

from ..model import Article, GroupingWords, Summary

if TYPE_CHECKING:
    from ..config import Config, RankConfig
    from .engines import DefaultEngine, Textrank4zhEngine

__all__ = ["Ranker", "compile_loops", "deck_of", "loops_compiled", "pick_count",
           "WARM_UP_TEXT"]

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
        from .kernels import rank_batch

        return bool(rank_batch._cache._cache_file._load_index())
    except Exception:  # noqa: BLE001
        return True


def prebuild_tables() -> float:
    """Builds the dictionary's tables (IDF, flags, learnt-word values) of the default
    configuration into ``lexicon.SHIPPED_TABLES``, where every new state folder finds them;
    the seconds it took. `make` runs it after installing, beside ``compile_loops``."""
    import shutil
    import tempfile

    from ..config import Config
    from . import lexicon
    from .lexicon import SHIPPED_NAMES

    start = time.perf_counter()
    shipped = lexicon.SHIPPED_TABLES
    with tempfile.TemporaryDirectory() as tmp:
        # built from the dictionaries, not read from the tables of an earlier install
        lexicon.SHIPPED_TABLES = Path(tmp) / "none"
        config = Config()
        config = dataclasses.replace(config, paths=dataclasses.replace(
            config.paths, state=Path(tmp) / "state"))
        try:
            Ranker(config).summarize(WARM_UP_TEXT, "科技活动周")  # new words: all are built
        finally:
            lexicon.SHIPPED_TABLES = shipped
        shipped.mkdir(parents=True, exist_ok=True)
        for name in SHIPPED_NAMES:
            built = Path(tmp) / "state" / "cache" / name
            part = shipped / (name + ".part")
            shutil.copyfile(built, part)
            part.replace(shipped / name)  # a reader never sees half a file
    return time.perf_counter() - start


def compile_loops() -> float:
    """Compiles (or loads from the cache) every compiled loop the default mode uses; the
    seconds it took. `make` runs it right after installing, so that no command stalls on
    its first run."""
    from ..config import TextConfig
    from ..text import load_stopwords, make_tokenizer
    from .engines import DefaultEngine
    from .lexicon import WordTable

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
        from ..text import load_stopwords, make_tokenizer, read_user_dict
        from .engines import DefaultEngine, Textrank4zhEngine

        self.rank = config.rank
        text = config.text
        engine: type[DefaultEngine] | type[Textrank4zhEngine] = DefaultEngine
        if config.rank.mode == "textrank4zh":
            # Exact reproduction needs textrank4zh's own tagger, jieba.posseg: rjieba tags
            # new words differently (1% of tokens on the seeds, 3 of 48 top-3s change).
            engine, text = Textrank4zhEngine, dataclasses.replace(text, tokenizer="jieba")
        cache = Path(config.paths.state) / "cache"
        self._grouping_text = config.text  # the config's tokenizer, whatever the mode's
        self._cache = cache
        tokenizer = make_tokenizer(text, cache_dir=cache)
        stopwords = load_stopwords(text.stopwords)
        if engine is DefaultEngine:
            self.engine = DefaultEngine(tokenizer, stopwords, text.min_sentence_chars, cache,
                                        Path(text.user_dict) if text.user_dict else None)
        else:
            self.engine = Textrank4zhEngine(tokenizer, stopwords, text.min_sentence_chars)
        if text.user_dict and isinstance(self.engine, DefaultEngine):
            self.engine.protected = frozenset(w for w, _, _ in read_user_dict(text.user_dict))
        if engine is DefaultEngine and not loops_compiled():
            _log.warning("compiling the ranker's loops: the first run after installing takes "
                         "15-40 s (then cached in %s)", Path(__file__).parent / "__pycache__")

    def preload(self) -> None:
        """Read now what is read at first use (`Lexicon.preload`): before forking workers,
        which then share it."""
        lexicon = getattr(self.engine, "lexicon", None)  # the reference engine has none
        if lexicon is not None:
            lexicon.preload()

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

    def grouping_words(self, articles: Sequence[Article]) -> GroupingWords:
        """The articles' words for automatic themes (digest/themes/words.py), cut here at
        ingest, beside the ranking, so that a build need not cut them."""
        from ..text import make_tokenizer
        from ..themes.words import grouping_words, words_stamp

        tokenizer = make_tokenizer(self._grouping_text, cache_dir=self._cache)
        return GroupingWords(words_stamp(self._grouping_text),
                             tuple(grouping_words(a, tokenizer) for a in articles))

    def summarize_with_words(self, articles: Sequence[Article]
                             ) -> tuple[list[Summary], GroupingWords]:
        """``summarize_articles`` and ``grouping_words`` at once, as ingest needs them: in
        the default mode the grouping words take the body's tokens from the ranker's own
        cut of it (themes/words.py ``grouping_words_from_cut``), the same words as a cut of
        their own gives, for about a tenth less of an ingest's CPU (README, *Speed*)."""
        from ..themes.words import grouping_words_from_cut, words_stamp
        from .engines import DefaultEngine

        engine = self.engine
        if not isinstance(engine, DefaultEngine):  # textrank4zh mode tags with jieba.posseg
            return self.summarize_articles(articles), self.grouping_words(articles)
        tokenizer = engine.tokenizer  # the config's: the grouping words' (default mode)
        summaries: list[Summary] = []
        words: list[str] = []
        for first in range(0, len(articles), self.batch_size):
            batch = articles[first:first + self.batch_size]
            ranked, cuts = engine.analyse_batch_with_cuts(
                [(a.body, deck_of(a)) for a in batch], self._count(None),
                self.rank.keywords, self.rank.char_budget)
            summaries += ranked
            words += (grouping_words_from_cut(a, cut, tokenizer) for a, cut in zip(batch, cuts))
        return summaries, GroupingWords(words_stamp(self._grouping_text), tuple(words))

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
        return self.engine.analyse_batch(items, self._count(top), self.rank.keywords,
                                         self.rank.char_budget)

    def _count(self, top: int | None) -> Callable[[int], int]:
        def count(candidates: int) -> int:
            return pick_count(candidates, self.rank, top)

        return count


def deck_of(article: Article) -> str | None:
    """The headline deck: kicker, title and subtitle, as one line."""
    return " ".join(p for p in (article.kicker, article.title, article.subtitle) if p) or None
