"""Training issues rendered in every layout: each layout's own signals, and one label for
every line the parser will read back."""

from __future__ import annotations

import datetime as dt

import pytest

from digest import decode
from digest.parse import augment, lines as lines_mod

ISSUE = augment.Issue(paper="某某日报", date=dt.date(2026, 4, 28), items=(
    augment.Article(deck=(("K", "引题一行"), ("T", "标题一行"), ("S", "——副题一行")),
                    body=("第一段正文。", "小标题", "第二段正文。"), page=1, section="要闻"),
    augment.Furniture("一条口号"),
    augment.Article(deck=(), body=("新华社北京4月27日电 没有标题的短讯。",), page=2, section="国际"),
    augment.Article(deck=(("T", "另一个标题"),), body=("正文。",), page=2, section="国际"),
))


@pytest.mark.parametrize("layout", augment.LAYOUTS)
def test_every_printed_line_has_its_label(layout):
    text, labels = augment.render(ISSUE, layout)
    lines = lines_mod.read_lines(decode.normalise_text(text))
    got = dict(zip((line.text for line in lines), labels))
    assert len(lines) == len(labels)
    assert [got[t] for t in ("引题一行", "标题一行", "——副题一行", "第一段正文。", "小标题")] == \
        ["K", "T", "S", "B", "B"]
    assert got["新华社北京4月27日电 没有标题的短讯。"] == "N"
    assert got["一条口号"] == "F"


def test_layout_signals():
    epaper, _ = augment.render(ISSUE, "epaper")
    assert "\n\u3000\u3000第一段正文。\n\u3000\u3000小标题\n" in epaper
    assert "\n\n\n另一个标题\n\n\u3000\u3000正文。" in epaper  # empty 引题 and 副题 lines
    blank, labels = augment.render(ISSUE, "blank")
    assert blank.startswith("某 某 日 报\n\n2026年4月28日\n\n星期二\n\n")
    assert "某某日报  2026年4月28日  第02版  国际" in blank and labels[:4] == ["F"] * 4
    assert "\u3000" not in blank
    markdown, _ = augment.render(ISSUE, "markdown")
    assert "第1版 要闻\n\n引题一行\n\n## 标题一行\n\n### ——副题一行\n\n第一段正文。" in markdown
