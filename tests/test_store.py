"""The SQLite store and the ingest pipeline, on real database files in temp dirs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
import threading

import pytest
from click.testing import CliRunner

from digest import pipeline
from digest.cli import main
from digest.config import load_config
from digest.store import (
    DB_NAME,
    MIGRATIONS,
    Migration,
    StoreError,
    apply_migrations,
    connect,
    file_date_of,
    open_store,
)
from digest.weeks import IsoWeek, week_of

from .digest_support import (
    HOSTILE_ISSUE,
    ROOT,
    SEEDS,
    article,
    parsed_issue,
    project_config,
    summary,
)

UTC = dt.timezone.utc


@pytest.fixture
def config(tmp_path):
    return project_config(tmp_path / "state")


@pytest.fixture
def store(config):
    with open_store(config) as opened:
        yield opened


# -- schema and connection ----------------------------------------------------------------

def test_new_database_is_migrated_and_in_wal_mode(store, config):
    assert store.path == config.paths.state / DB_NAME
    assert store.path.is_file()
    assert store.schema_version == len(MIGRATIONS)
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"issues", "articles", "key_sentences", "keywords", "digests"} <= tables


def test_digest_home_overrides_the_state_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGEST_HOME", str(tmp_path / "elsewhere"))
    with open_store(load_config(ROOT / "config.toml")) as opened:
        assert opened.path == tmp_path / "elsewhere" / DB_NAME


def test_reopening_does_not_rerun_migrations(config):
    with open_store(config) as first:
        first.ingest_parsed(parsed_issue([article()]), [summary()])
    with open_store(config) as second:
        assert second.schema_version == len(MIGRATIONS)
        assert len(second.issues()) == 1


def test_an_appended_migration_runs_once_on_an_existing_database(config):
    with open_store(config):
        pass
    extra = [*MIGRATIONS, Migration("service table", (
        "CREATE TABLE deliveries (id INTEGER PRIMARY KEY, week TEXT NOT NULL)",))]
    with open_store(config, extra) as upgraded:
        assert upgraded.schema_version == len(extra)
        upgraded.conn.execute("INSERT INTO deliveries (week) VALUES ('2022-W34')")
    with open_store(config, extra) as again:
        assert again.conn.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 1


def test_a_failing_migration_leaves_the_old_schema_whole(config):
    with open_store(config):
        pass
    broken = [*MIGRATIONS, Migration("half done", (
        "CREATE TABLE half (id INTEGER PRIMARY KEY)",
        "THIS IS NOT SQL",))]
    with pytest.raises(sqlite3.OperationalError):
        open_store(config, broken)
    conn = connect(config.paths.state / DB_NAME)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name='half'").fetchone()[0] == 0
    conn.close()


def test_a_database_from_a_newer_program_is_refused(config):
    with open_store(config) as opened:
        opened.conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    with pytest.raises(StoreError, match="newer than this program"):
        open_store(config)


def test_apply_migrations_is_idempotent(tmp_path):
    conn = connect(tmp_path / "x.db")
    assert apply_migrations(conn) == len(MIGRATIONS)
    assert apply_migrations(conn) == len(MIGRATIONS)
    conn.close()


# -- ingest -------------------------------------------------------------------------------

def test_ingest_round_trip_keeps_every_field(store):
    parsed = parsed_issue(
        [article(0, "第一篇", "东昌府讯 8月22日,第一段。\n第二段。", dt.date(2022, 8, 22),
                 kicker="引题", subtitle="副题", place="东昌府", dateline="东昌府讯 8月22日"),
         article(1, None, "图为一张照片。", dt.date(2022, 8, 21), kind="photo", byline="张三 摄")],
        source="a.txt", paper="东昌时讯", date=dt.date(2022, 8, 23), number="总第1463期")
    sums = [summary(("第一段。", "第二段。"), ("创城", "文明城市")), summary((), ())]
    issue_id = store.ingest_parsed(parsed, sums, encoding="utf-8",
                                   mtime=dt.datetime(2022, 8, 23, 1, tzinfo=UTC))
    assert issue_id is not None
    first, second = store.articles_in_week(IsoWeek(2022, 34))  # the issue's week, both
    assert (first.title, first.kicker, first.subtitle) == ("第一篇", "引题", "副题")
    assert first.paragraphs == ("东昌府讯 8月22日,第一段。", "第二段。")
    assert [s.text for s in first.sentences] == ["第一段。", "第二段。"]
    assert first.sentences[1].index == 1 and first.sentences[0].score == 1.0
    assert first.keywords == ("创城", "文明城市")
    assert (first.paper, first.issue_number, first.issue_date) == (
        "东昌时讯", "总第1463期", dt.date(2022, 8, 23))
    assert (first.place, first.dateline, first.position, first.week_basis) == (
        "东昌府", "东昌府讯 8月22日", 0, "issue")
    assert first.issue_sha256 == parsed.issue.sha256
    assert second.title is None and second.kind == "photo" and second.byline == "张三 摄"
    assert second.sentences == () and second.keywords == ()
    (issue,) = store.issues()
    assert (issue.id, issue.source, issue.article_count) == (issue_id, "a.txt", 2)


def test_the_same_file_is_stored_once(store):
    parsed = parsed_issue([article()])
    assert store.ingest_parsed(parsed, [summary()]) is not None
    assert store.has_file(parsed.issue.sha256)
    assert store.ingest_parsed(parsed, [summary()]) is None
    assert len(store.issues()) == 1 and len(store.all_articles()) == 1


def test_two_connections_racing_store_one_copy(config):
    parsed = parsed_issue([article(i, f"第{i}篇") for i in range(20)])
    results = []
    barrier = threading.Barrier(2)

    def ingest():
        with open_store(config) as own:
            barrier.wait()
            results.append(own.ingest_parsed(parsed, [summary()] * 20))

    threads = [threading.Thread(target=ingest) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and results.count(None) == 1
    with open_store(config) as check:
        assert len(check.all_articles()) == 20


def test_a_failed_ingest_writes_nothing(store):
    parsed = parsed_issue([article(0, "好的"), article(1, "坏的")])
    bad = dataclasses.replace(summary(), keywords=(None,))  # NOT NULL fails on article 2
    with pytest.raises(sqlite3.IntegrityError):
        store.ingest_parsed(parsed, [summary(), bad])
    assert store.issues() == () and store.all_articles() == ()
    with pytest.raises(ValueError, match="summaries"):
        store.ingest_parsed(parsed, [summary()])


# -- weeks --------------------------------------------------------------------------------

def test_an_article_belongs_to_the_week_of_its_issue(store):
    dated = parsed_issue(
        [article(0, "有电头", date=dt.date(2022, 8, 28)),       # Sunday of W34
         article(1, "无电头", date=None)], date=dt.date(2022, 8, 29), source="masthead.txt")
    undated = parsed_issue(
        [article(0, "电头早", date=dt.date(2022, 8, 15)),       # W33: a stray old dateline
         article(1, "电头晚", date=dt.date(2022, 8, 22)),
         article(2, "无电头特稿", date=None)], source="plain.txt")
    no_dates = parsed_issue([article(0, "全无日期", date=None)], source="bare.txt")
    store.ingest_parsed(dated, [summary()] * 2)
    store.ingest_parsed(undated, [summary()] * 3)
    store.ingest_parsed(no_dates, [summary()],
                        mtime=dt.datetime(2022, 9, 6, 2, tzinfo=UTC))
    by_title = {a.title: a for a in store.all_articles()}
    # The masthead date (8-29, W35) decides, even for a story datelined the Sunday before;
    # the story keeps its own date.
    assert [a.title for a in store.articles_in_week(IsoWeek(2022, 35))] == ["有电头", "无电头"]
    assert by_title["有电头"].week_basis == "issue"
    assert by_title["有电头"].date == dt.date(2022, 8, 28)
    # No masthead: the issue's newest dateline (8-22, W34), for all three stories.
    assert [a.title for a in store.articles_in_week(IsoWeek(2022, 34))] == [
        "电头早", "电头晚", "无电头特稿"]
    assert {by_title[t].week_basis for t in ("电头早", "无电头特稿")} == {"latest_dateline"}
    assert by_title["无电头特稿"].file_date == dt.date(2022, 8, 22)
    # No date at all: the file's date (its mtime in the configured zone).
    assert (by_title["全无日期"].week_basis, str(week_of(by_title["全无日期"]))) == (
        "file", "2022-W36")
    assert store.weeks() == (IsoWeek(2022, 34), IsoWeek(2022, 35), IsoWeek(2022, 36))


def test_the_issue_week_migration_rewrites_an_old_database(tmp_path):
    """A database written under the dateline rule (schema 3) is migrated, not rebuilt:
    articles move to their issue's week, and what the per-week ledger says was mailed
    becomes per-story history (only stories stored before that mail went out)."""
    conn = connect(tmp_path / "old.db")
    apply_migrations(conn, MIGRATIONS[:3])
    issues = [  # id, masthead date, file date (newest dateline), ingested
        (1, "2022-08-23", "2022-08-22", "2022-08-23T01:00:00+00:00"),
        (2, None, "2022-08-19", "2022-08-30T01:00:00+00:00"),  # after W34's mail
        (3, None, "2022-07-01", "2022-07-02T01:00:00+00:00")]  # undated stories only
    for id_, day, file_day, at in issues:
        conn.execute("INSERT INTO issues (id, sha256, source, issue_date, file_date,"
                     " ingested_at) VALUES (?,?,?,?,?,?)", (id_, f"s{id_}", f"{id_}.txt", day,
                                                           file_day, at))
    articles = [  # id, issue, dateline date, old week, old basis
        (1, 1, "2022-08-17", "2022-W33", "dateline"), (2, 1, "2022-08-22", "2022-W34",
                                                       "dateline"),
        (3, 2, "2022-08-19", "2022-W33", "dateline"), (4, 3, None, "2022-W26", "file")]
    for id_, issue, day, week, basis in articles:
        conn.execute("INSERT INTO articles (id, issue_id, position, date, kind, paragraphs,"
                     " week, week_basis) VALUES (?,?,?,?,?,?,?,?)",
                     (id_, issue, id_, day, "news", "[]", week, basis))
    conn.execute("INSERT INTO email_ledger (week, subscriber, status, updated_at) VALUES"
                 " ('2022-W33', 'a@example.org', 'sent', '2022-08-29T01:00:00+00:00'),"
                 " ('2022-W34', 'a@example.org', 'sent', '2022-08-29T01:00:00+00:00'),"
                 " ('2022-W34', 'b@example.org', 'empty', '2022-08-29T01:00:00+00:00')")
    conn.execute("INSERT INTO service_weeks VALUES ('2022-W33', 1, 'x'), ('2022-W34', 1, 'x')")
    conn.execute("INSERT INTO digests (week, built_at, updated_at, issue_count, article_count,"
                 " theme_count, markdown, html, text) VALUES"
                 " ('2022-W33', 'x', 'x', 2, 2, 1, '', '', ''),"
                 " ('2022-W34', 'x', 'x', 1, 1, 1, '', '', ''),"
                 " ('2022-W29', 'x', 'x', 1, 1, 1, '', '', '')")  # no article is left there
    assert apply_migrations(conn) == len(MIGRATIONS)
    weeks = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, week, week_basis FROM articles")}
    assert weeks == {1: ("2022-W34", "issue"), 2: ("2022-W34", "issue"),
                     3: ("2022-W33", "latest_dateline"), 4: ("2022-W26", "file")}
    mailed = sorted(tuple(r) for r in conn.execute(
        "SELECT article_id, subscriber, mail_week FROM story_ledger"))
    # Issue 2 came after the W33 mail: its story was never mailed, so it is still due.
    assert mailed == [(1, "a@example.org", "2022-W33"), (2, "a@example.org", "2022-W34")]
    assert conn.execute("SELECT count(*) FROM service_weeks").fetchone()[0] == 0  # rebuild all
    assert [r[0] for r in conn.execute("SELECT week FROM digests ORDER BY week")] == [
        "2022-W33", "2022-W34"]
    conn.close()


def test_file_date_falls_back_to_mtime_in_the_configured_zone():
    tz = load_config(ROOT / "config.toml").tz
    undated = parsed_issue([article(date=None)])
    late_sunday_utc = dt.datetime(2022, 8, 21, 18, 30, tzinfo=UTC)  # Monday 02:30 in Shanghai
    assert file_date_of(undated, late_sunday_utc, tz, dt.date(2030, 1, 1)) == dt.date(2022, 8, 22)
    assert file_date_of(undated, None, tz, dt.date(2030, 1, 1)) == dt.date(2030, 1, 1)


# -- digests ------------------------------------------------------------------------------

def test_saved_digests_are_replaced_per_week(store):
    store.ingest_parsed(parsed_issue([article()]), [summary()],
                        now=dt.datetime(2022, 8, 25, tzinfo=UTC))
    week = IsoWeek(2022, 34)
    for version in ("v1", "v2"):
        store.save_digest(week, issue_count=1, article_count=1, theme_count=1,
                          markdown=version, html="<p>", text="t", feed_html="f")
    (record,) = store.digests()
    assert (record.week, record.markdown) == (week, "v2")
    assert record.updated_at == dt.datetime(2022, 8, 25, tzinfo=UTC)  # newest ingest, not build


# -- pipeline and CLI ---------------------------------------------------------------------

class CountingRanker:
    """A stand-in ranker that counts calls; the seeds tests elsewhere use the real one."""

    def __init__(self):
        self.calls = 0

    def summarize_articles(self, articles):
        self.calls += len(articles)
        return [summary((art.paragraphs[0][:20],), ("测试",)) for art in articles]


def test_ingest_paths_expands_folders_and_skips_known_files(config, tmp_path):
    folder = tmp_path / "inbox"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text(HOSTILE_ISSUE, encoding="utf-8")
    (folder / "sub" / "b.txt").write_text(HOSTILE_ISSUE.replace("8月24日", "8月25日"),
                                          encoding="utf-8")
    (folder / ".hidden.txt").write_text(HOSTILE_ISSUE, encoding="utf-8")
    (folder / "notes.md").write_text("不是报纸", encoding="utf-8")
    copy = tmp_path / "copy-of-a.txt"
    copy.write_bytes((folder / "a.txt").read_bytes())
    ranker = CountingRanker()
    first = pipeline.ingest_paths(config, [folder, copy], ranker=ranker)
    assert [(r.path.name, r.status) for r in first] == [
        ("a.txt", "stored"), ("b.txt", "stored"), ("copy-of-a.txt", "skipped")]
    assert "already stored (as a.txt" in first[2].message
    again = pipeline.ingest_paths(config, [folder], ranker=ranker)
    assert [r.status for r in again] == ["skipped", "skipped"]
    assert ranker.calls == 2  # known files are never parsed or ranked again


def test_unreadable_files_fail_without_stopping_the_rest(config, tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"\x00\x01\x02binary\x00")
    (tmp_path / "good.txt").write_text(HOSTILE_ISSUE, encoding="utf-8")
    results = pipeline.ingest_paths(config, [tmp_path / "bad.txt", tmp_path / "missing.txt",
                                             tmp_path / "good.txt"], ranker=CountingRanker())
    assert [r.status for r in results] == ["failed", "failed", "stored"]
    assert "binary" in results[0].message


def test_cli_ingest_reports_stored_and_skipped(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGEST_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(pipeline, "LazyRanker", lambda config: CountingRanker())
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.txt").write_text(HOSTILE_ISSUE, encoding="utf-8")
    runner = CliRunner()
    args = ["--config", str(ROOT / "config.toml"), "ingest", str(tmp_path / "in")]
    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "x.txt: stored 1 articles" in first.output and "1 stored, 0 skipped" in first.output
    second = runner.invoke(main, args)
    assert second.exit_code == 0 and "already stored" in second.output
    assert "0 stored, 1 skipped, 0 failed" in second.output
    empty = runner.invoke(main, ["--config", str(ROOT / "config.toml"), "ingest",
                                 str(tmp_path / "nothing-here")])
    assert empty.exit_code == 1


@pytest.mark.skipif(not SEEDS.is_dir(), reason="seeds/ missing")
def test_seeds_ingest_with_the_real_ranker(config):
    results = pipeline.ingest_paths(config, [SEEDS])
    assert [r.status for r in results] == ["stored"] * 5
    assert sum(r.articles for r in results) == 48
    with open_store(config) as opened:
        articles = opened.all_articles()
        assert len(articles) == 48
        assert all(a.keywords for a in articles)
        assert sum(bool(a.sentences) for a in articles) >= 45
        # One week per issue's publication date: 000 and 002 are both of 2022-W30.
        assert [str(w) for w in opened.weeks()] == [
            "2022-W30", "2022-W34", "2022-W35", "2022-W48"]
        sizes = {w: len(opened.articles_in_week(w)) for w in opened.weeks()}
        assert min(sizes.values()) >= 8  # no single-article weeks from stray datelines
    assert [r.status for r in pipeline.ingest_paths(config, [SEEDS])] == ["skipped"] * 5


@pytest.mark.skipif(not SEEDS.is_dir(), reason="seeds/ missing")
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # forged words
def test_ingest_stores_the_grouping_words_a_build_would_cut(config):
    """Ingest cuts each article's grouping words once (themes/words.py); they are what a
    build would cut from the stored article, and a week groups the same with them, without
    them (a store from before) or with words of another tokenizer's stamp (ignored)."""
    from digest.text import make_tokenizer
    from digest.themes import group_week
    from digest.themes.words import grouping_words, words_stamp

    pipeline.ingest_paths(config, [SEEDS])
    tokenizer = make_tokenizer(config.text, config.paths.state / "cache")
    with open_store(config) as opened:
        week = opened.articles_in_week(IsoWeek(2022, 30))
    assert all(a.grouping_stamp == words_stamp(config.text) for a in week)
    assert [a.grouping_words for a in week] == [grouping_words(a, tokenizer) for a in week]
    assert all(len(a.grouping_words.split(" ")) > 20 for a in week)
    without = [dataclasses.replace(a, grouping_words=None, grouping_stamp="") for a in week]
    stale = [dataclasses.replace(a, grouping_words="错词 错词", grouping_stamp="another")
             for a in week]

    automatic = dataclasses.replace(config, themes=())  # every story grouped by its words

    def grouped(articles):
        return [(t.name, t.label, [(s.lead.id, [a.id for a in s.also_in]) for s in t.stories])
                for t in group_week(articles, automatic)]

    assert len(grouped(week)) >= 2
    assert grouped(week) == grouped(without) == grouped(stale)
    # and the stored words are the ones used: words forged under the right stamp change it
    forged = [dataclasses.replace(a, grouping_words="错词 测试" if a.id % 2 else "别的 词语")
              for a in week]
    assert grouped(forged) != grouped(week)


