"""The default engine's compiled loops (numba): the word table's hashing and probing, and
per article the sentence graph, PageRank, boilerplate, MMR and keywords (``rank_batch``).

Compiled on first use and cached on disk next to this file (``__pycache__``); `make`
compiles them right after installing (``digest.rank.compile_loops``).
"""

from __future__ import annotations

import sys

from ..jit import numba
import numpy as np


def _load_numba_arrays_without_scipy() -> None:
    """numba's array support, loaded at the first compiled call, imports scipy.linalg (0.05-0.3
    s, 30 MiB) only to find a BLAS for np.dot, which no loop here uses: load it now with
    scipy hidden. Later imports of scipy (the themes stage) are not affected."""
    hidden = "scipy.linalg"
    if hidden in sys.modules or "numba.np.arraymath" in sys.modules:
        return
    sys.modules[hidden] = None  # type: ignore[assignment]  # its import fails
    try:
        import numba.np.arraymath  # noqa: F401
    except ImportError:
        pass
    finally:
        if hidden in sys.modules and sys.modules[hidden] is None:
            del sys.modules[hidden]


_load_numba_arrays_without_scipy()


# What the ranker needs to know of a token, as bits of Lexicon.flags: has a letter, digit or
# CJK character; is a content word (sentence similarity); is a keyword candidate; is one of
# the boilerplate words (lexicon.DIRECTIVE_WORDS...). The loops read them as constants.
WORDY, CONTENT, VERTEX, DIRECTIVE, ATTENDANCE, EVENT = (1 << i for i in range(6))

# ---------------------------------------------------------------------------------------------
# The word table (lexicon.WordTable): FNV-1a over code points, open addressing


@numba.njit(cache=True, nogil=True, error_model="numpy")
def fnv1a(codes: np.ndarray, start: int, end: int) -> np.uint64:
    value = np.uint64(0xCBF29CE484222325)
    for i in range(start, end):
        value = (value ^ np.uint64(codes[i])) * np.uint64(0x100000001B3)
    return value


# A slot holds what a probe needs in one cache line: the word's id + 1 (0: an empty slot), its
# hash (as int64: the same bits), and where its code points are in the pool (start, length).
# Only a slot whose hash and length match sends the probe to the pool; the word's own arrays
# (hashes, starts, lengths by id) are not read at all, which halves the cache misses of a
# lookup in a table of 100,000 words.
SLOT_FIELDS = 4


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _key(codes, start, end):
    """``fnv1a`` in int64 arithmetic (it wraps as uint64 does): the same 64 bits."""
    value = np.int64(-3750763034362895579)  # 0xCBF29CE484222325
    for i in range(start, end):
        value = (value ^ np.int64(codes[i])) * np.int64(0x100000001B3)
    return value


@numba.njit(cache=True, nogil=True, error_model="numpy")
def table_find(codes, start, end, key, slots, pool):
    mask = len(slots) - 1
    at = key & mask
    n = end - start
    while True:
        entry = slots[at, 0]
        if entry == 0:
            return -1
        if slots[at, 1] == key and slots[at, 3] == n:
            base = slots[at, 2]
            same = True
            for k in range(n):
                if pool[base + k] != codes[start + k]:
                    same = False
                    break
            if same:
                return entry - 1
        at = (at + 1) & mask


