"""Issue 12: hostile files, hostile text and bad config never get through.

One test (or one parametrized case) per finding of the probe, with its reproduction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest import pipeline
from digest.cli import main
from digest.config import ConfigError, load_config
from digest.ingest import (CLAIM_DIR, ERROR_SUFFIX, NotTheFilesFault, StabilityTracker,
                           UnsafeFolder, process_inbox, wait_and_process_inbox)
from digest.model import Article, IssueMeta, KeySentence, ParsedIssue, Summary
from digest.render import md_escape
from digest.sanitize import clean, shown
from digest.schedule import report_lines, run_once, status_lines, store_ingestor
from digest.store import open_store
from digest.weeks import IsoWeek

from .conftest import SEEDS
from .service_support import write_config

SEED = SEEDS / "001_aa6f3d7060990aff.txt"
NOW = dt.datetime(2022, 9, 5, 1, 0, tzinfo=dt.timezone.utc)


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# -- 1. out of the inbox through .processing ----------------------------------------------

def test_a_symlinked_claim_folder_is_refused_and_nothing_outside_is_touched(tmp_path):
    config = write_config(tmp_path / "site", "[schedule]\nstable_seconds = 0\n")
    outside = tmp_path / "some-dir"
    outside.mkdir()
    (outside / "private.txt").write_bytes(SEED.read_bytes())
    (outside / "other.txt").write_text("不是报纸", encoding="utf-8")
    os.symlink(outside, Path(config.paths.inbox) / CLAIM_DIR)
    before = {p: p.read_bytes() for p in files_under(outside)}

    result = CliRunner().invoke(main, ["--config", str(config.source), "run"])

    assert result.exit_code == 1
    assert "is a symbolic link" in result.output and "remove the link" in result.output
    assert "Traceback" not in result.output
    assert {p: p.read_bytes() for p in files_under(outside)} == before
    assert files_under(Path(config.paths.archive)) == []
    assert files_under(Path(config.paths.failed)) == []
    with open_store(config) as store:
        assert store.issues() == ()


def test_a_symlinked_archive_inside_the_inbox_is_refused(tmp_path):
    folder = tmp_path / "site"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    write_config(folder, "")
    text = (folder / "config.toml").read_text(encoding="utf-8").replace(
        'archive = "archive"', 'archive = "inbox/done"')
    (folder / "config.toml").write_text(text, encoding="utf-8")
    config = load_config(folder / "config.toml")
    os.symlink(outside, Path(config.paths.inbox) / "done")
    (Path(config.paths.inbox) / "issue.txt").write_bytes(SEED.read_bytes())
    with open_store(config) as store:
        ingestor = store_ingestor(store, pipeline.LazyRanker(config))
        with pytest.raises(UnsafeFolder, match="done is a symbolic link"):
            process_inbox(config, StabilityTracker(0), ingestor)
    assert (Path(config.paths.inbox) / "issue.txt").exists()  # not claimed, not moved
    assert files_under(outside) == []


def test_a_file_where_the_claim_folder_belongs_is_refused(tmp_path):
    config = write_config(tmp_path, "")
    (Path(config.paths.inbox) / CLAIM_DIR).write_text("x", encoding="utf-8")
    with open_store(config) as store:
        with pytest.raises(UnsafeFolder, match="is not a folder"):
            process_inbox(config, StabilityTracker(0),
                          store_ingestor(store, pipeline.LazyRanker(config)))


# -- 2. feed.xml stops being XML for good -------------------------------------------------

def _hostile_issue(headline: str, sha: str = "f" * 64) -> tuple[ParsedIssue, list[Summary]]:
    meta = IssueMeta(paper="东昌时讯\x1b", date=dt.date(2022, 8, 23), number="总第1463期\x0b",
                     source="evil\x1b.txt", sha256=sha)
    article = Article(index=0, title=headline, kicker=None, subtitle="副题\x0c",
                      date=dt.date(2022, 8, 18), place="东昌府", dateline="东昌府讯 8月18日",
                      byline="(记者\x00 张三)", kind="news",
                      paragraphs=("第一段\x1b[31m红色\x1b[0m。", "第二段\ud800。"))
    summary = Summary(sentences=(KeySentence(0, "第一段\x1b[31m红色\x1b[0m。", 0.5),),
                      keywords=("红色\x0b", "第二段"))
    return ParsedIssue(issue=meta, articles=(article,), non_article=()), [summary]


def test_control_characters_in_a_headline_never_break_the_feed(tmp_path):
    config = write_config(tmp_path, "")
    parsed, summaries = _hostile_issue("东昌府\x1b区\x0b召开会议")
    with open_store(config) as store:
        store.ingest_parsed(parsed, summaries)
        [article] = store.all_articles()
        assert article.title == "东昌府区召开会议"  # cleaned before storing
        assert article.paragraphs == ("第一段[31m红色[0m。", "第二段。")
        pipeline.build_weeks(config, None, store=store)
    feed = (Path(config.paths.output) / "feed.xml").read_text(encoding="utf-8")
    ET.fromstring(feed)  # raises on "not well-formed (invalid token)"
    assert "东昌府区召开会议" in feed


def test_a_digest_stored_by_an_older_version_is_cleaned_when_the_feed_is_rebuilt(tmp_path):
    config = write_config(tmp_path, "")
    with open_store(config) as store:
        # What an older version stored: the control characters inside the digest itself.
        store.save_digest(IsoWeek(2022, 33), issue_count=1, article_count=1, theme_count=1,
                          markdown="# x\x1b", html="<p>x\x1b</p>", text="x\x0b",
                          feed_html="<p>东昌府\x1b区\x0b</p>")
        parsed, summaries = _hostile_issue("新标题")
        store.ingest_parsed(parsed, summaries)
        pipeline.build_weeks(config, [IsoWeek(2022, 33)], store=store)
    for name in ("feed.xml", "index.html"):
        page = (Path(config.paths.output) / name).read_text(encoding="utf-8")
        assert clean(page) == page
    ET.fromstring((Path(config.paths.output) / "feed.xml").read_text(encoding="utf-8"))


# -- 3 and 4. config values that crash later or do harm ------------------------------------

# (TOML, the key the message must name); each was accepted before issue 12.
BAD_CONFIG = [
    ('[email]\nsubject = "{title:d}"', "email.subject"),
    ('[email]\nsubject = "{title:>999999999}"', "email.subject"),
    ('[email]\nsubject = "{stories:,.99999f}"', "email.subject"),
    ('[email]\nunsubscribe = "https://example.org/u?{email:d}"', "email.unsubscribe"),
    ("[email]\ntimeout_seconds = inf", "email.timeout_seconds"),
    ("[email]\ntimeout_seconds = nan", "email.timeout_seconds"),
    ("[email]\ntimeout_seconds = 1e308", "email.timeout_seconds"),
    ("[schedule]\nstable_seconds = inf", "schedule.stable_seconds"),
    ("[schedule]\nstable_seconds = nan", "schedule.stable_seconds"),
    ("[schedule]\nstable_seconds = 1e308", "schedule.stable_seconds"),
    ("[schedule]\nscan_seconds = 1e30", "schedule.scan_seconds"),
    ("[schedule]\nscan_seconds = 1000000000000000000", "schedule.scan_seconds"),
    ("[schedule]\nmisfire_grace_seconds = 1e30", "schedule.misfire_grace_seconds"),
    ("[email]\ncatch_up_weeks = 1e30", "email.catch_up_weeks"),
    ("[email]\ncatch_up_weeks = 9000000000000000000", "email.catch_up_weeks"),
    ('[paths]\ninbox = "a-file"', "paths.inbox"),
    ('[paths]\ninbox = "~nouser/x"', "paths.inbox"),
    ('[paths]\noutput = "a-file/sub"', "paths.output"),
    ("[rank]\nkeywords = 1e30", "rank.keywords"),
    ("[rank]\nkeywords = 1000000000000", "rank.keywords"),
    ("[rank]\nchar_budget = 1000000000000", "rank.char_budget"),
    ("[rank]\nsentences = -1", "rank.sentences"),
    ("[rank]\nratio = 1.5", "rank.ratio"),
    ("[rank]\nratio = nan", "rank.ratio"),
    ("[text]\nmin_sentence_chars = 1000000000000", "text.min_sentence_chars"),
    ("[text]\nmin_sentence_chars = -3", "text.min_sentence_chars"),
    ("[dedupe]\nsimilarity = -1", "dedupe.similarity"),
    ("[dedupe]\nsimilarity = 0", "dedupe.similarity"),
    ("[dedupe]\nshingle = 0", "dedupe.shingle"),
    ("[clustering]\nsimilarity = -0.5", "clustering.similarity"),
    ("[clustering]\nsimilarity = 7", "clustering.similarity"),
    ("[clustering]\nmin_size = -2", "clustering.min_size"),
    ("[clustering]\nlabel_keywords = 0", "clustering.label_keywords"),
    ('[[themes]]\nname = "全部"\nkeywords = [""]', "themes[0].keywords"),
    ('[[themes]]\nname = "全部"\nkeywords = ["  "]', "themes[0].keywords"),
    ('[[themes]]\nname = ""\nkeywords = ["会议"]', "themes[0].name"),
    ('[[themes]]\nname = "全部"\nkeywords = ["会议"]\nexclude = [""]', "themes[0].exclude"),
    ('[paths]\ninbox = "/etc"', "paths.inbox"),
    ('[paths]\narchive = "/"', "paths.archive"),
    ('[paths]\nstate = "/usr/lib/digest"', "paths.state"),
    ('[paths]\nfailed = "~"', "paths.failed"),
    ('[paths]\narchive = "inbox"', "paths.inbox"),
    ("[email]\nmax_attempts = -1", "email.max_attempts"),
    ("[email]\nretry_base_seconds = 0", "email.retry_base_seconds"),
    ("[email]\nport = 70000", "email.port"),
    ('[email]\nhost = ""', "email.host"),
    ('[email]\nhost = "smtp.example.org\\r\\nRCPT TO:<x@y>"', "email.host"),
    ('[digest]\nbase_url = "javascript:alert(1)//"', "digest.base_url"),
    ('[digest]\ntitle = ""', "digest.title"),
    ('[text]\nuser_dict = "binary.dat"', "text.user_dict"),
    ('[text]\nstopwords = "binary.dat"', "text.stopwords"),
    ('[text]\nstopwords = "latin1.txt"', "text.stopwords"),
    ("[schedule]\nignore = [\"\"]", "schedule.ignore"),
    ("[rank]\nsentences = true", "rank.sentences"),
    (f'[paths]\ninbox = "{"a" * 5000}"', "paths.inbox"),
    (f'[paths]\noutput = "deep/{"b" * 300}"', "paths.output"),
    ('[text]\nuser_dict = "/dev/zero"', "text.user_dict"),
    ('[paths]\ntemplates = "a-file"', "paths.templates"),
    ('[digest]\ntitle = "   "', "digest.title"),
    ('[paths]\ninbox = "link-loop"', "paths.inbox"),
    ('[paths]\narchive = "link-loop/x"', "paths.archive"),
    ("[email]\nenabled = \"yes\"", "email.enabled"),
]


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("DIGEST_HOME")  # it would stand in for [paths].state
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    (tmp_path / "binary.dat").write_bytes(b"\x00\x01\x02PK\x03\x04" * 50)
    (tmp_path / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    (tmp_path / "link-loop").symlink_to("link-loop")
    return tmp_path


@pytest.mark.parametrize("toml, key", BAD_CONFIG, ids=[key for _, key in BAD_CONFIG])
def test_a_bad_config_value_is_one_line_naming_the_key_and_exit_2(config_dir, toml, key):
    path = config_dir / "config.toml"
    path.write_text(toml + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert f"{path}: {key}: " in message and "\n" not in message
    result = CliRunner().invoke(main, ["--config", str(path), "parse", str(SEED)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert result.output.count("\n") == 1 and f"{key}: " in result.output


def test_a_config_that_is_not_utf8_is_a_clear_error(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes('[digest]\ntitle = "周报"\n'.encode("gb18030"))
    result = CliRunner().invoke(main, ["--config", str(path), "parse", str(SEED)])
    assert result.exit_code == 2
    assert "not UTF-8 text" in result.output and "save the file as UTF-8" in result.output


def test_good_word_files_and_a_utf8_bom_config_are_accepted(tmp_path):
    (tmp_path / "user.txt").write_text("东昌府区 10 ns\n", encoding="utf-8")
    (tmp_path / "stop.txt").write_text("\ufeff的\n了\n", encoding="utf-8")
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf" + '[text]\nuser_dict = "user.txt"\nstopwords = "stop.txt"\n'
                     .encode("utf-8"))
    config = load_config(path)
    assert config.text.user_dict == tmp_path / "user.txt"


# -- a failure of the program or its config is never blamed on the file --------------------

class BrokenRanker:
    """Stands for a ranker that a config value (or a bug) makes fail on every issue."""

    def summarize_articles(self, articles):
        raise ValueError("numba: cannot allocate 1e30 slots")


def test_a_program_fault_returns_the_file_to_the_inbox_and_names_the_cause(tmp_path):
    config = write_config(tmp_path, "[schedule]\nstable_seconds = 0\n")
    inbox = Path(config.paths.inbox)
    (inbox / "good.txt").write_bytes(SEED.read_bytes())
    with open_store(config) as store:
        with pytest.raises(NotTheFilesFault) as info:
            wait_and_process_inbox(config, store_ingestor(store, BrokenRanker()))
        assert store.issues() == ()
    assert "not in the file" in str(info.value) and "cannot allocate" in str(info.value)
    assert (inbox / "good.txt").read_bytes() == SEED.read_bytes()
    assert files_under(Path(config.paths.failed)) == []
    assert files_under(inbox / CLAIM_DIR) == []


def test_digest_run_reports_a_program_fault_without_blaming_the_file(tmp_path, monkeypatch):
    config = write_config(tmp_path, "[schedule]\nstable_seconds = 0\n")
    (Path(config.paths.inbox) / "good.txt").write_bytes(SEED.read_bytes())
    monkeypatch.setattr(pipeline, "LazyRanker", lambda config: BrokenRanker())
    result = CliRunner().invoke(main, ["--config", str(config.source), "run"])
    assert result.exit_code == 1
    assert ("error: good.txt: not ingested because of a fault in digest or its config"
            in result.output)
    assert "the file is back in the inbox" in result.output
    assert (Path(config.paths.inbox) / "good.txt").exists()
    assert files_under(Path(config.paths.failed)) == []


def test_an_undecodable_file_is_still_the_files_fault(tmp_path):
    config = write_config(tmp_path, "[schedule]\nstable_seconds = 0\n")
    (Path(config.paths.inbox) / "bin.txt").write_bytes(b"\x00\x01\x02" * 100)
    with open_store(config) as store:
        [result] = wait_and_process_inbox(config, store_ingestor(store, BrokenRanker()))
    assert result.outcome == "failed"
    assert (Path(config.paths.failed) / ("bin.txt" + ERROR_SUFFIX)).exists()


# -- 5. smaller ---------------------------------------------------------------------------

FORGED = "x.txt\nfailed: forged.txt -> nowhere (boom)"


def test_a_newline_in_a_file_name_cannot_forge_lines_in_run_and_status(tmp_path):
    config = write_config(tmp_path, "[schedule]\nstable_seconds = 0\n")
    inbox = Path(config.paths.inbox)
    (inbox / FORGED).write_bytes(b"\x00\x01" * 50)  # fails: its name is in the report
    (inbox / "wait\n  waiting: forged").write_bytes(b"")
    report = run_once(config, now=lambda: NOW)
    lines = report_lines(report)
    assert len(lines) == len(report.inbox) == 2  # both fail: binary, empty
    assert f"failed: {shown(FORGED)} -> " in "".join(lines)
    assert not any(line.startswith(("failed: forged", "  waiting")) for line in lines)
    status = status_lines(config)
    assert all("\n" not in line for line in status)
    assert not any(line.lstrip().startswith(("failed: forged", "waiting: forged"))
                   for line in status)
    assert any("x.txt\\nfailed: forged.txt" in line for line in status)


def test_status_lists_links_fifos_and_folders_in_the_inbox(tmp_path):
    config = write_config(tmp_path, "")
    inbox = Path(config.paths.inbox)
    os.symlink(SEED, inbox / "link.txt")
    os.mkfifo(inbox / "pipe.txt")
    (inbox / "folder").mkdir()
    lines = status_lines(config)
    assert "  not taken: folder (folder)" in lines
    assert "  not taken: link.txt (symbolic link, never followed)" in lines
    assert "  not taken: pipe.txt (not a regular file (FIFO, socket or device))" in lines
    assert lines[1].endswith("3 not taken")


def test_status_shows_a_symlinked_claim_folder_as_refused(tmp_path):
    config = write_config(tmp_path, "")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("x", encoding="utf-8")
    os.symlink(outside, Path(config.paths.inbox) / CLAIM_DIR)
    lines = status_lines(config)
    assert any(line.startswith("  refused: ") and "symbolic link" in line for line in lines)
    assert not any("secret.txt" in line for line in lines)


@pytest.mark.parametrize("text, escaped", [
    ("- 第一条", "\\- 第一条"), ("1. 第一条", "1\\. 第一条"), ("12) 条", "12\\) 条"),
    ("+ 加", "\\+ 加"), ("> 引用", "\\> 引用"), ("# 标题", "\\# 标题"), ("---", "\\---"),
    ("===", "\\==="), ("  - 缩进", "\\- 缩进"), ("126.com", "126.com"), ("-5℃", "-5℃"),
    ("第一行\n- 第二行", "第一行 - 第二行"),
])
def test_markdown_escapes_line_leading_list_quote_and_heading_marks(text, escaped):
    assert md_escape(text) == escaped


def test_a_key_sentence_that_looks_like_a_list_stays_in_the_quote(tmp_path):
    config = write_config(tmp_path, "")
    parsed, summaries = _hostile_issue("标题")
    summaries = [dataclasses.replace(summaries[0], sentences=(
        KeySentence(0, "- 要加强领导。", 0.5), KeySentence(1, "1. 要压实责任。", 0.4)))]
    with open_store(config) as store:
        store.ingest_parsed(parsed, summaries)
        [rendered] = pipeline.build_weeks(config, None, store=store).digests
    assert "> \\- 要加强领导。" in rendered.markdown
    assert "> 1\\. 要压实责任。" in rendered.markdown


def test_log_lines_show_file_names_escaped():
    import logging

    from digest.cli import one_line_formatter

    record = logging.LogRecord("digest.ingest", logging.WARNING, __file__, 1, "%s: %s -> %s",
                               (FORGED, "failed", "/x"), None)
    line = one_line_formatter("%(levelname)s %(name)s: %(message)s").format(record)
    assert "\n" not in line and line.startswith("WARNING digest.ingest: x.txt\\nfailed: forged")


def test_a_newline_in_a_name_cannot_forge_the_reason_of_a_failure(tmp_path):
    config = write_config(tmp_path, "[schedule]\nstable_seconds = 0\n")
    name = "scan.txt\nreason: all is well"
    (Path(config.paths.inbox) / name).write_bytes(b"\x00\x01" * 50)
    run_once(config, now=lambda: NOW)
    report = (Path(config.paths.failed) / (name + ERROR_SUFFIX)).read_text(encoding="utf-8")
    reasons = [line for line in report.splitlines() if line.startswith("reason: ")]
    assert reasons == ["reason: binary data (control bytes), not a text file"]
    assert "file: scan.txt\\nreason: all is well" in report
    status = status_lines(config)
    assert "  scan.txt\\nreason: all is well: binary data (control bytes), not a text file" in (
        status[status.index("failures: 1 file(s) in " + str(config.paths.failed)):])


def test_every_config_section_forbids_unknown_keys_and_checks_defaults():
    """A section added later must say so too, or its typos would pass silently."""
    import typing

    from digest import config as cfg

    seen, todo = set(), [cfg.Config]
    while todo:
        cls = todo.pop()
        seen.add(cls)
        assert cls.__dict__.get("__pydantic_config__") == cfg._STRICT, cls.__name__
        for hint in typing.get_type_hints(cls, include_extras=True).values():
            bare, _ = cfg._unwrap(hint)
            for candidate in (bare, *typing.get_args(bare)):
                if dataclasses.is_dataclass(candidate) and candidate not in seen:
                    todo.append(candidate)
    assert {c.__name__ for c in seen} >= {"PathsConfig", "EmailConfig", "ThemeConfig",
                                          "SubscriberConfig"}
