"""Property tests: on generated and mutated issues the parser never crashes, and every
non-blank input line ends up in exactly one place (an article or a set-aside line)."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest import decode, parse

from .conftest import SEEDS

SEED_LINES = [line for path in sorted(SEEDS.glob("*.txt"))
              for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
FURNITURE = ["东 昌 时 讯", "2022年8月23日", "星期二", "总第1463期", "今日4版", "鲁西崛起大家谈",
             "牢记嘱托走在前 勇担使命开新局", "(融媒体 郭龙君)", "□记者 张三 报道", "通讯员 李四 摄",
             "（下转第2版）", "## 标题", "### 副题", "新华社北京2月11日电（记者 王五） 记者获悉。",
             "　　本报讯 消息。", "(", "□", "讯", "。", "#"]


def check_every_line_placed(text: str, parsed) -> None:
    normalised = decode.normalise_text(text)
    expected = {no for no, line in enumerate(normalised.split("\n"), start=1) if line.strip()}
    placed: list[int] = [n.line for n in parsed.non_article]
    for article in parsed.articles:
        placed.extend(article.source_lines)
    assert sorted(placed) == sorted(expected), "a line was lost or placed twice"
    lines = normalised.split("\n")
    for item in parsed.non_article:
        assert item.text == lines[item.line - 1].strip()
        assert item.reason
    for article in parsed.articles:
        fields = [article.title, article.kicker, article.subtitle, article.byline,
                  *article.paragraphs, *article.subheads]
        haystack = "\x00".join(f for f in fields if f)
        for no in article.source_lines:
            line = lines[no - 1].strip()
            text = line.lstrip("#").strip() or line
            if text in haystack:
                continue
            if article.byline and text.strip("（()） ") in article.byline:
                continue  # the same byline printed above and below the story
            body, byline = parse.split_glued_byline(text)
            assert byline is not None and body in haystack and byline in haystack, (no, text)


def _parse(text: str):
    return parse.parse_text(decode.normalise_text(text), source="generated")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(SEED_LINES + FURNITURE), min_size=1, max_size=60),
       st.lists(st.sampled_from(["\n", "\n\n", "\n\n\n", "\r\n", "\n \u3000\n"]),
                min_size=1, max_size=60))
def test_generated_issues(lines, separators):
    text = "".join(line + separators[i % len(separators)] for i, line in enumerate(lines))
    check_every_line_placed(text, _parse(text))


def _mutate(lines: list[str], ops: list[tuple[str, int, int]]) -> list[str]:
    lines = list(lines)
    for op, a, b in ops:
        if not lines:
            break
        i = a % len(lines)
        if op == "drop":
            del lines[i]
        elif op == "duplicate":
            lines.insert(b % (len(lines) + 1), lines[i])
        elif op == "split" and len(lines[i]) > 2:
            cut = 1 + b % (len(lines[i]) - 1)
            lines[i:i + 1] = [lines[i][:cut], lines[i][cut:]]
        elif op == "swap":
            j = b % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "blank":
            lines.insert(i, "")
        elif op == "heading":
            lines[i] = "## " + lines[i]
    return lines


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(SEEDS.glob("*.txt"))),
       st.lists(st.tuples(st.sampled_from(["drop", "duplicate", "split", "swap", "blank",
                                           "heading"]),
                          st.integers(0, 10_000), st.integers(0, 10_000)), max_size=25))
def test_mutated_seeds(path, ops):
    text = "\n".join(_mutate(path.read_text(encoding="utf-8").split("\n"), ops))
    check_every_line_placed(text, _parse(text))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400))
def test_arbitrary_text_never_crashes(text):
    check_every_line_placed(text, _parse(text))


def test_the_seeds_satisfy_the_invariant():
    for path in sorted(SEEDS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        check_every_line_placed(text, _parse(text))
        assert not re.search(r"\s{2,}", "".join(a.title or "" for a in _parse(text).articles))


LAYOUT_FURNITURE = ["学 习 时 报", "新华每日电讯  2026年4月28日  第01版  要闻", "第3版 理论前沿", "A01版",
                    "（作者系某大学教授）", "新华社北京4月26日电", "本报记者 张三", "——副题的样子",
                    "本期导读", "广告"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(SEED_LINES + FURNITURE + LAYOUT_FURNITURE),
                          st.sampled_from(["", "\u3000\u3000", "## ", "### ", "  "]),
                          st.sampled_from(["\n", "\n\n", "\n\n\n"])),
                min_size=1, max_size=80))
def test_generated_issues_in_every_layout(items):
    """Lines dressed as the three layouts do it: full-width indents (epaper), `##`/`###`
    headings (markdown), blank lines between everything or none, empty 引题 lines."""
    text = "".join(prefix + line + sep for line, prefix, sep in items)
    check_every_line_placed(text, _parse(text))
