"""The fast paths of decoding and of the parser's line features against straightforward
reference implementations (the code they replaced): the same text, the same features, on
the seeds, the dev papers (when ../shared is here) and generated hostile text."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest import decode

from .conftest import ROOT, SEEDS

ISSUES = ROOT.parent / "shared" / "dev" / "issues"
ISSUE_FILES = sorted(SEEDS.glob("*.txt")) + sorted(ISSUES.glob("*.txt"))

# ------------------------------------------------------------------------------------------
# decoding: the reference is the line-by-line code of before

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
_NOT_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")


def reference_normalise_line(line: str) -> str:
    line = _NOT_TEXT.sub("", line.translate(_ZERO_WIDTH).replace("\x85", " "))
    body = line.lstrip()
    indent = "".join("\u3000" if c in "\u3000\t" else " " for c in line[:len(line) - len(body)])
    body = unicodedata.normalize("NFC", decode._SPACES.sub(" ", body)).rstrip()
    return indent + body if body else ""


def reference_normalise_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(reference_normalise_line(line) for line in text.split("\n"))


def reference_garbage_reason(text: str, encoding: str) -> str | None:
    replaced = text.count("\ufffd")
    if replaced > max(8, 0.01 * len(text)):
        return (f"mostly undecodable: {replaced} replacement characters after decoding as "
                f"{encoding}")
    common = decode._common_hanzi()
    lines = text.split("\n")
    step = max(1, len(lines) // decode._SAMPLE_LINES)
    chinese = intact = 0
    for line in lines[::step]:
        hanzi = [c for c in line[:200] if "\u4e00" <= c <= "\u9fff"]
        if len(hanzi) < 5:
            continue
        chinese += 1
        intact += sum(1 for c in hanzi if c in common) >= 0.6 * len(hanzi)
    if chinese >= 3 and intact < decode._MIN_INTACT * chinese:
        return (f"decodes as {encoding} to nonsense: {intact} of {chinese} lines read as "
                f"Chinese text (mixed or unknown encoding?)")
    return None


def reference_is_binary(data: bytes) -> bool:
    if b"\x00" in data:
        return True
    sample = data[:8192]
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13, 27))
    return controls > len(sample) * 0.01


@pytest.mark.parametrize("path", ISSUE_FILES, ids=lambda p: p.name)
def test_normalising_an_issue_file_matches_the_reference(path: Path):
    text = path.read_text(encoding="utf-8")
    assert decode.normalise_text(text) == reference_normalise_text(text)
    assert decode.garbage_reason(text, "utf-8") == reference_garbage_reason(text, "utf-8")


# characters every rule of normalising touches: spaces of every kind, controls, invisible
# marks, combining marks and what they compose with, line breaks of every kind
HOSTILE = ("\u200b\u200c\u200d\u2060\ufeff\x00\x01\x07\x0b\x0c\x0d\x1b\x1c\x1f\x7f\x85\x9f"
           "\u00a0\u1680\u2000\u2001\u2003\u200a\u2028\u2029\u202f\u205f\u3000\t \n\r"
           "\ufffe\uffff\ud800\udfff e\u0301\u0308\u0323A\u030a\u212b\u00e9\u1100\u1161\u11a8"
           "\uac00\u0f73\u0344\u2126#。，新华社记者本报讯（）《》“”1月２")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(HOSTILE), max_size=80))
def test_normalising_hostile_text_matches_the_reference(text: str):
    assert decode.normalise_text(text) == reference_normalise_text(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["新华社北京电记者", "鏂板崕绀鍖椾含", "中文", "abc", "\ufffd",
                                 "\n", " ", "學習時報", "𠀀𠀁"]), max_size=60))
def test_garbage_check_matches_the_reference(parts: list[str]):
    text = "".join(parts)
    assert decode.garbage_reason(text, "x") == reference_garbage_reason(text, "x")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 9000))
def test_binary_check_matches_the_reference(data: bytes, pad: int):
    data = b"a" * pad + data
    assert decode._is_binary(data) == reference_is_binary(data)


# ------------------------------------------------------------------------------------------
# line features: the bigram sets, counts and rare sets made the plain way

def word_of(gram: int) -> str:
    """The two characters of a `lines._bigrams` entry (its two UTF-32 units as one int)."""
    return chr(gram & 0xFFFFFFFF) + chr(gram >> 32)


def reference_bigrams(text: str) -> set[str]:
    return {text[k:k + 2] for k in range(len(text) - 1)}


def _plain_union(sets) -> set:
    return set().union(*sets)


def _plain_bucket(a: set, b: set) -> str:
    if not a or not b:
        return "none"
    r = len(a & b) / min(len(a), len(b))
    return "0" if r < 0.05 else "1" if r < 0.1 else "2" if r < 0.2 else "3" if r < 0.35 else "4"


def reference_window_signals(texts: list[str], short: list[int], window: list[int]):
    """`lines._window_signals` as plain set unions per short line (the parser's code before
    it counted them in numpy): cohesion over 3 lines, the rare bigrams' cohesion over 8, the
    topic shift over the 8 body lines either side, and the bigrams on more than max(5, 10%)
    of the window lines."""
    n = len(texts)
    grams: list = [None] * n
    for j in window:
        grams[j] = reference_bigrams(texts[j])
    df: dict = {}
    for j in window:
        for gram in grams[j]:
            df[gram] = df.get(gram, 0) + 1
    frequent = {g for g, c in df.items() if c > max(3, len(window) // 50)}
    everywhere = {g for g, c in df.items() if c > max(5, len(window) // 10)}
    rare = [None if g is None else g - frequent for g in grams]
    short_set = set(short)
    body = [set() if j in short_set or g is None else g for j, g in enumerate(grams)]
    out = {}
    for i in short:
        before = _plain_union(grams[max(0, i - 3):i])
        after = _plain_union(grams[i + 1:min(n, i + 4)])
        coh = (_plain_bucket(before, after), _plain_bucket(grams[i], before),
               _plain_bucket(grams[i], after))
        wb = _plain_union(rare[max(0, i - 8):i])
        wa = _plain_union(rare[i + 1:min(n, i + 9)])
        if len(wb) < 10 or len(wa) < 10:
            wide = "none"
        else:
            r = len(wb & wa) / min(len(wb), len(wa))
            wide = "0" if r < 0.03 else "1" if r < 0.06 else "2" if r < 0.1 else \
                "3" if r < 0.2 else "4"
        own = grams[i] - everywhere
        below, above = body[i + 1:min(n, i + 9)], body[max(0, i - 8):i]
        if len(own) < 3 or not any(below) or not any(above):
            shift = "none"
        else:
            gain = (len(_plain_union(own & g for g in below))
                    - len(_plain_union(own & g for g in above))) / len(own)
            shift = "neg" if gain < 0 else "0" if gain < 0.2 else "2" if gain < 0.4 else \
                "4" if gain < 0.6 else "6"
        out[i] = (*coh, wide, shift)
    return out, everywhere


def reference_page_shifts(texts: list[str], grams: list, short: list[int],
                          is_body: list[bool], pages: list[int], everywhere: set[int],
                          width: int = 40) -> dict[int, str]:
    """`lines._page_shifts` the way the parser did it before: each of a short line's
    bigrams searched for in the joined body text of the stretch above it and below it."""
    from bisect import bisect_left
    from itertools import accumulate

    n = len(texts)
    joined = "\n".join(t if b else "" for t, b in zip(texts, is_body))
    offsets = [0, *accumulate(len(t) + 1 if b else 1 for t, b in zip(texts, is_body))]
    out: dict[int, str] = {}
    for i in short:
        own = grams[i] - everywhere
        if len(own) < 3:
            out[i] = "none"
            continue
        k = bisect_left(pages, i)
        lo = max(i - width, pages[k - 1] + 1 if k else 0)
        hi = min(i + width, pages[k] - 1 if k < len(pages) else n - 1)
        a0, a1, b0, b1 = offsets[lo], offsets[i], offsets[i + 1], offsets[hi + 1]
        if a1 - a0 <= i - lo or b1 - b0 <= hi - i:
            out[i] = "none"
            continue
        before = sum(joined.find(word_of(g), a0, a1) >= 0 for g in own)
        after = sum(joined.find(word_of(g), b0, b1) >= 0 for g in own)
        shift = (after - before) / len(own)
        out[i] = "neg" if shift < 0 else "0" if shift < 0.2 else "2" if shift < 0.4 else \
            "4" if shift < 0.6 else "6"
    return out


# one issue of each paper in each layout, the seeds, and the seeds and those six in one file
# (one long issue: the frequent bigrams are counted in several groups of lines)
FEATURE_FILES = sorted(SEEDS.glob("*.txt")) + [
    ISSUES / name for name in ("xhmrdx_20260427.txt", "xhmrdx_20260428.txt",
                               "xhmrdx_20260429.txt", "xxsb_20260427.txt",
                               "xxsb_20260429.txt", "xxsb_20260501.txt")
    if (ISSUES / name).is_file()]


def _feature_texts():
    texts = [decode.normalise_text(p.read_text(encoding="utf-8")) for p in FEATURE_FILES]
    return texts + ["\n\n".join(texts)]


def test_window_signals_match_the_plain_set_reference(monkeypatch):
    from digest.parse import lines as lines_mod

    for text in _feature_texts() + ["短行\n" * 5, "", "一行"]:
        lines = lines_mod.read_lines(text)
        texts = [line.text for line in lines]
        n = len(texts)
        short = [i for i, t in enumerate(texts) if len(t) <= 40 and t[-1:] not in "。！？"]
        window = sorted({j for i in short for j in range(max(0, i - 8), min(n, i + 9))})
        slow, slow_everywhere = reference_window_signals(texts, short, window)
        for numbered_from in (1 << 21, 0):  # 0: the bigrams numbered, as past 2M lines
            monkeypatch.setattr(lines_mod, "_NUMBERED_FROM", numbered_from)
            fast, fast_everywhere = lines_mod._window_signals(texts, short, window)
            every_line = lines_mod._line_keys(texts, np.ones(n, dtype=bool))
            assert lines_mod._window_signals(texts, short, window, every_line) == \
                (fast, fast_everywhere)
            assert fast == slow
            assert {word_of(g) for g in fast_everywhere} == slow_everywhere


def test_page_shifts_match_the_text_search_reference(monkeypatch):
    """On the parser's own inputs (every short line of the seeds and six dev issues, and of
    all of them in one file), and on the same with page headers every 30 lines, with every
    line of one character, and with one or no body line."""
    from digest.parse import lines as lines_mod

    fast = lines_mod._page_shifts
    compared = []

    def both(texts, grams, short, is_body, pages, everywhere, width=40, line_keys=None):
        assert line_keys is not None  # the parser's sorted pairs of every line, shared
        got = fast(texts, grams, short, is_body, pages, everywhere, width, line_keys)
        assert got == reference_page_shifts(texts, grams, short, is_body, pages, everywhere,
                                            width)
        assert fast(texts, grams, short, is_body, pages, everywhere, width) == got
        headers = list(range(0, len(texts), 30))
        assert fast(texts, grams, short, is_body, headers, everywhere, width, line_keys) == \
            reference_page_shifts(texts, grams, short, is_body, headers, everywhere, width)
        compared.append(len(short))
        return got

    monkeypatch.setattr(lines_mod, "_page_shifts", both)
    for text in _feature_texts():
        lines_mod.features(lines_mod.read_lines(text))
    # the seeds alone have 268 short lines; with the six dev issues, over a thousand
    assert len(compared) == len(_feature_texts())
    assert sum(compared) > (1000 if len(FEATURE_FILES) > 5 else 200)
    # the bigrams numbered, as in an issue of two million lines
    monkeypatch.setattr(lines_mod, "_NUMBERED_FROM", 0)
    for text in _feature_texts()[:3]:
        lines_mod.features(lines_mod.read_lines(text))
    grams = [lines_mod._bigrams(t) for t in ("甲乙丙丁", "甲", "乙", "甲乙丙丁")]
    for body in ([False, True, True, False], [False, True, False, False],
                 [False, False, False, False]):
        for short in ([0], [3], [0, 3]):
            texts = ["甲乙丙丁", "甲", "乙", "甲乙丙丁"]
            assert fast(texts, grams, short, body, [], set()) == \
                reference_page_shifts(texts, grams, short, body, [], set())
