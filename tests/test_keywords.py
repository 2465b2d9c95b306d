"""Keywords a reader would pick: whole person names, and the store's common words demoted."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from digest import pipeline
from digest.rank import df as rank_df
from digest.config import Config, PathsConfig, RankConfig, TextConfig
from digest.model import KeywordCandidate
from digest.rank import Ranker
from digest.rank.names import find_names, join_names
from digest.store import MIGRATIONS, apply_migrations, connect, open_store
from digest.text import RjiebaTokenizer

from .digest_support import SEEDS, article, parsed_issue, project_config, summary

# Real text from the seeds (004, 001), shortened.
ZHANG = ("东昌府讯 8月18日, 市委副书记、市长张百顺采取“四不两直”方式, 深入我区社区小区、背街小巷、"
         "农贸市场等地督导全国文明城市创建工作。\n在听取我区创城工作开展情况后, 张百顺就发现的问题"
         "提出整改意见。\n张百顺强调, 全国文明城市创建工作是一项系统工程, 要坚持问题导向, 补齐短板。")
ZHANG_TITLE = "张百顺来我区督导深化全国文明城市创建工作"
MA = ("东昌府讯 8月19日, 区委书记马军权在调研生态环境保护工作时指出, 要坚决贯彻落实中央和省、市关于"
      "生态环境保护工作的决策部署。\n马军权一行先后来到水质自动监测站, 详细了解水质监测数据。\n"
      "马军权指出, 水质监测是生态环境保护的基础。")
MA_TITLE = "马军权在调研生态环境保护工作时指出"
JIANG = ("东昌府讯 8月31日早晨6:30,区委副书记、区长江绍华对第18网格全国文明城市创建工作督导检查。"
         "\n江绍华一行先后来到小区、背街小巷, 对乱画、乱堆、飞线等问题进行督导。")
JIANG_TITLE = "江绍华对第18网格全国文明城市创建工作进行督导检查"


def make_ranker(state: Path, user_dict: Path | None = None) -> Ranker:
    config = dataclasses.replace(
        Config(), paths=PathsConfig(state=state), text=TextConfig(user_dict=user_dict),
        rank=RankConfig(keywords=8))
    return Ranker(config)


@pytest.fixture(scope="module")
def ranker(tmp_path_factory) -> Ranker:
    return make_ranker(tmp_path_factory.mktemp("state"))


def boundaries(text: str):
    ends, at = set(), 0
    for word in RjiebaTokenizer().cut(text):
        at += len(word)
        ends.add(at)
    return ends.__contains__


# --- whole names -----------------------------------------------------------------------------


@pytest.mark.parametrize("body, title, name, pieces", [
    (ZHANG, ZHANG_TITLE, "张百顺", {"百顺"}),
    (MA, MA_TITLE, "马军权", {"军权"}),
    (JIANG, JIANG_TITLE, "江绍华", {"绍华", "长江"}),
])
def test_a_name_the_tokenizer_cut_comes_back_whole(ranker, body, title, name, pieces):
    summary = ranker.summarize(body, title)
    words = {c[0] for c in summary.candidates}
    assert name in words and not words & pieces
    assert name in summary.keywords


def test_given_name_length_follows_the_text():
    text = "市人大常委会主任王彤宇带领工作组来我区督导。王彤宇来到社区。区长王睿在会上讲话, 副区长张妍参加。"
    names = find_names(text, boundaries(text))
    # 王彤宇 twice, always whole; 王睿 before 在, 张妍 before 参加: two characters
    assert names == ["王彤宇", "王睿", "张妍"]


def test_a_common_word_after_a_title_is_no_name():
    text = "区委书记高度重视此项工作。"
    assert find_names(text, boundaries(text), {"高度": 6.1}.get) == []


def test_joining_keeps_the_best_place_and_never_shortens_a_word():
    text = "组长王彤宇来我区督导。王彤宇指出, 要加快。穆罕默德说。"
    candidates = [("我区", 0.9), ("王彤", 0.5), ("宇来", 0.4), ("穆罕默德", 0.3)]
    joined = join_names(text, candidates, ["王彤宇", "穆罕默"])
    assert joined == [("我区", 0.9), ("王彤宇", 0.5), ("穆罕默德", 0.3)]


def test_the_user_dictionary_still_wins(tmp_path):
    user_dict = tmp_path / "user.txt"
    user_dict.write_text("百顺 50 nz\n", encoding="utf-8")
    summary = make_ranker(tmp_path / "state", user_dict).summarize(ZHANG, ZHANG_TITLE)
    words = {c[0] for c in summary.candidates}
    assert "百顺" in words and "张百顺" not in words


# --- document frequency ------------------------------------------------------------------


def candidates(*words: str) -> list[KeywordCandidate]:
    return [(w, 1.0 - i / 10, 0.0) for i, w in enumerate(words)]


def test_a_word_in_most_stored_articles_is_demoted():
    found = candidates("工作", "我区", "耕地", "违法", "张百顺")
    df = {"工作": 30, "我区": 14, "耕地": 1, "违法": 2, "张百顺": 3}
    assert rank_df.reweighted(found, df, 48, 3) == ("耕地", "违法", "张百顺")


def test_with_few_articles_stored_the_prior_leads():
    found = candidates("工作", "耕地", "违法")
    # one article stored: every word has the same share, the ranker's order stands
    assert rank_df.reweighted(found, {"工作": 1, "耕地": 1, "违法": 1}, 1, 3) == \
        ("工作", "耕地", "违法")
    # a word common in the general corpus is demoted even in a small store
    common = [("工作", 1.0, 0.6), *candidates("耕地", "违法")[1:]]
    assert rank_df.reweighted(common, {}, 0, 1) == ("违法",)


@pytest.mark.skipif(not SEEDS.is_dir(), reason="seeds/ missing")
def test_store_keywords_do_not_depend_on_the_order_files_came_in(tmp_path):
    files = sorted(SEEDS.glob("*.txt"))
    ranker = make_ranker(tmp_path / "rank-state")
    results = []
    for name, order in (("forward", files), ("backward", files[::-1])):
        config = project_config(tmp_path / name)
        pipeline.ingest_paths(config, order, ranker=ranker)
        with open_store(config) as store:
            results.append({(a.source, a.position): a.keywords for a in store.all_articles()})
            raw = Counter(r[0] for r in store.conn.execute("SELECT word FROM keywords"))
    assert results[0] == results[1]
    shown = Counter(w for words in results[0].values() for w in words)
    # 工作 and 我区 are keywords of 17 and 8 of the 48 articles as ranked alone
    assert raw["工作"] >= 10 and shown["工作"] <= 2
    assert shown["我区"] < raw["我区"]
    assert shown["张百顺"] >= 1 and shown["百顺"] == 0


def _keywords_by_definition(store) -> dict[int, tuple[str, ...]]:
    """Each stored article's keywords as `rank.df.reweighted` picks them from the raw rows."""
    conn = store.conn
    documents = conn.execute("SELECT articles FROM term_documents").fetchone()[0]
    df = dict(conn.execute("SELECT word, articles FROM term_df"))
    found: dict[int, list] = {}
    for article_id, word, score, prior in conn.execute(
            "SELECT article_id, word, score, prior FROM keyword_candidates"
            " ORDER BY article_id, rank"):
        found.setdefault(article_id, []).append((word, score, prior))
    counts = Counter(r[0] for r in conn.execute("SELECT article_id FROM keywords"))
    return {a: rank_df.reweighted(c, df, documents, counts[a]) for a, c in found.items()}


