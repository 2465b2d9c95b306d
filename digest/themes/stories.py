"""Same story, several printings: articles whose bodies share most of their 5-character
shingles (Jaccard >= [dedupe].similarity) become one StoryGroup that lists every source.

Bodies are compared without the dateline and punctuation, because two papers print the same
report under different datelines ("东昌府讯" / "本报讯") and with different commas.

Comparing every pair exactly is quadratic: 5,000 articles are 12.5 million pairs. So pairs
are found with a prefix filter (Chaudhuri et al. 2006; Bayardo et al. 2007) and only those
are compared, which gives exactly the pairs the all-pairs comparison gives, not an
approximation as MinHash LSH would: shingles are hashed to 64-bit integers and ordered by
how often the week has them, rarest first (counted per bucket of the hash's top bits: any
fixed total order is correct, rare-first only keeps posting lists short); two sets with
Jaccard >= t must share a shingle among the first |x| - ceil(t * |x|) + 1 of each. The
hashing, ordering, index, candidate bounds and verification are compiled loops (numba, in
`simjoin`, imported here, not at start-up). A candidate's Jaccard is computed on the hashes, and
decided on the shingle strings when it lies within 0.01 of t, so a hash collision (about one
chance in a million a week) cannot flip a decision.
"""

from __future__ import annotations

import functools
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


def _without_dateline(article: StoredArticle) -> str:
    body = "".join(article.paragraphs)
    return _DATELINE_HEAD.sub("", body.lstrip("□■◆▲● "), count=1)


def comparable_text(article: StoredArticle) -> str:
    """The body as two printings of one story share it: no dateline, letters and digits."""
    return _NOT_TEXT.sub("", _without_dateline(article))


# The code point ranges _NOT_TEXT keeps, for the same filter in numpy.
_TEXT_RANGES = ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A), (0x3400, 0x4DBF), (0x4E00, 0x9FFF))


@functools.lru_cache(maxsize=1)
def _text_code_points():
    """A table of every code point (1.1 MB): whether it is one of `_TEXT_RANGES`'."""
    import numpy as np

    table = np.zeros(0x110000, dtype=bool)
    for low, high in _TEXT_RANGES:
        table[low:high + 1] = True
    return table


def _comparable_codes(articles: Sequence[StoredArticle]):
    """`comparable_text` of every article as one array of code points and their lengths:
    the letters-and-digits filter runs in numpy over the whole week, where a regex per
    article took a sixth of the merging."""
    import numpy as np

    bodies = [_without_dateline(a) for a in articles]
    # surrogatepass: a lone surrogate (possible in JSON input) is a code point the filter drops
    raw = np.frombuffer("".join(bodies).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    # one lookup a character in a table of every code point (1.1 MB), and each body's kept
    # count from a running sum at its ends: a third of the time of ten comparisons a
    # character and a bincount of each character's body
    keep = _text_code_points()[raw]
    kept = np.zeros(raw.size + 1, dtype=np.int64)
    np.cumsum(keep, out=kept[1:])
    ends = np.cumsum(np.fromiter(map(len, bodies), dtype=np.int64, count=len(bodies)))
    lengths = np.diff(kept[ends], prepend=0)
    return np.ascontiguousarray(raw[keep]), lengths


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


def similar_pairs(texts: Sequence[str], dedupe: DedupeConfig) -> list[tuple[int, int]]:
    """The same pairs as `similar_pairs_exact`, found by prefix filtering (see above; the
    loops are compiled, in `simjoin`)."""
    import numpy as np

    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    codes = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return _similar_pairs_of_codes(codes, lengths, dedupe)


def _similar_pairs_of_codes(codes, lengths, dedupe: DedupeConfig) -> list[tuple[int, int]]:
    """`similar_pairs` of the texts whose code points are `codes`, one after the other."""
    import numpy as np

    from . import simjoin

    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)

    def text(i: int) -> str:
        return codes[starts[i]:starts[i] + lengths[i]].tobytes().decode("utf-32-le",
                                                                         "surrogatepass")

    t = dedupe.similarity
    if t <= 0:  # every pair qualifies (Jaccard >= 0): nothing to filter
        return similar_pairs_exact([text(i) for i in range(lengths.size)], dedupe)
    size = dedupe.shingle
    found: list[tuple[int, int]] = []
    short: dict[str, list[int]] = {}  # a text shorter than a shingle is its only shingle
    for i in np.flatnonzero((lengths > 0) & (lengths < size)).tolist():
        short.setdefault(text(i), []).append(i)
    for same in short.values():
        found.extend((a, b) for k, a in enumerate(same) for b in same[k + 1:])
    hashes, offsets = simjoin.shingle_hashes(codes, starts, lengths, size)
    if hashes.size:
        # Global order: fewest shingles first (counted per bucket of the hash's top bits, a
        # linear-time stand-in for counts of texts), ties by hash. Any fixed total order is
        # correct; rarest first keeps posting lists short.
        bits = simjoin.bucket_bits(int(hashes.size))
        counts = simjoin.bucket_counts(hashes, bits)
        # Ranks of the buckets by count (capped: 16-bit keys sort in linear time; 32-bit
        # ranks keep the table small for the cache).
        bucket_rank = np.empty(counts.size, dtype=np.int32)
        bucket_rank[np.argsort(np.minimum(counts, 65535).astype(np.uint16), kind="stable")
                    ] = np.arange(counts.size, dtype=np.int32)
        keys, key_starts, sizes = simjoin.ordered_sets(hashes, offsets, bucket_rank, bits)
        prefix = np.minimum(sizes, sizes - np.ceil(t * sizes - 1e-9).astype(np.int64) + 1)
        # Hashes give the exact Jaccard unless two shingles collide (64-bit hash: about one
        # chance in 10**6 a week); a collision moves the value by a hair, so a pair within
        # 0.01 of the threshold is decided on the shingle strings themselves.
        ys, xs, values = simjoin.prefix_join(keys, key_starts, sizes, prefix, t, t - 0.01,
                                             bits)
        for y, x, value in zip(ys.tolist(), xs.tolist(), values.tolist()):
            if abs(value - t) < 0.01:
                value = simjoin.exact_jaccard(codes, starts[y], starts[y] + lengths[y],
                                              starts[x], starts[x] + lengths[x], size)
                if value < 0:  # too many distinct characters to pack: compare strings
                    value = jaccard(shingles(text(y), size), shingles(text(x), size))
            if value >= t:
                found.append((y, x))
    return sorted(set(found))


def merge_same_stories(articles: Sequence[StoredArticle],
                       dedupe: DedupeConfig) -> tuple[StoryGroup, ...]:
    """Group printings of one story (transitively); every article lands in exactly one group."""
    ordered = sorted(articles, key=reading_order)
    return _groups(ordered, _similar_pairs_of_codes(*_comparable_codes(ordered), dedupe))


def merge_same_stories_exact(articles: Sequence[StoredArticle],
                             dedupe: DedupeConfig) -> tuple[StoryGroup, ...]:
    """`merge_same_stories` by comparing every pair: the reference for tests and benchmarks."""
    ordered = sorted(articles, key=reading_order)
    texts = [comparable_text(a) for a in ordered]
    return _groups(ordered, similar_pairs_exact(texts, dedupe))
