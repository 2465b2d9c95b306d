"""Same story, several printings: articles whose bodies share most of their 5-character
shingles (Jaccard >= [dedupe].similarity) become one StoryGroup that lists every source.

Bodies are compared without the dateline and punctuation, because two papers print the same
report under different datelines ("东昌府讯" / "本报讯") and with different commas.

Comparing every pair exactly is quadratic: 5,000 articles are 12.5 million pairs. So pairs
are found with a prefix filter (Chaudhuri et al. 2006; Bayardo et al. 2007's all-pairs) and
then verified with exact Jaccard over the shingle strings, which gives exactly the pairs the
all-pairs comparison gives, not an approximation as MinHash LSH would: order every shingle
by how many articles of the week contain it (rarest first); two sets with Jaccard >= t must
share a shingle among the first |x| - ceil(t * |x|) + 1 of each. Rare shingles make short
posting lists, so few pairs are ever looked at. The shingles are packed into integers with
numpy for the filter (imported here, not at start-up); a packing that could collide (an
alphabet too large for 64 bits) only adds candidates, which exact verification rejects, and
misses a pair only if two different shingles collide on a 64-bit hash inside one pair.
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


def _shingle_codes(texts: Sequence[str], size: int):
    """Per text, the sorted unique integer codes of its shingles (numpy arrays; empty for a
    text shorter than one shingle, which `similar_pairs` handles on its own)."""
    import numpy as np

    chars = [np.frombuffer(t.encode("utf-32-le"), dtype=np.uint32) for t in texts]
    every = np.concatenate(chars) if chars else np.zeros(0, np.uint32)
    present = np.unique(every)  # the week's alphabet, to pack characters densely
    bits = max(1, int(present.size).bit_length())
    exact = bits * size <= 64
    codes = []
    with np.errstate(over="ignore"):
        for cp in chars:
            n = cp.size - size + 1
            if n <= 0:
                codes.append(np.zeros(0, dtype=np.uint64))
                continue
            ids = np.searchsorted(present, cp).astype(np.uint64)
            value = np.zeros(n, dtype=np.uint64)
            for k in range(size):
                if exact:  # injective: `bits` bits a character
                    value = (value << np.uint64(bits)) | ids[k:k + n]
                else:  # polynomial hash mod 2**64
                    value = value * np.uint64(0x100000001B3) + ids[k:k + n] + np.uint64(1)
            codes.append(np.unique(value))
    return codes


def similar_pairs(texts: Sequence[str], dedupe: DedupeConfig) -> list[tuple[int, int]]:
    """The same pairs as `similar_pairs_exact`, found by prefix filtering (see above)."""
    import numpy as np

    t = dedupe.similarity
    if t <= 0:  # every pair qualifies (Jaccard >= 0): nothing to filter
        return similar_pairs_exact(texts, dedupe)
    candidates: set[tuple[int, int]] = set()
    short: dict[str, list[int]] = {}  # a text shorter than a shingle is its only shingle
    for i, text in enumerate(texts):
        if 0 < len(text) < dedupe.shingle:
            short.setdefault(text, []).append(i)
    for same in short.values():
        candidates.update((a, b) for k, a in enumerate(same) for b in same[k + 1:])
    codes = _shingle_codes(texts, dedupe.shingle)
    sizes = np.array([c.size for c in codes], dtype=np.int64)
    if sizes.sum() > 0:
        every = np.concatenate(codes)
        owner = np.repeat(np.arange(len(codes)), sizes)
        vocab, token, freq = np.unique(every, return_inverse=True, return_counts=True)
        # Global order: rarest shingle first, ties by code (any fixed total order is
        # correct; rarest first keeps posting lists short).
        rank = np.empty(vocab.size, dtype=np.int64)
        rank[np.lexsort((vocab, freq))] = np.arange(vocab.size)
        order = np.lexsort((rank[token], owner))
        owner, token = owner[order], token[order]
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        prefix = sizes - np.ceil(t * sizes - 1e-9).astype(np.int64) + 1
        prefix = np.clip(prefix, 0, sizes)
        position = np.arange(owner.size) - starts[owner]
        # A shingle only one article has cannot make a pair.
        keep = (position < prefix[owner]) & (freq[token] > 1)
        p_owner, p_token = owner[keep], token[keep]
        by_token = np.argsort(p_token, kind="stable")
        p_owner, p_token = p_owner[by_token], p_token[by_token]
        for docs in np.split(p_owner, np.flatnonzero(np.diff(p_token)) + 1):
            if docs.size > 1:
                docs = sorted(set(docs.tolist()))
                candidates.update((a, b) for k, a in enumerate(docs) for b in docs[k + 1:])
    cache: dict[int, frozenset[str]] = {}

    def exact(i: int) -> frozenset[str]:
        if i not in cache:
            cache[i] = shingles(texts[i], dedupe.shingle)
        return cache[i]

    pairs = []
    for i, j in sorted(candidates):
        a, b = exact(i), exact(j)
        small, large = sorted((len(a), len(b)))
        # Jaccard <= small / large: skip the set operations when that cannot reach t.
        if small >= t * large - _EPS and jaccard(a, b) >= t:
            pairs.append((i, j))
    return pairs


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
