"""Keywords re-weighted by how common each word is among the stored articles.

The ranker scores an article's keyword candidates on the article alone (centrality x the
square root of a general corpus's IDF), so the words a paper prints in every story (工作,
我区, 全区 in a district paper, 发展 in a national one) still win. The store counts, for each
word, the stored articles that have it among their candidates (``term_df``); here each
candidate's score is multiplied by ``(1 - share) ** 3``, ``share`` being that count over
the number of stored articles, smoothed by a prior: ``PRIOR_DOCUMENTS`` pseudo-articles in
which the word is as common as in jieba's corpus (``exp(-idf)``). A word in half the
articles keeps an eighth of its score, one in a quarter 42%, one in 5% 86%. With few
articles stored the prior dominates (a first file of one article changes nothing: every
word of it has the same share); as the store grows its own counts take over.

Pure: the same candidates, counts and article total give the same keywords, whatever order
the files were stored in. `reweighted` is the definition; the store picks a whole week's
keywords with the same arithmetic in one SQL query (`Store._reweighted_keywords`, tested
equal to it), which saves a week's build reading every candidate into Python.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from ..model import KeywordCandidate

PRIOR_DOCUMENTS = 10.0


def share(df: int, documents: int, prior: float) -> float:
    return (df + PRIOR_DOCUMENTS * prior) / (documents + PRIOR_DOCUMENTS)


def reweighted(candidates: Sequence[KeywordCandidate], df: Mapping[str, int], documents: int,
               count: int) -> tuple[str, ...]:
    """The ``count`` best of ``candidates`` once each score is demoted by the word's share of
    the ``documents`` stored articles (``df``: word -> articles). Ties keep the candidates'
    order."""
    scored = []
    for position, (word, score, prior) in enumerate(candidates):
        kept = 1.0 - min(share(df.get(word, 0), documents, prior), 1.0)
        # the cube as two products, as the store's SQL computes it: the same bits
        scored.append((-score * (kept * kept * kept), position, word))
    scored.sort()
    return tuple(word for _, _, word in scored[:count])
