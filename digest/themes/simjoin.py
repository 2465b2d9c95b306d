"""Compiled loops of same-story merging (numba): shingle hashes, each text's distinct
shingles in the global order, and the prefix-filter join (see `stories`).

Imported only when a week is grouped (numba, like numpy, must not load at start-up). In
numpy the join had to materialise every pair sharing a prefix shingle (10.5 million for a
5,000-article week, 2.5 s) and loop over candidates in Python; here both are plain loops.

Arithmetic is on uint64 throughout (numba turns uint64 mixed with int64 into float64), and
wraps modulo 2**64 as numpy's does, so the hashes are those of the numpy version.
"""

from __future__ import annotations

import numba
import numpy as np

_PRIME = np.uint64(0x100000001B3)
_ONE = np.uint64(1)


def bucket_bits(shingle_count: int) -> int:
    """Bits of a hash that name its bucket (the order's frequency estimate and the index):
    about one bucket per two shingles of the week, 2**10 to 2**22 buckets."""
    return min(22, max(10, shingle_count.bit_length() - 1))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def shingle_hashes(codes, starts, lengths, size):
    """Every shingle's hash (polynomial over code points, mod 2**64), text after text, and
    where each text's run begins (texts shorter than a shingle have none)."""
    n = lengths.size
    offsets = np.zeros(n + 1, np.int64)
    for i in range(n):
        offsets[i + 1] = offsets[i] + max(0, lengths[i] - size + 1)
    out = np.empty(offsets[n], np.uint64)
    for i in range(n):
        base = starts[i]
        for p in range(offsets[i + 1] - offsets[i]):
            value = np.uint64(0)
            for k in range(size):
                value = value * _PRIME + np.uint64(codes[base + p + k]) + _ONE
            out[offsets[i] + p] = value
    return out, offsets


@numba.njit(cache=True, nogil=True, error_model="numpy")
def ordered_sets(hashes, offsets, bucket_rank, bits):
    """Each text's distinct shingles, ascending in the global order, as keys: the hash with
    its top bits replaced by its bucket's rank (a bijection, so keys compare as shingles do,
    and numeric order is the global order: fewest texts first, then the hash)."""
    n = offsets.size - 1
    low_bits = np.uint64(64 - bits)
    low_mask = (_ONE << low_bits) - _ONE
    keys = np.empty(hashes.size, np.uint64)
    sizes = np.zeros(n, np.int64)
    starts = np.zeros(n + 1, np.int64)
    fill = 0
    for i in range(n):
        starts[i] = fill
        run = hashes[offsets[i]:offsets[i + 1]].copy()
        for p in range(run.size):
            h = run[p]
            run[p] = (np.uint64(bucket_rank[h >> low_bits]) << low_bits) | (h & low_mask)
        run.sort()
        for p in range(run.size):
            if p == 0 or run[p] != run[p - 1]:
                keys[fill] = run[p]
                fill += 1
        sizes[i] = fill - starts[i]
    starts[n] = fill
    return keys[:fill], starts, sizes


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _common(keys, a0, a1, b0, b1):
    """Size of the intersection of two ascending runs of distinct keys."""
    common = 0
    while a0 < a1 and b0 < b1:
        if keys[a0] == keys[b0]:
            common += 1
            a0 += 1
            b0 += 1
        elif keys[a0] < keys[b0]:
            a0 += 1
        else:
            b0 += 1
    return common


@numba.njit(cache=True, nogil=True, error_model="numpy")
def prefix_join(keys, starts, sizes, prefix, t, keep_from, bits):
    """Pairs (y, x), y < x, whose key sets reach Jaccard t, with the Jaccard of each; pairs
    that pass the filters but fall short are returned too when their Jaccard is at least
    `keep_from` (the caller decides those near t on the shingle strings).

    Filters, each a necessary condition: sharing a prefix key; the overlap bound (shared
    prefix keys plus the suffix of the text whose prefix ends first, against the
    t / (1 + t) * (|x| + |y|) overlap Jaccard t needs); the size ratio (Jaccard <= small /
    large)."""
    n = sizes.size
    # Inverted index of the prefix keys by bucket (a counting sort): within a bucket the
    # entries follow text order, so the texts before x come first.
    low_bits = np.uint64(64 - bits)
    buckets = 1 << bits
    head = np.zeros(buckets + 1, np.int64)
    for x in range(n):
        for p in range(starts[x], starts[x] + prefix[x]):
            head[np.int64(keys[p] >> low_bits) + 1] += 1
    for b in range(buckets):
        head[b + 1] += head[b]
    fill = head[:-1].copy()
    entry_text = np.empty(head[buckets], np.int64)
    entry_key = np.empty(head[buckets], np.uint64)
    for x in range(n):
        for p in range(starts[x], starts[x] + prefix[x]):
            b = np.int64(keys[p] >> low_bits)
            entry_text[fill[b]] = x
            entry_key[fill[b]] = keys[p]
            fill[b] += 1
    edge = np.zeros(n, np.uint64)  # the last prefix key: where the prefix ends
    for x in range(n):
        if prefix[x] > 0:
            edge[x] = keys[starts[x] + prefix[x] - 1]

    shared = np.zeros(n, np.int64)
    touched = np.empty(n, np.int64)
    out_y = []
    out_x = []
    out_value = []
    for x in range(n):
        count = 0
        for p in range(starts[x], starts[x] + prefix[x]):
            key = keys[p]
            b = np.int64(key >> low_bits)
            for e in range(head[b], head[b + 1]):
                y = entry_text[e]
                if y >= x:
                    break
                if entry_key[e] == key:
                    if shared[y] == 0:
                        touched[count] = y
                        count += 1
                    shared[y] += 1
        for c in range(count):
            y = touched[c]
            overlap = shared[y]
            shared[y] = 0
            later = sizes[y] - prefix[y] if edge[y] <= edge[x] else sizes[x] - prefix[x]
            if overlap + later < t / (1 + t) * (sizes[x] + sizes[y]) - 1e-6:
                continue
            small = min(sizes[x], sizes[y])
            large = max(sizes[x], sizes[y])
            if small < t * large - 1e-6:
                continue
            common = _common(keys, starts[y], starts[y] + sizes[y], starts[x],
                             starts[x] + sizes[x])
            value = common / (sizes[x] + sizes[y] - common)
            if value >= keep_from:
                out_y.append(y)
                out_x.append(x)
                out_value.append(value)
    return np.array(out_y, np.int64), np.array(out_x, np.int64), np.array(out_value)


def compile_loops() -> float:
    """Compile (or load from numba's cache) every loop here; seconds taken (`make run`)."""
    import time

    from ..config import DedupeConfig
    from .stories import similar_pairs

    start = time.perf_counter()
    similar_pairs(["一二三四五六七八九", "一二三四五六七八十", "甲乙丙丁戊己"], DedupeConfig())
    return time.perf_counter() - start
