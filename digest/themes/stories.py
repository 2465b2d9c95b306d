"""Same story, several printings: articles whose bodies share most of their 5-character
shingles (Jaccard >= [dedupe].similarity) become one StoryGroup that lists every source.

Bodies are compared without the dateline and punctuation, because two papers print the same
report under different datelines ("东昌府讯" / "本报讯") and with different commas.

Comparing every pair exactly is quadratic: 5,000 articles are 12.5 million pairs. So pairs
are found with a prefix filter (Chaudhuri et al. 2006; Bayardo et al. 2007) and only those
are compared, which gives exactly the pairs the all-pairs comparison gives, not an
approximation as MinHash LSH would: shingles are hashed to 64-bit integers (numpy, imported
here, not at start-up) and ordered by how many texts of the week have them, rarest first
(counted per bucket of the hash's top bits: any fixed total order is correct, rare-first
only keeps posting lists short); two sets with Jaccard >= t must share a shingle among the
first |x| - ceil(t * |x|) + 1 of each. A candidate's Jaccard is computed on the hashes, and
decided on the shingle strings when it lies within 0.01 of t, so a hash collision (about one
chance in a million a week) cannot flip a decision.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from ..config import DedupeConfig
from ..model import StoredArticle, StoryGroup
from ..weeks import reading_order

# Only letters and digits take part in shingles: punctuation, spaces and quote styles vary
# between papers printing the same text.
_NOT_TEXT = re.compile(r"[^0-9A-Za-z\u3400-\u4dbf\u4e00-\u9fff]+")
_DATELINE_HEAD = re.compile(r"^\S{0,12}?(讯|电)\s*(\d{1,2}月\d{1,2}日)?")
# Floating-point slack so that a similarity exactly at the threshold counts as the same story.
_EPS = 1e-12


def comparable_text(article: StoredArticle) -> str:
    """The body as two printings of one story share it: no dateline, letters and digits."""
    body = "".join(article.paragraphs)
    body = _DATELINE_HEAD.sub("", body.lstrip("□■◆▲● "), count=1)
    return _NOT_TEXT.sub("", body)


def shingles(text: str, size: int) -> frozenset[str]:
    if len(text) <= size:
        return frozenset([text]) if text else frozenset()
    return frozenset(text[i:i + size] for i in range(len(text) - size + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def _lead_order(article: StoredArticle) -> tuple:
    # The fullest printing leads; among equals, the earliest in reading order.
    return (-len("".join(article.paragraphs)), reading_order(article))


def _groups(ordered: Sequence[StoredArticle], pairs) -> tuple[StoryGroup, ...]:
    parent = list(range(len(ordered)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    members: dict[int, list[StoredArticle]] = {}
    for i, article in enumerate(ordered):
        members.setdefault(root(i), []).append(article)
    groups = []
    for printings in members.values():
        lead, *others = sorted(printings, key=_lead_order)
        groups.append(StoryGroup(lead=lead, also_in=tuple(sorted(others, key=reading_order))))
    return tuple(sorted(groups, key=lambda g: reading_order(g.lead)))


def similar_pairs_exact(texts: Sequence[str], dedupe: DedupeConfig) -> list[tuple[int, int]]:
    """Every pair (i < j) with Jaccard >= threshold, by comparing all pairs (the reference
    the fast path is tested against; quadratic)."""
    sets = [shingles(t, dedupe.shingle) for t in texts]
    return [(i, j) for i in range(len(sets)) for j in range(i + 1, len(sets))
            if jaccard(sets[i], sets[j]) >= dedupe.similarity]


def _sorted_unique(values):
    import numpy as np

    values = np.sort(values)
    if values.size < 2:
        return values
    keep = np.empty(values.size, dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def _hashed_shingles(texts: Sequence[str], size: int) -> list:
    """Each text's distinct shingles as sorted 64-bit hashes (polynomial over code points,
    mod 2**64), computed for all texts at once; empty for a text shorter than a shingle."""
    import numpy as np

    lengths = [len(t) for t in texts]
    cp = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    count = max(0, cp.size - size + 1)
    value = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(size):
            value = value * np.uint64(0x100000001B3) + cp[k:k + count] + np.uint64(1)
    out, start = [], 0
    for length in lengths:
        out.append(_sorted_unique(value[start:start + length - size + 1])
                   if length >= size else np.zeros(0, dtype=np.uint64))
        start += length
    return out


def _pairs_in_groups(keys, members):
    """All pairs (a < b) of `members` that share a key (`keys` sorted)."""
    import numpy as np

    if keys.size < 2:
        return np.zeros((0, 2), np.int64)
    bounds = np.flatnonzero(np.diff(keys)) + 1
    starts = np.concatenate(([0], bounds))
    sizes = np.diff(np.concatenate((starts, [keys.size])))
    out = []
    for s in np.unique(sizes[sizes > 1]).tolist():
        first = starts[sizes == s]
        block = members[first[:, None] + np.arange(s)[None, :]]
        x, y = np.triu_indices(s, 1)
        out.append(np.stack((block[:, x].ravel(), block[:, y].ravel()), axis=1))
    if not out:
        return np.zeros((0, 2), np.int64)
    both = np.concatenate(out)
    return np.sort(both, axis=1)


def similar_pairs(texts: Sequence[str], dedupe: DedupeConfig) -> list[tuple[int, int]]:
    """The same pairs as `similar_pairs_exact`, found by prefix filtering (see above)."""
    import numpy as np

    t = dedupe.similarity
    if t <= 0:  # every pair qualifies (Jaccard >= 0): nothing to filter
        return similar_pairs_exact(texts, dedupe)
    size = dedupe.shingle
    found: list[tuple[int, int]] = []
    short: dict[str, list[int]] = {}  # a text shorter than a shingle is its only shingle
    for i, text in enumerate(texts):
        if 0 < len(text) < size:
            short.setdefault(text, []).append(i)
    for same in short.values():
        found.extend((a, b) for k, a in enumerate(same) for b in same[k + 1:])
    hashes = _hashed_shingles(texts, size)
    sizes = [h.size for h in hashes]
    if sum(sizes):
        # Global order: fewest texts first (counted per bucket of the hash's top 22 bits,
        # a linear-time stand-in for exact counts), ties by hash. Any fixed total order is
        # correct; rarest first keeps posting lists short.
        shift = np.uint64(64 - 22)
        counts = np.bincount((np.concatenate(hashes) >> shift).astype(np.int64),
                             minlength=1 << 22)
        keys, owners = [], []
        n = len(texts)
        # Where each text's prefix ends in the global order, and how many shingles follow.
        edge_count = np.zeros(n, dtype=np.int64)
        edge_hash = np.zeros(n, dtype=np.uint64)
        suffix = np.zeros(n, dtype=np.int64)
        for i, h in enumerate(hashes):
            if not h.size:
                continue
            c = counts[(h >> shift).astype(np.int64)]
            order = np.lexsort((h, c))[:h.size - math.ceil(t * h.size - 1e-9) + 1]
            edge_count[i], edge_hash[i] = c[order[-1]], h[order[-1]]
            suffix[i] = h.size - order.size
            chosen = h[order][c[order] > 1]  # a shingle only one text has makes no pair
            keys.append(chosen)
            owners.append(np.full(chosen.size, i, dtype=np.int64))
        keys, owners = np.concatenate(keys), np.concatenate(owners)
        by_key = np.argsort(keys, kind="stable")
        candidates = _pairs_in_groups(keys[by_key], owners[by_key])
        codes = np.sort(candidates[:, 0] * np.int64(n) + candidates[:, 1])
        starts = np.flatnonzero(np.concatenate(([True], codes[1:] != codes[:-1]))
                                ) if codes.size else np.zeros(0, dtype=np.int64)
        shared = np.diff(np.concatenate((starts, [codes.size])))  # prefix shingles in common
        codes = codes[starts]
        candidates = np.stack((codes // n, codes % n), axis=1)
        # Overlap bound: the common shingles of x and y ordered up to the earlier of the two
        # prefix ends are exactly the shared prefix shingles; the rest lie in the suffix of
        # the text whose prefix ends first. Jaccard >= t needs an overlap of at least
        # t / (1 + t) * (|x| + |y|).
        edge_rank = np.empty(n, dtype=np.int64)
        edge_rank[np.lexsort((edge_hash, edge_count))] = np.arange(n)
        x, y = candidates[:, 0], candidates[:, 1]
        later = np.where(edge_rank[x] <= edge_rank[y], suffix[x], suffix[y])
        sizes_arr = np.asarray(sizes, dtype=np.int64)
        need = t / (1 + t) * (sizes_arr[x] + sizes_arr[y])
        candidates = candidates[shared + later >= need - 1e-6]
        cache: dict[int, frozenset[str]] = {}

        def strings(i: int) -> frozenset[str]:
            if i not in cache:
                cache[i] = shingles(texts[i], size)
            return cache[i]

        for i, j in candidates.tolist():
            small, large = sorted((sizes[i], sizes[j]))
            if small < t * large - 1e-6:  # Jaccard <= small / large cannot reach t
                continue
            a, b = (hashes[i], hashes[j]) if sizes[i] <= sizes[j] else (hashes[j], hashes[i])
            at = np.minimum(np.searchsorted(b, a), b.size - 1)
            common = int(np.count_nonzero(b[at] == a))  # both sorted and distinct
            value = common / (sizes[i] + sizes[j] - common)
            # Hashes give the exact Jaccard unless two shingles collide (64-bit hash: about
            # one chance in 10**6 a week); a collision moves the value by a hair, so a pair
            # near the threshold is decided on the strings themselves.
            if abs(value - t) < 0.01:
                value = jaccard(strings(i), strings(j))
            if value >= t:
                found.append((i, j))
    return sorted(set(found))


def merge_same_stories(articles: Sequence[StoredArticle],
                       dedupe: DedupeConfig) -> tuple[StoryGroup, ...]:
    """Group printings of one story (transitively); every article lands in exactly one group."""
    ordered = sorted(articles, key=reading_order)
    texts = [comparable_text(a) for a in ordered]
    return _groups(ordered, similar_pairs(texts, dedupe))


def merge_same_stories_exact(articles: Sequence[StoredArticle],
                             dedupe: DedupeConfig) -> tuple[StoryGroup, ...]:
    """`merge_same_stories` by comparing every pair: the reference for tests and benchmarks."""
    ordered = sorted(articles, key=reading_order)
    texts = [comparable_text(a) for a in ordered]
    return _groups(ordered, similar_pairs_exact(texts, dedupe))