DEV_ISSUES = ROOT.parent / "shared" / "dev" / "issues"


@pytest.mark.skipif(not SEEDS.is_dir(), reason="seeds/ missing")
def test_grouping_words_from_the_rankers_cut_are_those_of_a_cut_of_their_own(config):
    """Ingest takes the body's grouping words from the ranker's cut of it (one cut an
    article, themes/words.py `grouping_words_from_cut`); on every article of the seeds and
    the dev papers (other papers, other layouts: bodies longer and shorter than TOKEN_CHARS)
    they are the words a separate cut of the grouping text gives, and the summaries are
    summarize_articles' own."""
    from digest import decode, parse
    from digest.rank import Ranker
    from digest.text import make_tokenizer
    from digest.themes.words import TOKEN_CHARS, grouping_words, words_stamp

    ranker = Ranker(config)
    tokenizer = make_tokenizer(config.text, config.paths.state / "cache")
    files = sorted(SEEDS.glob("*.txt")) + sorted(DEV_ISSUES.glob("*.txt"))
    long_bodies = checked = 0
    for path in files:
        articles = parse.parse_issue(decode.read_issue_file(path)).articles
        summaries, words = ranker.summarize_with_words(articles)
        assert summaries == ranker.summarize_articles(articles)
        assert words.stamp == words_stamp(config.text)
        assert list(words.words) == [grouping_words(a, tokenizer) for a in articles], path.name
        long_bodies += sum(len(a.body) > TOKEN_CHARS for a in articles)
        checked += len(articles)
    assert checked >= 48 and long_bodies >= 1


