"""Reading files as they arrive: every encoding seen in the wild, and bad input."""

from __future__ import annotations

import codecs
import json
import subprocess
import sys

import pytest

from digest import decode, parse

from .conftest import ROOT, SEEDS

SAMPLE = "东 昌 时 讯\r\n2022年8月23日\r\n\r\n区政协主席会议召开\r\n\r\n　　东昌府讯 8月19日，会议召开。\r\n"


@pytest.mark.parametrize("encoding,prefix", [
    ("utf-8", b""),
    ("utf-8", codecs.BOM_UTF8),
    ("gb18030", b""),
    ("gbk", b""),
    ("utf-16-le", codecs.BOM_UTF16_LE),
    ("utf-16-be", codecs.BOM_UTF16_BE),
])
def test_each_encoding_reads_the_same(tmp_path, encoding, prefix):
    path = tmp_path / "issue.txt"
    path.write_bytes(prefix + SAMPLE.encode(encoding))
    decoded = decode.read_issue_file(path)
    # the full-width indent stays for the parser (it marks a paragraph)
    assert decoded.text.split("\n")[5] == "\u3000\u3000东昌府讯 8月19日，会议召开。"
    assert "\r" not in decoded.text
    assert len(decoded.text.split("\n")) == len(SAMPLE.split("\r\n"))  # one line per line
    parsed = parse.parse_issue(decoded)
    assert parsed.issue.paper == "东昌时讯"
    assert [a.title for a in parsed.articles] == ["区政协主席会议召开"]


def test_seed_in_gb18030_parses_like_utf8(tmp_path):
    seed = SEEDS / "004_a00776a20fa094f5.txt"
    path = tmp_path / "gb.txt"
    path.write_bytes(seed.read_text(encoding="utf-8").encode("gb18030"))
    ours = parse.parse_issue(decode.read_issue_file(path))
    reference = parse.parse_issue(decode.read_issue_file(seed))
    assert decode.read_issue_file(path).encoding == "gb18030"
    assert ours.articles == reference.articles


@pytest.mark.parametrize("data,reason", [
    (b"", "empty"),
    (b"\n\n  \r\n", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary"),
    (bytes(range(128, 256)) * 40, "not decodable"),
])
def test_bad_input_names_the_file_and_reason(tmp_path, data, reason):
    path = tmp_path / "bad.txt"
    path.write_bytes(data)
    with pytest.raises(decode.DecodeError) as info:
        decode.read_issue_file(path)
    assert "bad.txt" in str(info.value)
    assert reason in str(info.value)


def test_a_few_damaged_bytes_do_not_lose_the_issue(tmp_path):
    data = (SEEDS / "001_aa6f3d7060990aff.txt").read_bytes()
    path = tmp_path / "damaged.txt"
    path.write_bytes(data[:3000] + b"\xff" + data[3000:])
    decoded = decode.read_issue_file(path)
    assert "damaged" in decoded.encoding
    assert len(parse.parse_issue(decoded).articles) == 9


def test_cli_goes_on_after_a_bad_file(tmp_path):
    bad = tmp_path / "empty.txt"
    bad.write_bytes(b"")
    good = SEEDS / "004_a00776a20fa094f5.txt"
    result = subprocess.run([sys.executable, "-m", "digest.cli", "parse", "--json", str(bad),
                             str(good)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 1
    assert "empty.txt: the file is empty" in result.stderr
    assert "Traceback" not in result.stderr
    docs = json.loads(result.stdout)
    assert len(docs) == 1 and docs[0]["issue"]["number"] == "总第1463期"


def test_cli_json_schema(tmp_path):
    result = subprocess.run([sys.executable, "-m", "digest.cli", "parse", "--json",
                             str(SEEDS / "004_a00776a20fa094f5.txt")],
                            capture_output=True, text=True, cwd=ROOT, check=True)
    doc = json.loads(result.stdout)
    assert doc["issue"]["paper"] == "东昌时讯" and doc["issue"]["date"] == "2022-08-23"
    article = doc["articles"][0]
    for key in ("title", "kicker", "subtitle", "date", "byline", "kind", "paragraphs"):
        assert key in article
    assert article["date"] == "2022-08-18"
    assert all(isinstance(p, str) for p in article["paragraphs"])
    assert {"text", "reason"} <= set(doc["non_article"][0])


@pytest.mark.parametrize("bad", ["\x00", "\x07", "\x1b", "\x7f", "\x80", "\x9f", "\ufffe",
                                 "\uffff", "\ud800", "\udfff"])
def test_controls_noncharacters_and_lone_surrogates_never_reach_the_text(bad):
    text = decode.normalise_text(f"标题{bad}一\n\u3000\u3000正文{bad}。\t完")
    assert bad not in text
    assert text == "标题一\n\u3000\u3000正文。 完"


def test_next_line_control_becomes_a_space():
    assert decode.normalise_line("前\x85后") == "前 后"


def test_nul_anywhere_marks_binary(tmp_path):
    path = tmp_path / "late-nul.txt"
    path.write_bytes(SAMPLE.encode("utf-8") * 2000 + b"\x00" + SAMPLE.encode("utf-8"))
    with pytest.raises(decode.DecodeError) as info:
        decode.read_issue_file(path)
    assert "binary" in str(info.value)


def test_mixed_encoding_nonsense_is_refused(tmp_path):
    # UTF-8 bytes read as GBK: still CJK, but rare CJK on every line
    seed = (SEEDS / "004_a00776a20fa094f5.txt").read_text(encoding="utf-8")
    garbage = seed.encode("utf-8").decode("gbk", errors="ignore")
    assert decode.garbage_reason(garbage, "gb18030") is not None
    assert "nonsense" in decode.garbage_reason(garbage, "gb18030")
    path = tmp_path / "mixed.txt"
    path.write_bytes(garbage.encode("gb18030"))
    with pytest.raises(decode.DecodeError) as info:
        decode.read_issue_file(path)
    assert "mixed.txt" in str(info.value) and "nonsense" in str(info.value)


def test_mostly_replacement_characters_are_refused():
    text = "新华社北京电" + "\ufffd" * 200
    assert "replacement" in decode.garbage_reason(text, "utf-8")


def test_real_issues_are_not_taken_for_garbage():
    for path in sorted(SEEDS.glob("*.txt")):
        assert decode.garbage_reason(path.read_text(encoding="utf-8"), "utf-8") is None