@numba.njit(cache=True, nogil=True, error_model="numpy")
def table_insert(slots, hashes, starts, lengths, i):
    """``hashes``: the table's hashes as int64 (a view)."""
    mask = len(slots) - 1
    at = hashes[i] & mask
    while slots[at, 0] != 0:
        at = (at + 1) & mask
    slots[at, 0], slots[at, 1], slots[at, 2], slots[at, 3] = i + 1, hashes[i], starts[i], \
        lengths[i]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def table_rehash(slots, hashes, starts, lengths, count):
    for i in range(count):
        table_insert(slots, hashes, starts, lengths, i)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def table_lookup_batch(codes, articles, slots, pool):
    """Ids of the words in ``codes`` (-1: unknown), and how many words each article has:
    words are joined by code point 0, articles by 1. If the articles do not come out as
    ``articles`` or a word is empty, every id is -2."""
    ids = np.empty(len(codes) + 1, np.int64)
    counts = np.zeros(articles, np.int64)
    n, t, a, start = len(codes), 0, 0, 0
    broken = False
    for i in range(n + 1):
        code = codes[i] if i < n else 1
        if code > 1:
            continue
        if i > start:
            if a < articles:
                ids[t] = table_find(codes, start, i, _key(codes, start, i), slots, pool)
                counts[a] += 1
            t += 1
        elif code == 0:
            broken = True
        if code == 1:
            a += 1
        start = i + 1
    ids = ids[:t]
    if broken or a != articles:
        ids[:] = -2
    return ids, counts


@numba.njit(cache=True, nogil=True, error_model="numpy")
def table_add_missing(codes, ids, slots, hashes, pool, starts, lengths, count, used):
    """Gives each word of ``codes`` whose id is -1 (unknown to ``table_lookup_batch``) its
    id, adding new words to the table in order of first occurrence, from id ``count`` on;
    the arrays must have room (``WordTable.lookup_adding``; ``hashes`` as int64). Returns
    the new count and the new end of the pool."""
    n, t, start = len(codes), 0, 0
    for i in range(n + 1):
        code = codes[i] if i < n else 1
        if code > 1:
            continue
        if i > start:
            if ids[t] == -1:
                key = _key(codes, start, i)
                found = table_find(codes, start, i, key, slots, pool)
                if found < 0:
                    found = count
                    hashes[found], starts[found], lengths[found] = key, used, i - start
                    pool[used:used + i - start] = codes[start:i]
                    used += i - start
                    table_insert(slots, hashes, starts, lengths, found)
                    count += 1
                ids[t] = found
            t += 1
        start = i + 1
    return count, used


@numba.njit(cache=True, nogil=True, error_model="numpy")
def table_find_words(hashes, starts, lengths, pool, first, count, slots, other_pool):
    """The ids in another table (``slots``, ``other_pool``) of words ``first`` to ``count``
    of a table, -1 where it does not have one. Both hash alike: a word's hash is reused."""
    out = np.empty(max(count - first, 0), np.int64)
    for i in range(first, count):
        out[i - first] = table_find(pool, starts[i], starts[i] + lengths[i], hashes[i], slots,
                                    other_pool)
    return out


# ---------------------------------------------------------------------------------------------
# Ranking

# numpy on flat arrays over a batch, each of its ~150 array passes costs more than the loop it
# replaces, and the whole took 2.5x the tokenizer's time; compiled, it takes a fraction of it.
# Every sum runs in document order within one article, so a result never depends on the batch
# or on what the lexicon saw before.

_CHECK_EVERY = 4  # PageRank tests for convergence every few rounds
_MAX_ROUNDS = 100
_MMR_WEIGHT = 0.7  # relevance against redundancy with the sentences already picked


@numba.njit(cache=True, nogil=True, error_model="numpy")
def length_factor(chars: int, short: int = 20, typical: int = 40) -> float:
    """A key point is read at a glance: among equally central sentences prefer the shorter,
    mildly (weight (typical / chars) ** 0.25); fragments under ``short`` characters are
    damped."""
    chars = max(chars, 1)
    if chars < short:
        return chars / short * (typical / short) ** 0.25
    return (typical / chars) ** 0.25


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _round12(value: float) -> float:
    """``np.round(value, 12)``: last-bit noise is no rank."""
    return np.rint(value * 1e12) / 1e12


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _walk_weights(out, personalization, alpha):
    """The personalisation normalised (uniform when it sums to 0) and each node's alpha /
    out-degree (0 for a node without edges), shared by the edge and dense forms."""
    n = len(out)
    total = 0.0
    for i in range(n):
        total += personalization[i]
    p = np.empty(n)
    for i in range(n):
        p[i] = personalization[i] / total if total > 0 else 1.0 / n
    share = np.zeros(n)
    for i in range(n):
        if out[i] > 0:
            share[i] = alpha / out[i]
    return p, share


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _close_round(x, last, teleport, spread, dangling) -> float:
    """The end of a PageRank round, shared by the edge and dense forms: teleport and what the
    dangling nodes held added to `x` in place; returns the L1 change from `last`."""
    stuck = 0.0
    for i in dangling:
        stuck += last[i]
    change = 0.0
    for i in range(len(x)):
        value = x[i] + teleport[i]
        if len(dangling):
            value += stuck * spread[i]
        x[i] = value
        change += abs(value - last[i])
    return change