def test_grouping_words_from_a_cut_that_does_not_line_up_are_cut_afresh(config):
    """A body cut that is not the body's (a character changed, a line break inside a
    token, none given) is not used: the article is cut again, so the words are the same."""
    from digest.text import make_tokenizer
    from digest.themes.words import TOKEN_CHARS, grouping_words, grouping_words_from_cut

    tokenizer = make_tokenizer(config.text, config.paths.state / "cache")
    long_paragraph = "东昌府区推进重点项目建设，" * 200  # no line break before TOKEN_CHARS
    assert len(long_paragraph) > TOKEN_CHARS
    for body in ("聊城市东昌府区召开会议。\n会议强调，要抓好落实。",
                 "第一段讲经济。\n" + long_paragraph, long_paragraph):
        a = article(title="重点项目", body=body)
        fresh = grouping_words(a, tokenizer)
        good = "\0".join(tokenizer.cut(a.body))
        assert grouping_words_from_cut(a, good, tokenizer) == fresh
        for bad in (None, good.replace("会", "开", 1), good.replace("\n\0", "\n", 1),
                    "假\0词", ""):
            assert grouping_words_from_cut(a, bad, tokenizer) == fresh


def test_the_word_filter_over_a_joined_cut_keeps_the_tokens_is_word_keeps():
    """grouping_words_from_cut filters the ranker's NUL-joined tokens with one regex: the
    same tokens as `is_word` one by one, on random tokens of letters, digits, Han, spaces of
    every kind, line breaks and punctuation."""
    import random

    from digest.themes.words import _WORD_TOKEN, is_word

    alphabet = ["a", "Z", "1", "中", "㐀", "文", " ", "\u3000", "\n", "\t", "_", "—", "。",
                "é", "\u00a0", "\u2028", "\x85"]
    rng = random.Random(7)
    for _ in range(5000):
        tokens = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 5)))
                  for _ in range(rng.randint(0, 8))]
        assert _WORD_TOKEN.findall("\0".join(tokens)) == [t for t in tokens if is_word(t)]


def test_grouping_words_carry_a_stamp_of_what_cut_them(tmp_path):
    """Another backend or another user dictionary gives another stamp, so a build cuts
    again rather than use words cut another way."""
    from digest.config import TextConfig
    from digest.themes.words import words_stamp

    words = tmp_path / "words.txt"
    words.write_text("东昌府 10 ns\n", encoding="utf-8")
    plain = words_stamp(TextConfig(tokenizer="rjieba"))
    with_dict = words_stamp(TextConfig(tokenizer="rjieba", user_dict=words))
    assert len({plain, with_dict, words_stamp(TextConfig(tokenizer="jieba"))}) == 3
    assert words_stamp(TextConfig(tokenizer="rjieba", user_dict=words)) == with_dict
    words.write_text("东昌府 10 ns\n聊城 5 ns\n", encoding="utf-8")
    assert words_stamp(TextConfig(tokenizer="rjieba", user_dict=words)) != with_dict