@pytest.mark.skipif(not SEEDS.is_dir(), reason="seeds/ missing")
def test_the_stores_sql_picks_the_keywords_reweighted_defines(tmp_path):
    config = project_config(tmp_path / "state")
    pipeline.ingest_paths(config, sorted(SEEDS.glob("*.txt")),
                          ranker=make_ranker(tmp_path / "rank-state"))
    with open_store(config) as store:
        shown = {a.id: a.keywords for a in store.all_articles()}
        assert shown == _keywords_by_definition(store)
        # ties (every candidate of some articles scored alike: the ranker's order decides),
        # words in more articles than are stored (their share clamped to 1), and an article
        # stored with fewer keywords than the others
        conn = store.conn
        conn.execute("UPDATE keyword_candidates SET score = 0.5 WHERE article_id % 3 = 0")
        conn.execute("UPDATE term_df SET articles = articles * 40 WHERE length(word) = 2")
        conn.execute("DELETE FROM keywords WHERE article_id = 2 AND rank >= 3")
        expected = _keywords_by_definition(store)
        shown = {a.id: a.keywords for a in store.all_articles()}
    assert shown == expected
    assert len(shown[2]) == 3 and any(len(words) == 8 for words in shown.values())


def test_a_database_migrates_and_an_article_without_candidates_keeps_its_keywords(tmp_path):
    config = project_config(tmp_path / "state")
    path = config.paths.state / "digest.db"
    conn = connect(path)
    apply_migrations(conn, MIGRATIONS[:3])
    conn.close()
    with open_store(config) as store:  # migrates to the newest schema
        store.ingest_parsed(parsed_issue([article(0, body="旧文章。")]),
                            [summary(keywords=("旧词", "工作"))])
        (old,) = store.all_articles()
        assert old.keywords == ("旧词", "工作")
        assert store.conn.execute("SELECT articles FROM term_documents").fetchone()[0] == 0
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