@numba.njit(cache=True, nogil=True, error_model="numpy")
def edge_pagerank(n: int, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray,
                  personalization: np.ndarray, alpha: float, tol: float) -> np.ndarray:
    """Personalised PageRank of a symmetric graph given as an edge list (row, col, weight;
    repeated edges add up), by power iteration from the uniform vector, as networkx 2.x
    computes it: a node without edges jumps by the personalisation; every few rounds, stop
    when the last round changed the vector by less than n * tol (L1)."""
    out = np.zeros(n)
    for e in range(len(rows)):
        out[rows[e]] += weights[e]
    p, share = _walk_weights(out, personalization, alpha)
    unweighted = True
    for e in range(len(rows)):
        unweighted = unweighted and weights[e] == 1.0
    teleport = (1 - alpha) * p
    spread = alpha * p  # of what the dangling nodes hold
    dangling = np.flatnonzero(out == 0)
    x = np.full(n, 1.0 / n)
    last = np.empty(n)
    sent = np.empty(n)  # what each node passes along each of its edges this round
    for rounds in range(1, _MAX_ROUNDS + 1):
        last, x = x, last
        for i in range(n):
            sent[i] = share[i] * last[i]
        x[:] = 0.0
        if unweighted:
            for e in range(len(rows)):
                x[rows[e]] += sent[cols[e]]
        else:
            for e in range(len(rows)):
                x[rows[e]] += weights[e] * sent[cols[e]]
        change = _close_round(x, last, teleport, spread, dangling)
        if rounds % _CHECK_EVERY == 0 and change < n * tol:
            break
    return x


