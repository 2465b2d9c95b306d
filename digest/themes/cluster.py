"""Automatic themes: stories no named theme claimed, grouped by what their whole text is about.

- Tokens: the article's headline deck and the first TOKEN_CHARS characters of its body, cut
  by the configured tokenizer ([text].tokenizer and its user dictionary), words of two
  characters or more that are not stopwords. News puts its subject first, and the cap keeps
  a week of 5,000 long articles within the build's time budget. Ingest cuts them and the
  store keeps them (`words.py`); an article stored without them, or cut by another
  tokenizer or dictionary, is cut here.
- Vectors: TF-IDF with sublinear tf, fitted on the whole week's stories (so a word such as
  工作 that every story uses weighs nothing), dropping words in fewer than 2 stories or, in a
  week of 10 or more, in more than half of them (the words are counted here as they are
  cut, then weighted by scikit-learn's TfidfTransformer: the same rows as its
  TfidfVectorizer, bit for bit, without its per-word Python loop); then LSA (up to
  [clustering].dimensions: the exact SVD up to EXACT_SVD_MOST stories, scikit-learn's
  randomized TruncatedSVD above) and unit length, so that related words (疫苗 / 接种) meet.
- Groups: k-means for every k from 2 up to sqrt(n) (n stories; at most what
  [clustering].max_groups leaves after the named themes), keeping the k with the best
  silhouette; in a large week k is chosen on a fixed sample of 1,000 stories and the final
  k-means runs on all. A story whose cosine to its group's centre is below [clustering].similarity, or that
  has no word another story shares, goes to 其他, as do groups smaller than min_size.
- Labels: the group's most distinctive words, i.e. mean TF-IDF weight inside the group minus
  outside it, among words at least a quarter of the group uses; a word the ranker also picked
  as a keyword of some member (a noun or name) is preferred.

scikit-learn and numpy are imported inside the functions: commands that do not group must
start without them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..config import ClusteringConfig, Config
from ..model import StoryGroup
from .words import grouping_text, is_word, split_words, words_stamp

SELECTION_SAMPLE = 1000  # stories on which k is chosen in a large week
# Up to this many stories LSA is the exact SVD (faster there, see _exact_lsa); above it,
# scikit-learn's randomized SVD (the exact one's eigensolver took 1.0 s at 2,000 stories,
# 3.6 s at 3,000 and 8.5 s at 4,000, against 1.6, 2.3 and 2.7 s).
EXACT_SVD_MOST = 1500


class _Columns(dict):
    """Word -> its column among the week's grouping words, or -1 for a word that is not one
    (stopword, single character, no letter). A word is judged the first time it is looked
    up (60,000 distinct words in a week of 5,000 stories, 3 million lookups, those in C)."""

    def __init__(self, stop: frozenset[str]) -> None:
        super().__init__()
        self.stop = stop
        self.words: list[str] = []

    def __missing__(self, word: str) -> int:
        wanted = word not in self.stop and is_word(word)
        self[word] = len(self.words) if wanted else -1
        if wanted:
            self.words.append(word)
        return self[word]


def _tokenizer(config: Config):
    from ..text import make_tokenizer

    return make_tokenizer(config.text, config.paths.state / "cache")


def _stopwords(config: Config) -> frozenset[str]:
    from ..text import load_stopwords

    return load_stopwords(config.text.stopwords)


def new_columns(config: Config) -> "_Columns":
    return _Columns(_stopwords(config))


def stored(article, stamp: str) -> bool:
    """Whether the article carries words cut the way this config cuts them."""
    return article.grouping_words is not None and article.grouping_stamp == stamp


def _columns(column: "_Columns", words: list[str]):
    import numpy as np

    return np.fromiter(map(column.__getitem__, words), dtype=np.int32, count=len(words))


def columns_of(column: "_Columns", article, stamp: str, tokenizer):
    """The article's words as columns: those the store holds, or cut now (`tokenizer`
    needed only then)."""
    if stored(article, stamp):
        return _columns(column, split_words(article.grouping_words))
    return _columns(column, tokenizer.cut(grouping_text(article)))


def word_counts(stories: Sequence[StoryGroup], config: Config,
                ahead=None):
    """Each story's words (see the module docstring) counted: a CSR matrix of int64 counts,
    one row per story, and the words of the columns (in first-seen order; a column may
    have no story, see ahead.WeekAhead). Words are mapped to columns as they are read,
    where scikit-learn's CountVectorizer counts them in a Python loop (0.6 s a week of
    5,000 articles). `ahead`: a finished WeekAhead, whose columns are used and extended."""
    import numpy as np
    from scipy import sparse

    column = ahead.column if ahead else new_columns(config)
    ready = ahead.ready if ahead else {}
    stamp = ahead.stamp if ahead else words_stamp(config.text)
    tokenizer = None
    rows = []
    for story in stories:
        lead = story.lead
        ids = ready.get(id(lead))
        if ids is None:
            if tokenizer is None and not stored(lead, stamp):
                tokenizer = _tokenizer(config)
            ids = columns_of(column, lead, stamp, tokenizer)
        rows.append(ids)
    cols = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, dtype=np.int64)
    row_of = np.repeat(np.arange(len(stories), dtype=np.int64), [r.size for r in rows])
    kept = cols >= 0
    counts = sparse.csr_matrix(
        (np.ones(int(kept.sum()), dtype=np.int64), (row_of[kept], cols[kept])),
        shape=(len(stories), len(column.words)), dtype=np.int64)
    counts.sum_duplicates()
    return counts, column.words


def tfidf(counts, words: Sequence[str]):
    """The week's stories as TF-IDF rows and the vocabulary (sorted); None when no word is
    shared by two stories. The same as scikit-learn's TfidfVectorizer with sublinear tf,
    min_df=2 and max_df=0.5 (1.0 in a week under 10 stories), bit for bit: the words are
    limited and sorted as CountVectorizer does (`tests/test_themes.py` checks), then
    weighted by its TfidfTransformer."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfTransformer

    n = counts.shape[0]
    most = (0.5 if n >= 10 else 1.0) * n  # CountVectorizer's max_doc_count for a float max_df
    if not words or most < 2:
        return None
    df = np.bincount(counts.indices, minlength=len(words))
    keep = np.flatnonzero((df <= most) & (df >= 2))
    if keep.size == 0:
        return None
    order = sorted(keep.tolist(), key=words.__getitem__)
    matrix = counts[:, np.asarray(order, dtype=np.int64)].tocsr()
    matrix.sort_indices()
    matrix = TfidfTransformer(sublinear_tf=True).fit_transform(matrix).tocsr()
    return matrix, [words[j] for j in order]


