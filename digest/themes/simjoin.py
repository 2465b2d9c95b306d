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
def bucket_counts(hashes, bits):
    """Shingles per bucket (the top `bits` bits of the hash)."""
    counts = np.zeros(1 << bits, np.int64)
    shift = np.uint64(64 - bits)
    for h in hashes:
        counts[np.int64(h >> shift)] += 1
    return counts


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
def _radix_pass(source, target, m, shift, count):
    """One stable counting-sort pass of source[:m] into target by the 11 bits at `shift`."""
    digit = np.uint64(2047)
    count[:] = 0
    for p in range(m):
        count[np.int64((source[p] >> shift) & digit) + 1] += 1
    for d in range(2048):
        count[d + 1] += count[d]
    for p in range(m):
        d = np.int64((source[p] >> shift) & digit)
        target[count[d]] = source[p]
        count[d] += 1


@numba.njit(cache=True, nogil=True, error_model="numpy")
def ordered_sets(hashes, offsets, bucket_rank, bits):
    """Each text's distinct shingles, ascending in the global order, as keys: the hash with
    its top bits replaced by its bucket's rank (a bijection, so keys compare as shingles do,
    and numeric order is the global order: fewest texts first, then the hash).

    A text's keys are sorted by their rank (at most 22 bits) in two radix passes, then by
    the whole key where ranks tie (an insertion sort: within one text that is a shingle
    printed twice, or rarely two in one bucket); 3x faster than sorting each text."""
    n = offsets.size - 1
    low_bits = np.uint64(64 - bits)
    low_mask = (_ONE << low_bits) - _ONE
    keys = np.empty(hashes.size, np.uint64)
    sizes = np.zeros(n, np.int64)
    starts = np.zeros(n + 1, np.int64)
    longest = 0
    for i in range(n):
        longest = max(longest, offsets[i + 1] - offsets[i])
    run = np.empty(longest, np.uint64)
    spare = np.empty(longest, np.uint64)
    count = np.zeros(2049, np.int64)
    fill = 0
    for i in range(n):
        starts[i] = fill
        m = offsets[i + 1] - offsets[i]
        for p in range(m):
            h = hashes[offsets[i] + p]
            run[p] = (np.uint64(bucket_rank[h >> low_bits]) << low_bits) | (h & low_mask)
        _radix_pass(run, spare, m, low_bits, count)
        _radix_pass(spare, run, m, low_bits + np.uint64(11), count)
        for p in range(1, m):
            value = run[p]
            q = p
            while q > 0 and run[q - 1] > value:
                run[q] = run[q - 1]
                q -= 1
            run[q] = value
        for p in range(m):
            if p == 0 or run[p] != run[p - 1]:
                keys[fill] = run[p]
                fill += 1
        sizes[i] = fill - starts[i]
    starts[n] = fill
    return keys[:fill], starts, sizes


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _common_reaching(keys, a0, a1, b0, b1, need):
    """Size of the intersection of two ascending runs of distinct keys, or a smaller count
    once it cannot reach `need` any more (`need` 0: always the full count): most candidates
    share far fewer keys than Jaccard t needs, and this stops their comparison when the keys
    left on one side could no longer make it up."""
    common = 0
    while a0 < a1 and b0 < b1:
        if keys[a0] == keys[b0]:
            common += 1
            a0 += 1
            b0 += 1
        else:
            if keys[a0] < keys[b0]:
                a0 += 1
            else:
                b0 += 1
            if common + min(a1 - a0, b1 - b0) < need:
                return common
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
    # entries follow text order, so the texts before x come first. Probing is bound by
    # cache misses (5 million probes into tables of tens of MB), so a bucket's start and its
    # first text sit side by side (a bucket whose first text is x itself or later is skipped
    # without touching the entries), and an entry is one word: its text in the high half, the
    # key's low 32 bits in the low half. Two keys of one bucket agreeing on those 32 bits
    # only add a candidate, which verification rejects.
    low_bits = np.uint64(64 - bits)
    buckets = 1 << bits
    # bucket b: entries from slot[2b] to slot[2b + 2], first text slot[2b + 1]. Counts go
    # two buckets up so that, after the running sum, slot[2(b + 1)] is where b's entries
    # start: the fill cursor, next to the first text (one cache miss a key, not two), and
    # where b + 1 starts once b is filled.
    slot = np.zeros(2 * (buckets + 2), np.int64)
    for x in range(n):
        for p in range(starts[x], starts[x] + prefix[x]):
            slot[2 * (np.int64(keys[p] >> low_bits) + 2)] += 1
    for k in range(1, buckets + 2):
        slot[2 * k] += slot[2 * (k - 1)]
    for b in range(buckets + 1):
        slot[2 * b + 1] = n
    entries = np.empty(slot[2 * (buckets + 1)], np.uint64)
    low_half = np.uint64(0xFFFFFFFF)
    for x in range(n):
        for p in range(starts[x], starts[x] + prefix[x]):
            b = np.int64(keys[p] >> low_bits)
            if slot[2 * b + 1] == n:
                slot[2 * b + 1] = x
            entries[slot[2 * b + 2]] = (np.uint64(x) << np.uint64(32)) | (keys[p] & low_half)
            slot[2 * b + 2] += 1
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
            if slot[2 * b + 1] >= x:
                continue
            low = key & low_half
            for e in range(slot[2 * b], slot[2 * b + 2]):
                y = np.int64(entries[e] >> np.uint64(32))
                if y >= x:
                    break
                if (entries[e] & low_half) == low:
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
            # Jaccard >= keep_from needs common >= keep_from / (1 + keep_from) * (|x| + |y|)
            need = keep_from / (1 + keep_from) * (sizes[x] + sizes[y]) - 1e-6
            common = _common_reaching(keys, starts[y], starts[y] + sizes[y], starts[x],
                                      starts[x] + sizes[x], need)
            value = common / (sizes[x] + sizes[y] - common)
            if value >= keep_from:
                out_y.append(y)
                out_x.append(x)
                out_value.append(value)
    return np.array(out_y, np.int64), np.array(out_x, np.int64), np.array(out_value)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _distinct(ordered):
    """The distinct values of an ascending array (numba's np.unique took 4 times as long)."""
    out = np.empty_like(ordered)
    fill = 0
    for p in range(ordered.size):
        if p == 0 or ordered[p] != ordered[p - 1]:
            out[fill] = ordered[p]
            fill += 1
    return out[:fill]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def exact_jaccard(codes, a0, a1, b0, b1, size):
    """Jaccard of the shingle sets of texts codes[a0:a1] and codes[b0:b1] (each at least
    `size` long), on the shingles themselves, not their hashes: each character is renamed
    to its rank among the two texts' characters, so a shingle packs into 64 bits without
    loss when the ranks take at most 64 // size bits; -1.0 when they take more."""
    la = a1 - a0
    lb = b1 - b0
    chars = np.empty(la + lb, np.uint32)
    chars[:la] = codes[a0:a1]
    chars[la:] = codes[b0:b1]
    alphabet = _distinct(np.sort(chars))
    bits = 1
    while (1 << bits) < alphabet.size:
        bits += 1
    if bits * size > 64:
        return -1.0
    ranks = np.searchsorted(alphabet, chars).astype(np.uint64)
    width = np.uint64(bits)
    runs = []
    for first, length in ((0, la), (la, lb)):
        run = np.empty(length - size + 1, np.uint64)
        for p in range(run.size):
            value = np.uint64(0)
            for k in range(size):
                value = (value << width) | ranks[first + p + k]
            run[p] = value
        runs.append(_distinct(np.sort(run)))
    a, b = runs[0], runs[1]
    common = _common_reaching(np.concatenate((a, b)), 0, a.size, a.size, a.size + b.size, 0.0)
    return common / (a.size + b.size - common)


def compile_loops() -> float:
    """Compile (or load from numba's cache) every loop here; seconds taken (`make run`)."""
    import time

    from ..config import DedupeConfig
    from .stories import similar_pairs

    start = time.perf_counter()
    similar_pairs(["一二三四五六七八九", "一二三四五六七八十", "甲乙丙丁戊己"], DedupeConfig())
    return time.perf_counter() - start
