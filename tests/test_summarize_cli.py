"""`digest summarize`: issue files, --json, --top, and the JSON Lines batch mode."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = sorted((ROOT / "seeds").glob("*.txt"))
TEXT = "东昌府讯 8月31日，全区耕地保护工作推进会议召开。会议通报了全区违法占地相关情况。" \
       "区长江绍华出席会议并讲话。他强调，要坚决守住耕地保护红线，严厉打击违法占地行为。"

pytestmark = pytest.mark.slow


def digest(*args: str, stdin: str | bytes | None = None) -> subprocess.CompletedProcess:
    data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    return subprocess.run([sys.executable, "-m", "digest.cli", *args], input=data,
                          capture_output=True, cwd=ROOT, timeout=300, check=False)


def lines(stdout: bytes) -> list[dict]:
    return [json.loads(line) for line in stdout.decode("utf-8").splitlines()]


def test_files_print_key_sentences_and_keywords():
    done = digest("summarize", str(SEEDS[0]))
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode("utf-8")
    assert "为开创聊城高质量发展新局面汇聚磅礴青春力量" in out
    assert out.count("keywords:") == 8


def test_json_for_several_files_with_top():
    done = digest("summarize", "--json", "--top", "1", str(SEEDS[0]), str(SEEDS[1]))
    assert done.returncode == 0, done.stderr
    issues = json.loads(done.stdout)
    assert [Path(i["file"]).name for i in issues] == [SEEDS[0].name, SEEDS[1].name]
    article = issues[0]["articles"][0]
    assert set(article) == {"index", "title", "sentences", "keywords"}
    assert all(len(a["sentences"]) == 1 for i in issues for a in i["articles"])


def test_unreadable_file_is_reported_and_the_rest_printed(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    done = digest("summarize", str(empty), str(SEEDS[0]))
    assert done.returncode == 1
    assert "empty.txt" in done.stderr.decode("utf-8")
    assert "keywords:" in done.stdout.decode("utf-8")


def test_files_and_jsonl_are_exclusive():
    assert digest("summarize").returncode == 2
    assert digest("summarize", "--jsonl", str(SEEDS[0]), stdin="").returncode == 2


def test_jsonl_answers_each_line_in_order():
    requests = [{"id": f"a{i}", "text": TEXT, "title": "全区耕地保护工作推进会议召开"}
                for i in range(70)] + [{"id": "short", "text": "太短。", "title": None}]
    done = digest("summarize", "--jsonl", "--top", "2",
                  stdin="".join(json.dumps(r, ensure_ascii=False) + "\n" for r in requests))
    assert done.returncode == 0, done.stderr
    answers = lines(done.stdout)
    assert [a["id"] for a in answers] == [r["id"] for r in requests]
    first = answers[0]
    assert set(first) == {"id", "sentences", "keywords"}
    assert len(first["sentences"]) == 2 and first["sentences"][0]["index"] == 0
    assert all(isinstance(s["score"], float) and s["text"] in TEXT for s in first["sentences"])
    assert "耕地" in first["keywords"]
    assert all(a["sentences"] == first["sentences"] for a in answers[:70])  # any batch
    assert answers[-1]["id"] == "short" and answers[-1]["sentences"] == []


def test_jsonl_malformed_lines_get_error_objects_and_the_rest_go_on():
    good = json.dumps({"id": "ok", "text": TEXT}, ensure_ascii=False)
    stdin = (b"not json\n" + good.encode() + b"\n" + b'{"id": 7, "text": "x"}\n' + b"\n"
             + b'{"id": "t", "text": ["x"]}\n' + b'{"id": "u", "text": "\xff\xfe"}\n'
             + b'{"id": "v", "text": "a", "title": 3}\n' + b"[1, 2]\n" + good.encode() + b"\n")
    done = digest("summarize", "--jsonl", stdin=stdin)
    assert done.returncode == 1
    answers = lines(done.stdout)
    assert answers[0] == {"id": None, "line": 1, "error": answers[0]["error"]}
    assert answers[0]["error"].startswith("not JSON")
    assert answers[1]["id"] == "ok" and answers[1]["sentences"]
    assert answers[2] == {"id": None, "line": 3, "error": '"id" must be a string'}
    assert answers[3] == {"id": "t", "line": 5, "error": '"text" must be a string'}
    assert answers[4] == {"id": None, "line": 6, "error": "not UTF-8"}
    assert answers[5]["id"] == "v" and "title" in answers[5]["error"]
    assert answers[6] == {"id": None, "line": 8, "error": "expected a JSON object"}
    assert answers[7]["id"] == "ok" and answers[7]["sentences"] == answers[1]["sentences"]
    stderr = done.stderr.decode("utf-8").splitlines()
    assert len(stderr) == 6 and stderr[0].startswith("digest: line 1: not JSON")
    assert "digest: id 't': \"text\" must be a string" in stderr


def test_jsonl_streams_an_answer_before_the_input_ends():
    process = subprocess.Popen([sys.executable, "-m", "digest.cli", "summarize", "--jsonl"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, cwd=ROOT, env=os.environ.copy())
    try:
        process.stdin.write(json.dumps({"id": "first", "text": TEXT}).encode() + b"\n")
        process.stdin.flush()
        selector = selectors.DefaultSelector()
        selector.register(process.stdout, selectors.EVENT_READ)
        assert selector.select(timeout=120), "no answer while the input stays open"
        assert json.loads(process.stdout.readline())["id"] == "first"
        process.stdin.write(json.dumps({"id": "second", "text": TEXT}).encode() + b"\n")
        process.stdin.close()
        assert json.loads(process.stdout.readline())["id"] == "second"
        assert process.wait(timeout=120) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_a_new_state_keeps_what_summarize_learnt(tmp_path):
    """A new state folder has no cache/ of its own (the dictionary tables come from the
    install): the words one `summarize` learnt are still kept for the next run, which
    prints the same."""
    env = {**os.environ, "DIGEST_HOME": str(tmp_path)}
    env.pop("DIGEST_CONFIG", None)
    runs = [subprocess.run([sys.executable, "-m", "digest.cli", "summarize", "--json",
                            str(SEEDS[1])], capture_output=True, cwd=tmp_path, env=env,
                           timeout=300, check=False) for _ in range(2)]
    assert all(run.returncode == 0 for run in runs), runs[0].stderr
    assert (tmp_path / "cache" / "lexicon-v1.npz").is_file()
    assert runs[0].stdout == runs[1].stdout