@numba.njit(cache=True, nogil=True, error_model="numpy")
def dense_pagerank(weights: np.ndarray, personalization: np.ndarray, alpha: float,
                   tol: float) -> np.ndarray:
    """``edge_pagerank`` of the graph whose edge i -> j weighs ``weights[i, j]`` (0: none),
    to the bit: every sum runs over j in the same order, and the zeros it adds change no
    sum. Column by column over the transposed matrix, so that each round is a few passes
    the processor does several lanes at a time, not one indirect step an edge (the
    sentence graph of a news article is mostly dense)."""
    n = weights.shape[0]
    by_source = np.ascontiguousarray(weights.T)  # by_source[j, i]: weight of i -> j
    out = np.zeros(n)
    for j in range(n):
        for i in range(n):
            out[i] += by_source[j, i]
    p, share = _walk_weights(out, personalization, alpha)
    teleport = (1 - alpha) * p
    spread = alpha * p  # of what the dangling nodes hold
    dangling = np.flatnonzero(out == 0)
    x = np.full(n, 1.0 / n)
    last = np.empty(n)
    for rounds in range(1, _MAX_ROUNDS + 1):
        last, x = x, last
        x[:] = 0.0
        for j in range(n):
            sent = share[j] * last[j]
            row = by_source[j]
            for i in range(n):
                x[i] += row[i] * sent
        change = _close_round(x, last, teleport, spread, dangling)
        if rounds % _CHECK_EVERY == 0 and change < n * tol:
            break
    return x


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _locate_tokens(pid, t0, t1, start, body_start, s_start, s_end, k0, k1, lex_length,
                   lex_word, lex_flags, index, sentence, in_deck, words, flags):
    """The tokens of one article with a letter, digit or CJK character, written to the
    buffers: their position in the batch, their sentence (index in the article, -1 if in
    none: the deck, stray marks), whether they belong to the deck, their word id and flags.
    ``start`` is the article's offset. Returns how many."""
    n, at, k = 0, start, k0
    for t in range(t0, t1):
        here = at
        at += lex_length[pid[t]]
        if not lex_flags[pid[t]] & WORDY:
            continue
        while k < k1 and s_end[k] <= here:
            k += 1
        index[n] = t
        sentence[n] = k - k0 if k < k1 and s_start[k] <= here else -1
        in_deck[n] = here < body_start
        words[n] = lex_word[pid[t]]
        flags[n] = lex_flags[pid[t]]
        n += 1
    return n


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _sentence_graph(words, sentence, in_deck, flags, m, word_idf, slot):
    """Cosine similarity of IDF-weighted word sets between the article's m sentences (dense,
    no self-loops) and each sentence's cosine to the deck. Words are numbered by first
    occurrence through ``slot`` (word id -> number, -1 when unseen; left as found)."""
    n = len(words)
    cell_row = np.empty(n, np.int64)
    cell_col = np.empty(n, np.int64)
    col_word = np.empty(n, np.int64)
    col_last_row = np.empty(n, np.int64)
    cells = columns = 0
    for k in range(n):
        if not flags[k] & CONTENT or (sentence[k] < 0 and not in_deck[k]):
            continue
        row = sentence[k] if sentence[k] >= 0 else m  # the deck is row m
        word = words[k]
        col = slot[word]
        if col < 0:
            col = columns
            slot[word] = col
            col_word[col] = word
            col_last_row[col] = -1
            columns += 1
        if col_last_row[col] == row:  # rows come in runs: a repeat is in the current run
            continue
        col_last_row[col] = row
        cell_row[cells], cell_col[cells] = row, col
        cells += 1
    for c in range(columns):
        slot[col_word[c]] = -1
    norm = np.zeros(m + 1)
    weight = np.empty(cells)
    for c in range(cells):
        weight[c] = word_idf[col_word[cell_col[c]]]
        norm[cell_row[c]] += weight[c] * weight[c]
    for c in range(cells):
        weight[c] /= np.sqrt(norm[cell_row[c]])
    # Cells by column (a counting sort, stable: document order within a column).
    start = np.zeros(columns + 1, np.int64)
    for c in range(cells):
        start[cell_col[c] + 1] += 1
    for c in range(columns):
        start[c + 1] += start[c]
    fill = start[:-1].copy()
    column_rows = np.empty(cells, np.int64)
    column_weights = np.empty(cells)
    for c in range(cells):
        at = fill[cell_col[c]]
        column_rows[at], column_weights[at] = cell_row[c], weight[c]
        fill[cell_col[c]] = at + 1
    similarity = np.zeros((m, m))
    to_deck = np.zeros(m)
    for col in range(columns):
        lo, hi = start[col], start[col + 1]
        if column_rows[lo] == m:  # the deck comes first in the text, so in a column
            deck_weight = column_weights[lo]
            lo += 1
            for a in range(lo, hi):
                to_deck[column_rows[a]] += column_weights[a] * deck_weight
        # Rows rise within a column: only i < j is summed, and mirrored below. Each cell
        # gets the same products in the same column order as a full loop would give it.
        for a in range(lo, hi):
            i, wa = column_rows[a], column_weights[a]
            for b in range(a + 1, hi):
                similarity[i, column_rows[b]] += wa * column_weights[b]
    for i in range(m):
        for j in range(i + 1, m):
            similarity[j, i] = similarity[i, j]
    return similarity, to_deck


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _boilerplate(sentence, flags, m):
    """x0.6 for a sentence with two or more 要/必须/务必/应当; x0.5 for one whose last word is
    出席/参加/陪同/列席, or 会议/活动/仪式 right after one; never for the lede."""
    directives = np.zeros(m, np.int64)
    attendance_line = np.zeros(m, np.bool_)
    last = -1  # previous token in a sentence
    for k in range(len(sentence)):
        s = sentence[k]
        if s < 0:
            continue
        if flags[k] & DIRECTIVE:
            directives[s] += 1
        before = last >= 0 and sentence[last] == s and flags[last] & ATTENDANCE != 0
        # the last word decides
        attendance_line[s] = flags[k] & ATTENDANCE != 0 or (flags[k] & EVENT != 0 and before)
        last = k
    factor = np.ones(m)
    for s in range(1, m):
        if directives[s] >= 2:
            factor[s] *= 0.6
        if attendance_line[s]:
            factor[s] *= 0.5
    return factor


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _mmr_pick(relevance, similarity, chars, min_chars, wanted, budget):
    """Maximal marginal relevance: round after round, the candidate with the best
    0.7 relevance - 0.3 (max similarity to the picks), until ``wanted`` are picked; with a
    character budget (>= 0), a sentence that no longer fits is passed over."""
    m = len(relevance)
    best = 0.0
    for i in range(m):
        if chars[i] >= min_chars:
            best = max(best, relevance[i])
    scale = best if best > 0 else 1.0
    picked = np.zeros(m, np.bool_)
    redundancy = np.zeros(m)
    used = 0
    for _ in range(wanted):
        chosen, top = -1, 0.0
        for i in range(m):
            if picked[i] or chars[i] < min_chars or (budget >= 0 and used + chars[i] > budget):
                continue
            gain = _round12(_MMR_WEIGHT * (relevance[i] / scale)
                            - (1 - _MMR_WEIGHT) * redundancy[i])
            if chosen < 0 or gain > top:
                chosen, top = i, gain
        if chosen < 0:
            break
        picked[chosen] = True
        used += chars[chosen]
        for j in range(m):
            redundancy[j] = max(redundancy[j], similarity[chosen, j])
    return picked


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _keywords(index, words, sentence, in_deck, flags, word_idf, slot, keywords, window,
              alpha, tol, out, out_score):
    """TextRank over co-occurrence of nouns within ``window`` content words of a sentence;
    teleport by IDF (doubled for words of the deck); score x sqrt(IDF). Writes to ``out`` the
    batch position of each keyword's first occurrence, best first, and to ``out_score`` its
    score; returns how many."""
    n = len(words)
    sequence = np.empty(n, np.int64)  # what a reader reads: content words of the body
    length = 0
    for k in range(n):
        if flags[k] & CONTENT and sentence[k] >= 0:
            sequence[length] = k
            length += 1
    node = np.full(length, -1, np.int64)
    node_word = np.empty(length, np.int64)
    node_token = np.empty(length, np.int64)
    nodes = 0
    for q in range(length):
        k = sequence[q]
        if not flags[k] & VERTEX:
            continue
        v = slot[words[k]]
        if v < 0:
            v = nodes
            slot[words[k]] = v
            node_word[v], node_token[v] = words[k], index[k]
            nodes += 1
        node[q] = v
    if nodes == 0:
        return 0
    # Edges, each way, by distance then direction: summing them in this order is part of the
    # result, kept fixed.
    most = 2 * length * max(window - 1, 0)
    rows = np.empty(most, np.int64)
    cols = np.empty(most, np.int64)
    edges = 0
    for distance in range(1, window):
        first = edges
        for q in range(length - distance):
            a, c = node[q], node[q + distance]
            if a >= 0 and c >= 0 and a != c and \
                    sentence[sequence[q]] == sentence[sequence[q + distance]]:
                rows[edges] = a
                cols[edges] = c
                edges += 1
        for e in range(first, edges):  # the other way
            rows[edges + e - first] = cols[e]
            cols[edges + e - first] = rows[e]
        edges += edges - first
    # Words of the deck (any word with a letter: the deck is short) get twice the teleport.
    deck_marks = np.zeros(nodes, np.bool_)
    for k in range(n):
        if in_deck[k]:
            v = slot[words[k]]
            if v >= 0:
                deck_marks[v] = True
    idf = np.empty(nodes)
    teleport = np.empty(nodes)
    for v in range(nodes):
        idf[v] = word_idf[node_word[v]]
        teleport[v] = idf[v] * (2.0 if deck_marks[v] else 1.0)
        slot[node_word[v]] = -1
    scores = edge_pagerank(nodes, rows[:edges], cols[:edges], np.ones(edges), teleport,
                           alpha, tol)
    # Centrality alone crowns 工作/发展 in every article; weighting by IDF keeps the words
    # that tell articles apart, which is what theme grouping needs.
    for v in range(nodes):
        scores[v] = _round12(scores[v] * np.sqrt(idf[v]))
    count = min(keywords, nodes)
    order = np.argsort(-scores, kind="mergesort")  # stable: ties keep the first occurrence
    for r in range(count):
        out[r] = node_token[order[r]]
        out_score[r] = scores[order[r]]
    return count


