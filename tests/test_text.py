"""Sentence splitting, the two tokeniser backends, user dictionary and stopwords."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from digest.config import TextConfig
from digest.text import (JiebaTokenizer, RjiebaTokenizer, builtin_stopwords, load_stopwords,
                         make_tokenizer, read_user_dict, split_sentences,
                         split_sentences_textrank4zh)

SEED = sorted((Path(__file__).resolve().parent.parent / "seeds").glob("*.txt"))[0]


def texts(text: str, min_chars: int = 1) -> list[str]:
    return [s.text for s in split_sentences(text, min_chars)]


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def jieba_tokenizer(cache_dir) -> JiebaTokenizer:
    return JiebaTokenizer(cache_dir)


@pytest.fixture(scope="session")
def rjieba_tokenizer() -> RjiebaTokenizer:
    return RjiebaTokenizer()


# --- sentences -------------------------------------------------------------------------------


def test_terminators_full_width_and_ascii():
    assert texts("一句。二句！三句？四句；五句…六句!七句?八句;九句") == [
        "一句。", "二句！", "三句？", "四句；", "五句…", "六句!", "七句?", "八句;", "九句"]


def test_closing_quote_or_bracket_stays_with_its_sentence():
    assert texts("他说：“要努力。”大家鼓掌（掌声）。会议结束！）后来") == [
        "他说：“要努力。”", "大家鼓掌（掌声）。", "会议结束！）", "后来"]


def test_decimals_dates_and_addresses_stay_whole():
    assert texts("增长3.5%，总量2.1亿元。2022.7.22举行。详见www.gov.cn网站.完") == [
        "增长3.5%，总量2.1亿元。", "2022.7.22举行。", "详见www.gov.cn网站.", "完"]


def test_ellipsis_runs_and_mixed_marks_end_once():
    assert texts("他想了想……然后走了?!再见...下次") == ["他想了想……", "然后走了?!", "再见...", "下次"]


def test_trailing_fragment_without_punctuation_is_kept():
    assert texts("第一句。没有句号的结尾") == ["第一句。", "没有句号的结尾"]


def test_line_breaks_end_sentences_and_spaces_are_trimmed():
    assert texts("　　标题行\n  正文第一句。 正文第二句。\n\n尾") == [
        "标题行", "正文第一句。", "正文第二句。", "尾"]


def test_list_numbers_join_their_item_and_stray_quotes_their_sentence():
    assert texts("1.加强领导。2.落实责任。") == ["1.加强领导。", "2.落实责任。"]
    assert texts("他说完了。”\n”\n下一段") == ["他说完了。”", "下一段"]


def test_minimum_length_is_configurable():
    assert texts("短。这一句足够长了。", min_chars=6) == ["这一句足够长了。"]


def test_offsets_point_into_the_text():
    text = SEED.read_text(encoding="utf-8")
    spans = split_sentences(text)
    assert len(spans) > 100
    assert all(text[s.start:s.end] == s.text for s in spans)
    assert [s.start for s in spans] == sorted(s.start for s in spans)


def test_empty_and_blank_text_have_no_sentences():
    assert split_sentences("") == []
    assert split_sentences(" \n\u3000\n") == []


ALPHABET = "聊城会议要求。！？；…!?;.．”“）（3１a \n\u3000"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=ALPHABET, max_size=40), min_size=1, max_size=5))
def test_splitting_joined_texts_splits_each_text(parts):
    """The batch ranker splits many articles at once; it must equal splitting each one."""
    joined = "\n".join(parts)
    expected, offset = [], 0
    for part in parts:
        expected += [(s.start + offset, s.end + offset) for s in split_sentences(part)]
        offset += len(part) + 1
    assert [(s.start, s.end) for s in split_sentences(joined)] == expected


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=80))
def test_sentences_are_trimmed_and_carry_a_word(text):
    for s in split_sentences(text):
        assert s.text == s.text.strip() and s.text
        assert any(c.isalnum() for c in s.text)


def textrank4zh_split(text: str) -> list[str]:
    """textrank4zh 0.3 SentenceSegmentation.segment, verbatim in logic."""
    res = [text]
    for sep in ["?", "!", ";", "？", "！", "。", "；", "……", "…", "\n"]:
        text, res = res, []
        for seq in text:
            res += seq.split(sep)
    return [s.strip() for s in res if len(s.strip()) > 0]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=80))
def test_textrank4zh_splitter_matches_textrank4zh(text):
    spans = split_sentences_textrank4zh(text)
    assert [s.text for s in spans] == textrank4zh_split(text)
    assert all(text[s.start:s.end] == s.text for s in spans)


# --- tokenisers ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["jieba_tokenizer", "rjieba_tokenizer"])
def test_tokens_cover_the_text_exactly(backend, request):
    tokenizer = request.getfixturevalue(backend)
    text = SEED.read_text(encoding="utf-8")
    tagged = tokenizer.tag(text)
    assert "".join(word for word, _ in tagged) == text
    assert "".join(tokenizer.cut(text)) == text
    assert all(isinstance(flag, str) and flag for _, flag in tagged)


@pytest.mark.parametrize("backend", ["jieba_tokenizer", "rjieba_tokenizer"])
def test_backends_segment_and_tag_a_plain_sentence_alike(backend, request):
    tokenizer = request.getfixturevalue(backend)
    assert tokenizer.tag("我们建设文明城市。") == [
        ("我们", "r"), ("建设", "vn"), ("文明城市", "ns"), ("。", "x")]


def test_rjieba_cut_agrees_with_jieba_cut_on_a_seed(jieba_tokenizer, rjieba_tokenizer):
    text = SEED.read_text(encoding="utf-8")
    assert rjieba_tokenizer.cut(text) == jieba_tokenizer.cut(text)


def test_rjieba_flags_follow_words(rjieba_tokenizer):
    flags: dict[str, set[str]] = {}
    for word, flag in rjieba_tokenizer.tag(SEED.read_text(encoding="utf-8")):
        flags.setdefault(word, set()).add(flag)
    assert RjiebaTokenizer.flags_follow_words and all(len(f) == 1 for f in flags.values())


def test_user_dictionary_applies_to_both_backends(tmp_path):
    user_dict = tmp_path / "userdict.txt"
    user_dict.write_text("\ufeff督履诺活动 10 nz\n创城 n\n\n", encoding="utf-8")
    assert read_user_dict(user_dict) == [("督履诺活动", 10, "nz"), ("创城", None, "n")]
    for tokenizer in (RjiebaTokenizer(user_dict), JiebaTokenizer(tmp_path / "c", user_dict)):
        assert ("督履诺活动", "nz") in tokenizer.tag("年中督履诺活动举行")
        assert "创城" in tokenizer.cut("推进创城工作")


def test_jieba_cache_goes_to_the_cache_dir(tmp_path):
    before = set(Path(tempfile.gettempdir()).glob("jieba*.cache"))
    JiebaTokenizer(tmp_path / "state" / "cache").tag("一句话")
    assert (tmp_path / "state" / "cache" / "jieba.cache").is_file()
    assert set(Path(tempfile.gettempdir()).glob("jieba*.cache")) == before


def test_make_tokenizer_picks_the_configured_backend_once(cache_dir):
    first = make_tokenizer(TextConfig(tokenizer="rjieba"), cache_dir)
    assert first.name == "rjieba"
    assert make_tokenizer(TextConfig(tokenizer="rjieba"), cache_dir) is first
    assert make_tokenizer(TextConfig(tokenizer="jieba"), cache_dir).name == "jieba"


# --- stopwords -------------------------------------------------------------------------------


def test_builtin_stopwords_ship_with_the_package():
    words = builtin_stopwords()
    assert {"的", "了", "我们", "。"} <= words
    assert "" not in words and len(words) > 1000


def test_extra_stopwords_are_added(tmp_path):
    extra = tmp_path / "stop.txt"
    extra.write_text("会议\n  强调 \n\n", encoding="utf-8")
    words = load_stopwords(extra)
    assert {"会议", "强调", "的"} <= words
    assert "会议" not in load_stopwords(None)