def _lsa(matrix, dimensions: int):
    import numpy as np
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    n = matrix.shape[0]
    dims = min(dimensions, n - 1, matrix.shape[1] - 1)
    if dims >= 2 and n <= EXACT_SVD_MOST:
        reduced = _exact_lsa(matrix, dims)
    elif dims >= 2 and n < matrix.shape[1]:
        # Words none of these stories uses (the vocabulary is the whole week's, most of its
        # stories were claimed by named themes) are zero rows of the transpose: they change
        # neither its singular values nor the stories' vectors (the random draw is in the
        # stories' dimension), but the range finder's LU and QR run over every row.
        used = np.flatnonzero(matrix.getnnz(axis=0) > 0)
        if used.size > n:  # still the wide case, dims unchanged
            matrix = matrix[:, used]
        # Fewer stories than words (the usual case): the SVD of the transpose has the same
        # singular vectors, and its randomized range finder works in the stories' smaller
        # dimension (1.3 s against 2.3 s for 4,000 stories and 48,000 words, busy machine).
        svd = TruncatedSVD(dims, random_state=0).fit(matrix.T.tocsr())
        reduced = svd.components_.T * svd.singular_values_
    elif dims >= 2:
        reduced = TruncatedSVD(dims, random_state=0).fit_transform(matrix)
    else:
        reduced = matrix.toarray()
    return normalize(np.asarray(reduced, dtype=np.float64))


def _exact_lsa(matrix, dims: int):
    """U_k Σ_k of the exact SVD (what TruncatedSVD's fit_transform approximates), from the
    top eigenpairs of the stories' Gram matrix X Xᵀ: its eigenvectors are the left singular
    vectors, its eigenvalues the squared singular values. For 739 stories and 32,000 words
    0.12 s against 1.0 s for the randomized SVD, whose last components are off by 3%; the
    eigensolver's cost grows with the cube of the stories (see EXACT_SVD_MOST). Each
    vector's sign is fixed as scikit-learn's svd_flip fixes it, so it does not depend on the
    LAPACK build."""
    import numpy as np
    from scipy.linalg import eigh

    gram = (matrix @ matrix.T).toarray()
    n = gram.shape[0]
    values, vectors = eigh(gram, subset_by_index=[n - dims, n - 1], driver="evx")
    values, vectors = values[::-1], vectors[:, ::-1]
    biggest = np.argmax(np.abs(vectors), axis=0)
    vectors = vectors * np.sign(vectors[biggest, np.arange(dims)])
    return vectors * np.sqrt(np.clip(values, 0.0, None))


