"""Key sentences that read as sentences: no dateline or printing marks, no heads or list
items, quotes balanced. Snippets are real text from the seeds and the dev papers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from digest import decode, parse
from digest.config import Config, PathsConfig, RankConfig, TextConfig
from digest.rank import Ranker
from digest.rank.sentences import balanced, heading_like, lead_length
from digest.text import split_sentences

from .digest_support import SEEDS


@pytest.fixture(scope="module")
def ranker(tmp_path_factory) -> Ranker:
    config = dataclasses.replace(Config(), paths=PathsConfig(state=tmp_path_factory.mktemp("s")),
                                 text=TextConfig(), rank=RankConfig(sentences=3))
    return Ranker(config)


def shown(sentence: str) -> str:
    return sentence[lead_length(sentence):]


@pytest.mark.parametrize("sentence, expected", [
    ("□东昌府讯 8月22日, 中国少年先锋队聊城市东昌府区第二次代表大会召开。",
     "中国少年先锋队聊城市东昌府区第二次代表大会召开。"),
    ("东昌府讯 7月22日,全市建设青年发展友好型城市专题推进会议召开。",
     "全市建设青年发展友好型城市专题推进会议召开。"),
    ("本报聊城讯 今年以来, 聊城开发区充分利用市级防返贫智慧云平台。",
     "今年以来, 聊城开发区充分利用市级防返贫智慧云平台。"),
    ("新华社北京4月28日电（记者申铖 谢希瑶）国务院关税税则委员会4月28日对外发布公告。",
     "国务院关税税则委员会4月28日对外发布公告。"),
    ("东昌府讯 近日,主会场设在新能源汽车零部件产业园二期项目工地。",  # 近日 is no date to drop
     "近日,主会场设在新能源汽车零部件产业园二期项目工地。"),
    ("据伊朗迈赫尔通讯社25日援引一名伊朗议员的话报道。", "据伊朗迈赫尔通讯社25日援引一名伊朗议员的话报道。"),
    ("■ 区委书记马军权主持召开区委常委会会议。", "区委书记马军权主持召开区委常委会会议。"),
])
def test_dateline_and_marks_are_left_out(sentence, expected):
    assert shown(sentence) == expected


@pytest.mark.parametrize("sentence, whole, heading", [
    ("全面建设先进制造业新高地。", True, True),
    ("大会结束后, 召开了区少工委二届一次全委会, 通过《中国少年先锋队东昌府区第二届工作委员会第一次全体会议选举办法》;",
     False, True),
    ("主办单位: 大众日报聊城新闻、聊城市委宣传部、聊城市政府研究室、聊城市社科联", True, True),
    ("盐湖之春：从充盈粮袋子，到撑起新能源", True, True),
    ("2022年聊城市科技活动周在我区启动。", False, False),  # a lede that runs on: a sentence
    ("副市长王刚出席活动并讲话、宣布展销活动开幕。", True, False),
    ("“俺虽有低保, 孩子也享受教育资助, 但俺还要靠勤劳的双手致富。”", True, False),
])
def test_heading_like_pieces(sentence, whole, heading):
    assert heading_like(sentence, whole) is heading


def test_an_opened_quote_extends_to_its_close_or_loses_its_mark():
    text = ("“成绩靠前的县市区, 要保持优势, 再创佳绩; 成绩靠后的县市区, 要正视差距, 自我加压。”"
            "会议强调了三点。")
    first = split_sentences(text)[0]
    assert first.text == "“成绩靠前的县市区, 要保持优势, 再创佳绩;"
    got, end = balanced(text, first.start, first.end)
    assert got == "“成绩靠前的县市区, 要保持优势, 再创佳绩; 成绩靠后的县市区, 要正视差距, 自我加压。”"
    assert text[end:] == "会议强调了三点。"
    far = "“成绩靠前的县市区, 要保持优势, 再创佳绩;" + "其他县市区要" * 20 + "。”"
    got, end = balanced(far, 0, first.end)
    assert got == "成绩靠前的县市区, 要保持优势, 再创佳绩;" and end == first.end


def test_a_closing_mark_opened_in_an_earlier_sentence_is_dropped():
    text = "称重设备故障及时报警, 还提升了安全生产水平。”"
    assert balanced(text, 0, len(text)) == ("称重设备故障及时报警, 还提升了安全生产水平。", len(text))
    book = "通过《选举办法》和《决议》。"
    assert balanced(book, 0, len(book)) == (book, len(book))


RUN_IN = ("东阿县以落实黄河重大国家战略为牵引, 全面建设先进制造业、对外开放、生态宜居、文旅融合四个新高地。\n"
          "全面建设先进制造业新高地。深入开展制造业强县三年攻坚突破行动; 推行产业链长制, 推动创新强链。\n"
          "全面建设对外开放新高地。抢抓入选省自贸试验区联动创新区建设机遇, 主动接轨济南。\n"
          "全面建设生态宜居新高地。建设以黄河国家森林公园为核心的沿黄生态景观风貌带。\n"
          "全面建设文旅融合新高地。围绕全域旅游示范区创建目标, 深挖阿胶文化、黄河文化、曹植文化内涵。")


def test_run_in_heads_are_never_picked(ranker):
    summary = ranker.summarize(RUN_IN, "全面建设四个新高地")
    assert len(summary.sentences) == 3
    assert not any(s.text.endswith("新高地。") and len(s.text) < 15 for s in summary.sentences)


def test_an_article_of_heads_only_still_gets_a_sentence(ranker):
    summary = ranker.summarize("主办单位: 大众日报聊城新闻、聊城市委宣传部\n截稿时间: 2022年8月31日")
    assert summary.sentences


@pytest.mark.skipif(not SEEDS.is_dir(), reason="seeds/ missing")
def test_seed_key_sentences_read_as_sentences(ranker):
    articles = [a for path in sorted(SEEDS.glob("*.txt"))
                for a in parse.parse_issue(decode.read_issue_file(path)).articles]
    sentences = [s for summary in ranker.summarize_articles(articles) for s in summary.sentences]
    assert len(sentences) >= 130
    for s in sentences:
        assert "讯" not in s.text[:8] and s.text[0] not in "□■◆", s.text
        assert s.text.count("“") == s.text.count("”") and s.text.count("《") == s.text.count("》")
        assert not s.text.rstrip("”’）)").endswith((";", "；")), s.text
