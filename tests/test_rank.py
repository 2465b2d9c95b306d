"""The ranking: PageRank on hand-checked graphs, textrank4zh parity, the default mode."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from digest.config import Config, PathsConfig, RankConfig, TextConfig
from digest.model import Article
from digest.rank import Ranker, pick_count
from digest.rank.engines import (pagerank, textrank4zh_graph, textrank4zh_similarity,
                                 within_budget)
from digest.rank.kernels import CONTENT, _sentence_graph, dense_pagerank, edge_pagerank
from digest.rank.lexicon import DictionaryFlags, DictionaryWords, Lexicon, WordTable
from digest.text import (load_stopwords, make_tokenizer, split_sentences,
                         split_sentences_textrank4zh)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEEDS = Path(__file__).resolve().parent.parent / "seeds"

ARTICLE = (
    "东昌府讯 7月23日，2022年聊城市科技活动周在我区启动。副市长王刚出席启动仪式并宣布科技活动周启动。"
    "区委常委、副区长张妍参加启动仪式。张妍在致辞中说，近年来，东昌府区牢固树立创新发展理念，"
    "优化科技创新环境，科技创新能力明显增强。本次科技活动周以“走进科技，你我同行”为主题。"
    "活动期间，全区将开展科普展览、科技下乡等一系列活动。会议要求，要提高认识，要加强领导，"
    "要狠抓落实。")
TITLE = "2022年聊城市科技活动周在我区启动"


@pytest.fixture(scope="session")
def state(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("state")


def make_ranker(state: Path, mode: str = "default", **rank) -> Ranker:
    config = dataclasses.replace(
        Config(), paths=PathsConfig(state=state), text=TextConfig(),
        rank=RankConfig(mode=mode, **rank))
    return Ranker(config)


# --- PageRank --------------------------------------------------------------------------------


def test_pagerank_of_a_path_graph_by_hand():
    # a - b - c: x_a = 0.05 + 0.85 x_b / 2 and x_b = 0.05 + 0.85 (x_a + x_c), so
    # x_a = 0.07125 / 0.2775 and x_b = 0.05 + 1.7 x_a.
    path = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], float)
    a = 0.07125 / 0.2775
    # A path is bipartite: the power iteration oscillates, so it needs many rounds.
    assert pagerank(path, tol=1e-14, max_iter=2000) == pytest.approx([a, 0.05 + 1.7 * a, a],
                                                                    abs=1e-9)


def test_pagerank_sends_a_dangling_node_by_the_personalisation():
    # a - b and an isolated c: x_c = 0.05 + 0.85 x_c / 3, the rest split evenly.
    pair = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]], float)
    c = 0.05 / (1 - 0.85 / 3)
    assert pagerank(pair, tol=1e-12) == pytest.approx([(1 - c) / 2, (1 - c) / 2, c], abs=1e-9)


def test_personalised_pagerank_leans_to_the_teleport_weights():
    path = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], float)
    scores = pagerank(path, np.array([1.0, 0.0, 0.0]), tol=1e-12)
    assert scores[0] > scores[2] and scores.sum() == pytest.approx(1.0)


def graph(edges: list[tuple[int, int, float]], n: int) -> np.ndarray:
    dense = np.zeros((n, n))
    for i, j, w in edges:
        dense[i, j] = dense[j, i] = w
    return dense


def edges_of(dense: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, cols = np.nonzero(dense)
    return rows, cols, dense[rows, cols]


def test_edge_pagerank_agrees_with_the_dense_reference():
    weighted = graph([(0, 1, 1.0), (1, 2, 2.0), (2, 3, 0.5)], 5)  # node 4 is dangling
    teleport = np.array([5.0, 1, 1, 1, 1])
    scores = edge_pagerank(5, *edges_of(weighted), teleport, 0.7, 1e-6)
    assert scores.sum() == pytest.approx(1.0)
    assert scores == pytest.approx(pagerank(weighted, teleport, alpha=0.7, tol=1e-13), abs=1e-5)
    path = graph([(0, 1, 1.0), (1, 2, 1.0)], 3)
    a = 0.07125 / 0.2775  # the path graph by hand, as in test_pagerank_of_a_path_graph_by_hand
    assert edge_pagerank(3, *edges_of(path), np.ones(3), 0.85, 1e-12) == pytest.approx(
        [a, 0.05 + 1.7 * a, a], abs=1e-6)


def test_edge_pagerank_adds_up_repeated_edges():
    rows, cols = np.array([0, 1, 0, 1, 1, 2]), np.array([1, 0, 1, 0, 2, 1])
    twice = edge_pagerank(3, rows, cols, np.ones(6), np.ones(3), 0.85, 1e-9)
    weighted = graph([(0, 1, 2.0), (1, 2, 1.0)], 3)
    assert twice == pytest.approx(edge_pagerank(3, *edges_of(weighted), np.ones(3), 0.85, 1e-9))


# --- textrank4zh compatibility ---------------------------------------------------------------


def test_textrank4zh_similarity_by_hand():
    assert textrank4zh_similarity(["城市", "文明", "创建"], ["文明", "创建", "工作", "督导"]) == \
        pytest.approx(2 / (math.log(3) + math.log(4)))
    assert textrank4zh_similarity(["城市"], ["城市"]) == 0.0  # log 1 + log 1 = 0
    assert textrank4zh_similarity([], ["城市"]) == 0.0


def test_textrank4zh_graph_is_the_pairwise_similarity_with_self_loops():
    sentences = [["城市", "文明", "创建", "文明"], ["文明", "创建", "工作"], ["督导"], [],
                 ["城市", "工作", "督导", "检查"]]
    expected = [[textrank4zh_similarity(a, b) for b in sentences] for a in sentences]
    assert textrank4zh_graph(sentences) == pytest.approx(np.array(expected))


def test_textrank4zh_mode_matches_the_reference_run(state):
    """Top-3 and keywords recorded from textrank4zh 0.3 itself (bench/ref_textrank4zh.py)."""
    reference = json.loads((FIXTURES / "textrank4zh_reference.json").read_text("utf-8"))
    ranker = make_ranker(state, mode="textrank4zh", sentences=3, keywords=8)
    same = 0
    for article in reference["articles"]:
        summary = ranker.summarize(article["text"])
        best_first = sorted(summary.sentences, key=lambda s: (-s.score, s.index))
        same += [s.index for s in best_first] == article["top3"]
        assert [s.text for s in best_first] == [
            split_sentences_textrank4zh(article["text"])[i].text for i in article["top3"]] \
            or [s.index for s in best_first] != article["top3"]
    assert same / len(reference["articles"]) >= 0.95


def test_textrank4zh_mode_keywords_match_the_reference_run(state):
    reference = json.loads((FIXTURES / "textrank4zh_reference.json").read_text("utf-8"))
    ranker = make_ranker(state, mode="textrank4zh", keywords=8)
    same = sum(list(ranker.summarize(a["text"]).keywords) == a["keywords"]
               for a in reference["articles"])
    assert same / len(reference["articles"]) >= 0.9


# --- how many --------------------------------------------------------------------------------


def test_pick_count_from_top_ratio_or_sentences():
    assert pick_count(10, RankConfig(sentences=3)) == 3
    assert pick_count(2, RankConfig(sentences=3)) == 2
    assert pick_count(10, RankConfig(ratio=0.25)) == 3  # rounded up
    assert pick_count(1, RankConfig(ratio=0.1)) == 1
    assert pick_count(10, RankConfig(ratio=0.5), top=2) == 2


def test_within_budget_skips_what_does_not_fit():
    lengths = [50, 120, 30, 40]
    assert within_budget([1, 0, 2, 3], lengths, 3, 100) == [0, 2]
    assert within_budget([1, 0, 2, 3], lengths, 2, None) == [1, 0]


# --- the default mode ------------------------------------------------------------------------


def test_summarize_returns_document_order_with_scores(state):
    summary = make_ranker(state, sentences=3, keywords=5).summarize(ARTICLE, TITLE)
    spans = split_sentences(ARTICLE)
    indices = [s.index for s in summary.sentences]
    assert len(indices) == 3 and indices == sorted(indices)
    assert all(spans[s.index].text.endswith(s.text) and s.score > 0
               for s in summary.sentences)
    assert indices[0] == 0  # the lede, shown without its dateline
    assert summary.sentences[0].text == spans[0].text.removeprefix("东昌府讯 7月23日，")
    assert not any(s.text.startswith("会议要求") for s in summary.sentences)
    assert 0 < len(summary.keywords) <= 5 and all(k in ARTICLE for k in summary.keywords)
    assert "科技" in summary.keywords


def test_count_top_ratio_and_budget(state):
    assert len(make_ranker(state, sentences=2).summarize(ARTICLE).sentences) == 2
    assert len(make_ranker(state, sentences=2).summarize(ARTICLE, top=4).sentences) == 4
    candidates = len(split_sentences(ARTICLE, 6))
    ratio = make_ranker(state, ratio=0.5).summarize(ARTICLE).sentences
    assert len(ratio) == math.ceil(candidates / 2)
    budget = make_ranker(state, sentences=5, char_budget=60).summarize(ARTICLE).sentences
    assert budget and sum(len(s.text) for s in budget) <= 60


def test_short_sentences_are_not_candidates(state):
    summary = make_ranker(state, sentences=5).summarize("好。很好。这是一句足够长的话。")
    assert [s.text for s in summary.sentences] == ["这是一句足够长的话。"]


def test_empty_and_punctuation_only_text(state):
    ranker = make_ranker(state)
    for text in ("", "。。！", "\n\n"):
        summary = ranker.summarize(text, "标题")
        assert summary.sentences == () and summary.keywords == ()


def seed_articles() -> list[Article]:
    from digest import decode, parse

    return [a for path in sorted(SEEDS.glob("*.txt"))
            for a in parse.parse_issue(decode.read_issue_file(path)).articles]


def test_results_do_not_depend_on_batch_or_history(state):
    articles = seed_articles()
    ranker = make_ranker(state)
    batched = list(ranker.summarize_many((a.body, a.title) for a in articles))
    fresh = make_ranker(state)
    alone = [fresh.summarize(a.body, a.title) for a in reversed(articles)][::-1]
    assert batched == alone  # same sentences, same scores to the bit, same keywords


def test_lexicon_resets_do_not_change_results(state, monkeypatch):
    articles = seed_articles()[:12]
    expected = [make_ranker(state).summarize_article(a) for a in articles]
    ranker = make_ranker(state)
    ranker.engine.lexicon._max_size = 50  # cleared before nearly every batch
    got = [ranker.summarize_article(a) for a in articles]
    assert [s.sentences for s in got] == [s.sentences for s in expected]
    assert [s.keywords for s in got] == [s.keywords for s in expected]


def test_summarize_article_uses_the_headline_deck(state):
    article = Article(index=0, title=TITLE, kicker=None, subtitle=None, date=None, place=None,
                      dateline=None, byline=None, kind="news",
                      paragraphs=tuple(ARTICLE.split("。", 3)[:3]))
    ranker = make_ranker(state)
    assert ranker.summarize_article(article) == ranker.summarize(article.body, TITLE)


def test_every_seed_article_gets_key_sentences_and_keywords(state):
    summaries = list(make_ranker(state).summarize_many((a.body, a.title)
                                                       for a in seed_articles()))
    assert all(s.sentences and s.keywords for s in summaries)
    assert all(len(s.sentences) <= 3 and len(s.keywords) <= 8 for s in summaries)


def test_lexicon_maps_a_word_once():
    lexicon = Lexicon(frozenset(["的"]), flags_follow_words=True)
    ids = lexicon.token_ids([("聊城", "ns"), ("的", "uj"), ("聊城", "ns"), ("GDP", "eng")])
    assert ids[0] == ids[2] and len(set(ids)) == 3
    assert [bool(f & CONTENT) for f in lexicon.flags[ids]] == [True, False, True, True]
    assert lexicon.word[lexicon.token_ids([("gdp", "eng")])][0] == lexicon.word[ids[3]]


def test_lexicon_keeps_flags_apart_when_the_tagger_uses_context():
    lexicon = Lexicon(frozenset(), flags_follow_words=False)
    ids = lexicon.token_ids([("发展", "vn"), ("发展", "v"), ("发展", "vn")])
    assert ids[0] == ids[2] != ids[1]
    assert lexicon.word[ids[0]] == lexicon.word[ids[1]]


def test_word_table_matches_whole_words_only():
    table = WordTable()
    words = ["聊城", "聊", "城聊", "GDP", "东昌府区"] + [f"词{i}" for i in range(3000)]  # grows
    for i, word in enumerate(words):
        assert table.add(word) == i
    ids, counts = table.lookup(["聊城\0聊城市\0城", "", "GDP\0gdp\0词2999\0东昌府区\0聊"])
    assert ids.tolist() == [0, -1, -1, 3, -1, 3004, 4, 1] and counts.tolist() == [3, 0, 5]
    assert set(table.lookup(["聊城\0\0GDP"])[0].tolist()) == {-2}  # an empty word


@pytest.mark.parametrize("with_dictionary", [False, True])
def test_cutting_gives_the_same_flags_as_tagging(tmp_path, with_dictionary):
    """The default mode cuts articles and looks words up; new words take their flag from
    the dictionary's table of flags, else from tagging them all at once, a line each, or on
    the line where they occur when they do not come back whole (建在, 必成): every token of
    the seeds gets the flags that tagging the article would give it."""
    tokenizer = make_tokenizer(TextConfig(tokenizer="rjieba"), tmp_path)
    texts = [a.body for a in seed_articles()]
    dictionary = DictionaryFlags.load(tmp_path, tokenizer.tag, "rjieba") \
        if with_dictionary else None
    by_cut = Lexicon(frozenset(), flags_follow_words=True, dictionary=dictionary)
    joined = ["\0".join(tokenizer.cut(text)) for text in texts]
    ids, counts = by_cut.batch_ids(joined, texts, tokenizer.tag)
    tagged = [token for text in texts for token in tokenizer.tag(text)]
    by_tag = Lexicon(frozenset(), flags_follow_words=True)
    expected = by_tag.token_ids(tagged)
    assert counts.sum() == len(tagged) == len(ids)
    assert [by_cut.spelling[i] for i in ids] == [word for word, _ in tagged]
    assert by_cut.flags[ids].tolist() == by_tag.flags[expected].tolist()
    assert any(len(tokenizer.tag(word)) > 1 for word, _ in tagged)  # the context path ran


def test_dictionary_words_are_learnt_as_each_word_would_be(tmp_path):
    """The dictionary's words are learnt from a table made in advance (DictionaryWords,
    cached in the state folder): the same flag bits, the same words (case and spaces aside)
    and the same IDF as learning each word from its flag, with the stopwords applied."""
    tokenizer = make_tokenizer(TextConfig(tokenizer="rjieba"), tmp_path)
    texts = [a.body for a in seed_articles()] + ["GDP与gdp, Ｔ恤和T恤、t恤; B超 的 2022。"]
    joined = ["\0".join(tokenizer.cut(text)) for text in texts]
    stopwords = load_stopwords() | {"gdp"}
    dictionary = DictionaryFlags.load(tmp_path, tokenizer.tag, "rjieba")
    each = Lexicon(stopwords, flags_follow_words=True)
    expected, _ = each.batch_ids(joined, texts, tokenizer.tag)
    for attempt in ("built", "loaded"):
        ahead = Lexicon(stopwords, flags_follow_words=True, cache_dir=tmp_path,
                        dictionary=dictionary)
        ids, _ = ahead.batch_ids(joined, texts, tokenizer.tag)
        assert ahead.flags[ids].tolist() == each.flags[expected].tolist(), attempt
        assert ahead.length[ids].tolist() == each.length[expected].tolist()
        pairs = set(zip(ahead.word[ids].tolist(), each.word[expected].tolist()))
        assert len(pairs) == len(set(ahead.word[ids].tolist())) == \
            len(set(each.word[expected].tolist()))  # the same words
        assert ahead.word_idf[ahead.word[ids]].tolist() == \
            each.word_idf[each.word[expected]].tolist()
        assert ahead.word_count == len(set(ahead.word[ids].tolist()))  # numbered compactly
        assert (tmp_path / f"words-v{DictionaryWords.VERSION}.npz").is_file()


def test_the_lexicon_is_kept_between_runs(tmp_path):
    """What a ranker learnt is kept in the state folder: the next ranker starts with it
    (a user's second run meets its words as known), with the same results; a file that is
    corrupt or was learnt with other stopwords is not used."""
    articles = seed_articles()[:10]
    first = make_ranker(tmp_path)
    expected = first.summarize_articles(articles)
    learnt = first.engine.lexicon
    learnt.keep()
    kept = tmp_path / "cache" / f"lexicon-v{Lexicon.VERSION}.npz"
    assert kept.is_file()
    second = make_ranker(tmp_path)
    lexicon = second.engine.lexicon
    assert len(lexicon) == len(learnt) and lexicon.spelling == learnt.spelling
    assert lexicon.word_count == learnt.word_count
    assert lexicon.flags[:len(learnt)].tolist() == learnt.flags[:len(learnt)].tolist()
    assert second.summarize_articles(articles) == expected
    assert len(lexicon) == len(learnt)  # nothing new to learn
    assert [second.summarize_article(a) for a in reversed(articles)][::-1] == expected
    other = Lexicon(frozenset(["发展"]), flags_follow_words=True, cache_dir=tmp_path / "cache",
                    dictionary=second.engine.lexicon._dictionary)
    assert len(other) == 0  # learnt with other stopwords
    kept.write_bytes(kept.read_bytes()[:1000])  # cut short
    third = make_ranker(tmp_path)
    assert len(third.engine.lexicon) == 0
    assert third.summarize_articles(articles) == expected


def test_dense_pagerank_is_edge_pagerank_to_the_bit():
    rng = np.random.default_rng(7)
    for n in (1, 2, 5, 40):
        weights = rng.random((n, n)) * (rng.random((n, n)) < 0.4)
        weights = weights + weights.T
        np.fill_diagonal(weights, 0.0)
        weights[0, :] = weights[:, 0] = 0.0  # a node without edges
        prior = rng.random(n) + 0.1
        rows, cols = np.nonzero(weights)
        expected = edge_pagerank(n, rows, cols, weights[rows, cols], prior, 0.6, 1e-6)
        assert dense_pagerank(weights, prior, 0.6, 1e-6).tolist() == expected.tolist()


def full_pair_sentence_graph(words, sentence, in_deck, flags, m, word_idf):
    """The sentence graph as first written: every ordered pair of a word's sentences, word
    after word in order of first occurrence, and each sentence's product with the deck's
    cell added for every word (0 where the deck lacks it)."""
    cells: dict[int, list[int]] = {}  # word -> the rows it is in, in document order
    norm = [0.0] * (m + 1)  # summed in document order
    for k, word in enumerate(words.tolist()):
        if not flags[k] & CONTENT or (sentence[k] < 0 and not in_deck[k]):
            continue
        row = int(sentence[k]) if sentence[k] >= 0 else m
        rows = cells.setdefault(word, [])
        if not rows or rows[-1] != row:
            rows.append(row)
            norm[row] += word_idf[word] * word_idf[word]
    similarity, to_deck = np.zeros((m, m)), np.zeros(m)
    for word, rows in cells.items():
        weight = [(row, word_idf[word] / math.sqrt(norm[row])) for row in rows]
        deck = next((w for row, w in weight if row == m), 0.0)
        for i, wi in weight:
            if i == m:
                continue
            to_deck[i] += wi * deck
            for j, wj in weight:
                if j != m and j != i:
                    similarity[i, j] += wi * wj
    return similarity, to_deck


def test_sentence_graph_is_the_full_pair_sum_to_the_bit():
    """The kernel sums each pair once and mirrors it, and skips words the deck lacks: the
    same products in the same order, so the same bits as the full sum."""
    rng = np.random.default_rng(11)
    for trial in range(300):
        m = int(rng.integers(1, 12))
        vocabulary = int(rng.integers(1, 40))
        word_idf = rng.random(vocabulary) * 10 + 0.1
        deck = int(rng.integers(0, 6)) if trial % 3 else 0
        sentence, in_deck = [-1] * deck, [True] * deck
        for s in range(m):
            gap = int(rng.integers(0, 3))  # marks between sentences belong to none
            sentence += [-1] * gap + [s] * int(rng.integers(1, 15))
            in_deck += [False] * (len(sentence) - len(in_deck))
        n = len(sentence)
        words = rng.integers(0, vocabulary, n)
        flags = np.where(rng.random(n) < 0.8, CONTENT, 0).astype(np.uint8)
        sentence, in_deck = np.array(sentence, np.int64), np.array(in_deck, np.bool_)
        slot = np.full(vocabulary, -1, np.int64)
        similarity, to_deck = _sentence_graph(words, sentence, in_deck, flags, m, word_idf,
                                              slot)
        expected, expected_deck = full_pair_sentence_graph(words, sentence, in_deck, flags, m,
                                                           word_idf)
        assert similarity.tolist() == expected.tolist()
        assert to_deck.tolist() == expected_deck.tolist()
        assert (slot == -1).all()  # left as found


def test_batch_ids_refuses_texts_that_were_not_cleaned(tmp_path):
    tokenizer = make_tokenizer(TextConfig(tokenizer="rjieba"), tmp_path)
    lexicon = Lexicon(frozenset(), flags_follow_words=True)
    text = "聊城\0启动"
    with pytest.raises(ValueError, match="NUL"):
        lexicon.batch_ids(["\0".join(tokenizer.cut(text))], [text], tokenizer.tag)


def test_control_characters_in_the_text_do_no_harm(state):
    summary = make_ranker(state).summarize("聊城市科技活动周\0今天启动。全区\1将开展科普展览活动。",
                                           "科技活动周")
    assert summary.sentences and "科技" in "".join(summary.keywords)


def test_default_mode_runs_on_the_jieba_backend_too(state):
    config = dataclasses.replace(Config(), paths=PathsConfig(state=state),
                                 text=TextConfig(tokenizer="jieba"), rank=RankConfig())
    ranker = Ranker(config)
    assert not ranker.engine.lexicon.flags_follow_words  # tags, keyed by word and flag
    summary = ranker.summarize(ARTICLE, TITLE)
    spans = split_sentences(ARTICLE)
    assert [s.index for s in summary.sentences][0] == 0
    assert all(spans[s.index].text.endswith(s.text) for s in summary.sentences)
    assert "科技" in summary.keywords
    with_rjieba = make_ranker(state).summarize(ARTICLE, TITLE)
    assert [s.index for s in summary.sentences] == [s.index for s in with_rjieba.sentences]