def _choose_k(points, clustering: ClusteringConfig) -> int:
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    m = points.shape[0]
    most = min(clustering.max_groups, max(2, round(math.sqrt(m))), m - 1)
    if most < 2:
        return 1
    sample = points
    if m > SELECTION_SAMPLE:
        rows = np.random.default_rng(0).choice(m, SELECTION_SAMPLE, replace=False)
        sample = points[np.sort(rows)]
    best_k, best = 1, -2.0
    for k in range(2, most + 1):
        labels = KMeans(k, n_init=3, random_state=0).fit_predict(sample)
        if len(set(labels.tolist())) < 2:
            continue
        score = silhouette_score(sample, labels)
        if score > best + 1e-9:  # ties keep the smaller k
            best_k, best = k, score
    return best_k


def cluster_stories(stories: Sequence[StoryGroup], rows: Sequence[int],
                    week_counts: tuple, clustering: ClusteringConfig
                    ) -> tuple[list[list[int]], list[int], object, list[str]]:
    """Group `stories`, whose word counts are rows `rows` of `week_counts` (`word_counts` of
    every story of the week, for the IDF). Returns (groups of indices, indices for 其他, TF-IDF rows, vocabulary).

    BLAS and OpenMP run on one thread here: the same week then gives the same groups on
    any machine, and on a shared 2-core machine threads fighting for cores made the SVD 7x
    slower (measured: 14.9 s against 2.2 s for a 433-story week under load)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _cluster_stories(stories, rows, week_counts, clustering)


def _cluster_stories(stories, rows, week_counts, clustering):
    import numpy as np
    from sklearn.cluster import KMeans

    n = len(stories)
    if n == 0:
        return [], [], None, []
    fitted = tfidf(*week_counts)
    if fitted is None:
        return [], list(range(n)), None, []
    week_matrix, vocab = fitted
    matrix = week_matrix[np.asarray(rows, dtype=np.int64)]
    live = np.flatnonzero(matrix.getnnz(axis=1) > 0)
    alive = set(live.tolist())
    other = [i for i in range(n) if i not in alive]
    if live.size < 2:
        return [], list(range(n)), matrix, vocab
    points = _lsa(matrix[live], clustering.dimensions)
    k = _choose_k(points, clustering)
    if k == 1:
        labels = np.zeros(live.size, dtype=int)
    else:
        labels = KMeans(k, n_init=3, random_state=0).fit_predict(points)
    groups = []
    for label in sorted(set(labels.tolist())):
        members = np.flatnonzero(labels == label)
        centre = points[members].mean(axis=0)
        norm = np.linalg.norm(centre)
        fit = points[members] @ (centre / norm) if norm > 0 else np.zeros(members.size)
        close = [int(live[i]) for i, f in zip(members, fit) if f >= clustering.similarity]
        far = [int(live[i]) for i, f in zip(members, fit) if f < clustering.similarity]
        other.extend(far)
        if len(close) >= max(2, clustering.min_size):
            groups.append(sorted(close))
        else:
            other.extend(close)
    return groups, sorted(other), matrix, vocab


def cluster_label(members: Sequence[int], matrix, vocab: Sequence[str],
                  stories: Sequence[StoryGroup], population: Sequence[int],
                  count: int) -> tuple[str, ...]:
    """The group's most distinctive words (see the module docstring); `population` is every
    clustered story, for the outside mean."""
    import numpy as np

    if matrix is None or not members:
        return ()
    inside = np.asarray(matrix[list(members)].mean(axis=0)).ravel()
    rest = sorted(set(population) - set(members))
    outside = (np.asarray(matrix[rest].mean(axis=0)).ravel() if rest
               else np.zeros(matrix.shape[1]))
    used = np.asarray((matrix[list(members)] > 0).sum(axis=0)).ravel()
    picked = {w for i in members for w in stories[i].lead.keywords}
    need = max(1, math.ceil(len(members) / 4))
    score = (inside - outside).round(12)
    candidates = [j for j in np.flatnonzero((used >= need) & (score > 0)).tolist()]
    candidates.sort(key=lambda j: (-(score[j] * (1.5 if vocab[j] in picked else 1.0)),
                                   vocab[j]))
    return tuple(vocab[j] for j in candidates[:count])