@numba.njit(cache=True, nogil=True, error_model="numpy")
def rank_batch(pid, token_start, article_start, body_start, s_start, s_end, s_chars,
               sentence_start, wanted, budget, min_chars, keywords, lex_length, lex_word,
               lex_flags, word_idf, sentence_alpha, sentence_tol, headline_weight,
               keyword_alpha, keyword_tol, window):
    """The default engine on a batch: for each article, the scores of its body sentences and
    which are picked, and the batch positions of its keywords (``keywords`` slots an article,
    -1 where unused). ``s_chars`` is each sentence's length as picking sees it (0: never
    picked)."""
    size = len(article_start)
    scores = np.zeros(len(s_start))
    picked = np.zeros(len(s_start), np.bool_)
    found = np.full(size * keywords, -1, np.int64)
    found_score = np.zeros(size * keywords)
    slot = np.full(len(word_idf), -1, np.int64)
    most = 0
    for a in range(size):
        most = max(most, token_start[a + 1] - token_start[a])
    index = np.empty(most, np.int64)
    sentence = np.empty(most, np.int64)
    in_deck = np.empty(most, np.bool_)
    words = np.empty(most, np.int64)
    flags = np.empty(most, np.uint8)
    for a in range(size):
        k0, k1 = sentence_start[a], sentence_start[a + 1]
        m = k1 - k0
        n = _locate_tokens(pid, token_start[a], token_start[a + 1], article_start[a],
                           body_start[a], s_start, s_end, k0, k1, lex_length, lex_word,
                           lex_flags, index, sentence, in_deck, words, flags)
        if keywords > 0:
            _keywords(index[:n], words[:n], sentence[:n], in_deck[:n], flags[:n], word_idf,
                      slot, keywords, window, keyword_alpha, keyword_tol,
                      found[a * keywords:(a + 1) * keywords],
                      found_score[a * keywords:(a + 1) * keywords])
        if m == 0:
            continue
        similarity, to_deck = _sentence_graph(words[:n], sentence[:n], in_deck[:n],
                                              flags[:n], m, word_idf, slot)
        prior = np.empty(m)
        for i in range(m):
            prior[i] = 1.0 / np.sqrt(1.0 + i) * (1.0 + headline_weight * to_deck[i])
        centrality = dense_pagerank(similarity, prior, sentence_alpha, sentence_tol)
        factor = _boilerplate(sentence[:n], flags[:n], m)
        chars = s_chars[k0:k1]
        for i in range(m):
            scores[k0 + i] = centrality[i] * factor[i] * length_factor(chars[i])
        picked[k0:k1] = _mmr_pick(scores[k0:k1], similarity, chars, min_chars, wanted[a],
                                  budget)
    return scores, picked, found, found_score
