"""The fast paths of decoding and of the parser's line features against straightforward
reference implementations (the code they replaced): the same text, the same features, on
the seeds, the dev papers (when ../shared is here) and generated hostile text."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

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

def reference_bigrams(text: str) -> set[str]:
    return {text[k:k + 2] for k in range(len(text) - 1)}


def reference_rare(grams: list, window: list[int]) -> tuple[list, set]:
    df: dict = {}
    for j in window:
        for gram in grams[j]:
            df[gram] = df.get(gram, 0) + 1
    common = max(3, len(window) // 50)
    frequent = {gram for gram, count in df.items() if count > common}
    everywhere = {gram for gram, count in df.items() if count > max(5, len(window) // 10)}
    return [None if g is None else g - frequent for g in grams], everywhere


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


def test_line_features_match_the_plain_bigram_reference(monkeypatch):
    from digest.parse import context, lines as lines_mod

    texts = _feature_texts()
    fast = [context.features(lines_mod.read_lines(text)) for text in texts]
    monkeypatch.setattr(lines_mod, "_bigrams", reference_bigrams)
    monkeypatch.setattr(lines_mod, "_rare", reference_rare)
    slow = [context.features(lines_mod.read_lines(text)) for text in texts]
    assert len(lines_mod.read_lines(texts[-1])) > 2 * lines_mod._GROUP
    for a, b in zip(fast, slow):
        assert a == b
        assert [list(x) for x in a] == [list(x) for x in b]  # the same order of attributes


def test_frequent_bigrams_counted_in_groups_match_one_count():
    from collections import Counter
    from random import Random

    from digest.parse import lines as lines_mod

    rnd = Random(7)
    for _ in range(50):
        sets = [set(rnd.sample(range(60), rnd.randrange(0, 30)))
                for _ in range(rnd.randrange(0, 3 * lines_mod._GROUP))]
        for common in (0, 1, 3, 7, 40, 200):
            count = Counter(g for s in sets for g in s)
            assert lines_mod._frequent(sets, common) == {g for g, n in count.items()
                                                         if n > common}
