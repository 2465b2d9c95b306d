"""Subheads the labeller took for headlines: an interview's (between its speakers' turns) and
an essay's series printed to one ending are read as body; a headline after a story's
closing line, or a lone short line with no pattern, keeps its label."""

from __future__ import annotations

from digest.parse import _closes_story, subheads
from digest.parse.lines import read_lines

BODY = "这是正文的一段，讲了许多事情，也讲了它们的来龙去脉。"


def _demote(rows: list[tuple[str, str]]) -> list[str]:
    lines = read_lines("\n\n".join(text for text, _ in rows))
    return subheads.demote(lines, [label for _, label in rows], _closes_story)


def test_a_subhead_between_speakers_turns_is_body():
    rows = [("能源问题是发展中的战略问题", "T"), ("学习时报：" + BODY, "B"), ("刘吉臻：" + BODY, "B"),
            ("吕文斌：" + BODY, "B"), ("化石能源兜底保障作用发生了本质变化", "T"),
            ("学习时报：" + BODY, "B"), ("林伯强：" + BODY, "B")]
    assert _demote(rows)[4] == "B"
    assert _demote(rows)[0] == "T"


def test_turns_on_one_side_only_do_not_demote_the_next_headline():
    rows = [("学习时报：" + BODY, "B"), ("刘吉臻：" + BODY, "B"), ("学习时报：" + BODY, "B"),
            ("刘吉臻：" + BODY, "B"), ("智能化战争形态加速演进", "T"), (BODY, "B"), (BODY, "B")]
    assert _demote(rows)[4] == "T"


def test_a_series_of_subheads_with_one_ending_is_body():
    rows = [("推进党的创新理论体系化学理化的方法论", "T"), (BODY, "B"), ("坚持世界观方法论的贯通性", "B"),
            (BODY, "B"), ("高扬中华民族文化的主体性", "T"), (BODY, "B"),
            ("注重价值逻辑统一的整体性", "B"), (BODY, "B")]
    assert _demote(rows)[4] == "B"
    assert _demote(rows)[0] == "T"


def test_a_quote_ending_or_a_closed_story_keeps_the_headline():
    quoted = [(BODY, "B"), ("筑牢发展的“压舱石”", "B"), (BODY, "B"), ("夯实产城融合的“压舱石”", "T"),
              (BODY, "B"), ("激活城市更新“主引擎”", "B"), (BODY, "B")]
    assert _demote(quoted)[3] == "T"
    closed = [(BODY, "B"), ("坚持世界观方法论的贯通性", "B"), (BODY, "B"), ("（作者系某大学教授）", "B"),
              ("高扬中华民族文化的主体性", "T"), (BODY, "B"), ("注重价值逻辑统一的整体性", "B"), (BODY, "B")]
    assert _demote(closed)[4] == "T"


def test_a_series_of_subheads_with_one_skeleton_is_body():
    rows = [("湖北：一江碧水东流 千里绘就长歌", "T"), (BODY, "B"), ("生态优先 绿色发展", "T"), (BODY, "B"),
            ("黄金水道 通达全球", "B"), (BODY, "B"), ("一江文脉 兴文铸魂", "B"), (BODY, "B")]
    assert _demote(rows)[2] == "B"
    assert _demote(rows)[0] == "T"
    pair = rows[:6]  # two of a kind are not yet a series
    assert _demote(pair)[2] == "T"
