"""`digest themes --jsonl`: the protocol (one answer per input line, in order), errors, and
grouping a whole collection as one week."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from .test_themes import FILLER, TOPICS

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def themes(stdin: bytes, tmp_path: Path, config_text: str = "themes = []\n"
           ) -> subprocess.CompletedProcess:
    config = tmp_path / "config.toml"
    config.write_text(config_text, encoding="utf-8")
    env = {**os.environ, "DIGEST_HOME": str(tmp_path / "state")}
    return subprocess.run([sys.executable, "-m", "digest.cli", "--config", str(config),
                           "themes", "--jsonl"], input=stdin, capture_output=True, cwd=ROOT,
                          timeout=300, check=False, env=env)


def collection(per_topic: int = 6, seed: int = 2) -> list[dict]:
    rng = random.Random(seed)
    items = []
    for topic, words in TOPICS.items():
        for k in range(per_topic):
            text = "\n".join("，".join(rng.sample(words, 4) + rng.sample(FILLER, 2)) + "。"
                             for _ in range(6))
            items.append({"id": f"{topic}-{k}", "text": text, "title": None, "topic": topic})
    rng.shuffle(items)
    return items


def encode(records) -> bytes:
    return b"".join(r if isinstance(r, bytes) else
                    (json.dumps(r, ensure_ascii=False) + "\n").encode() for r in records)


def test_one_answer_per_line_in_order_grouped_by_topic(tmp_path):
    items = collection()
    # The same story printed again, one sentence shorter: the fuller printing leads.
    reprint = {**items[0], "id": "zz-reprint", "text": items[0]["text"].rsplit("\n", 1)[0]}
    done = themes(encode([*items, reprint]), tmp_path)
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [a["id"] for a in answers] == [i["id"] for i in items] + ["zz-reprint"]
    assert all(set(a) == {"id", "theme", "story"} for a in answers)
    by_topic: dict[str, set[str]] = {}
    for item, answer in zip(items, answers):
        by_topic.setdefault(item["topic"], set()).add(answer["theme"])
    assert all(len(names) == 1 for names in by_topic.values()), by_topic
    assert len({next(iter(n)) for n in by_topic.values()}) == len(TOPICS)
    assert answers[-1] == {"id": "zz-reprint", "theme": answers[0]["theme"],
                           "story": items[0]["id"]}  # merged: the lead's id
    assert answers[0]["story"] == items[0]["id"]
    assert all(a["story"] == a["id"] for a in answers[1:-1])


def test_malformed_lines_get_an_error_and_the_rest_go_on(tmp_path):
    items = collection(per_topic=3)
    good = [{k: v for k, v in i.items() if k != "topic"} for i in items]
    lines = [good[0], b"{not json\n", {"id": 7, "text": "x"}, b"\n", b"\xff\xfe\n",
             {"id": "t", "text": "正文", "title": 3}, *good[1:]]
    done = themes(encode(lines), tmp_path)
    assert done.returncode == 1
    answers = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert len(answers) == len(lines) - 1  # the blank line gets no answer
    assert answers[1] == {"id": None, "line": 2, "error": answers[1]["error"]}
    assert answers[1]["error"].startswith("not JSON")
    assert answers[2] == {"id": None, "line": 3, "error": '"id" must be a string'}
    assert answers[3] == {"id": None, "line": 5, "error": "not UTF-8"}
    assert answers[4] == {"id": "t", "line": 6, "error": '"title" must be a string or null'}
    assert [a["id"] for a in answers[5:]] == [g["id"] for g in good[1:]]
    assert all("theme" in a for a in [answers[0], *answers[5:]])
    stderr = done.stderr.decode()
    assert "digest: line 2: not JSON" in stderr and "digest: id 't'" in stderr


def test_named_themes_from_the_config_claim_first(tmp_path):
    items = collection(per_topic=3)
    config = '[[themes]]\nname = "体育"\nkeywords = ["足球", "联赛", "球队", "比赛", "球员"]\n'
    done = themes(encode(items), tmp_path, config)
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert {a["theme"] for i, a in zip(items, answers) if i["topic"] == "足球"} == {"体育"}
    assert "体育" not in {a["theme"] for i, a in zip(items, answers) if i["topic"] != "足球"}


def test_empty_input_gives_empty_output(tmp_path):
    done = themes(b"", tmp_path)
    assert done.returncode == 0 and done.stdout == b""
