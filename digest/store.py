"""The embedded database: issues, articles, key sentences, keywords and built digests.

One SQLite file at `<state>/digest.db` (state is `[paths].state`, or `$DIGEST_HOME`).
- WAL journal, so the unattended service can read while an ingest writes, and a busy
  timeout so two processes (the CLI and the watcher) wait for each other instead of failing.
- Schema changes are an append-only list of migrations numbered by `PRAGMA user_version`;
  each runs in one transaction with the version bump, so a crash leaves the old schema or
  the new one, never half of it. Never edit a released migration: append a new one.
- Every write runs in `BEGIN IMMEDIATE ... COMMIT` (`Store.transaction`): an issue and all
  its articles are stored together or not at all.
- A file is identified by the sha256 of its bytes (UNIQUE), so storing the same file twice
  is impossible even when two ingests race.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from .config import Config
from .model import (
    GroupingWords,
    KeySentence,
    KeywordCandidate,
    ParsedIssue,
    StoredArticle,
    Summary,
)
from .rank.df import PRIOR_DOCUMENTS
from .sanitize import clean
from .sanitize import clean_optional as _c
from .weeks import IsoWeek, moment_to_date, reading_order

DB_NAME = "digest.db"
BUSY_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class Migration:
    """One schema step. `statements` run in order inside a single transaction."""

    description: str
    statements: tuple[str, ...]


def iso_week_sql(day: str) -> str:
    """SQL for the ISO week ('2022-W34') of an ISO date expression, in plain SQLite (its
    %V/%G need 3.46): the week of a day is the week of its Thursday, numbered within the
    Thursday's year."""
    thursday = (f"date({day}, printf('%+d days', 3 - (CAST(strftime('%w', {day}) AS INTEGER)"
                f" + 6) % 7))")
    return (f"printf('%s-W%02d', strftime('%Y', {thursday}),"
            f" (CAST(strftime('%j', {thursday}) AS INTEGER) - 1) / 7 + 1)")


# Append-only: the position in this list (1-based) is the schema version it produces.
MIGRATIONS: list[Migration] = [
    Migration("issues, articles, key sentences, keywords, digests", (
        """CREATE TABLE issues (
            id INTEGER PRIMARY KEY,
            sha256 TEXT NOT NULL UNIQUE,      -- of the file's bytes: the file's identity
            source TEXT NOT NULL,             -- file name as received
            paper TEXT,
            issue_date TEXT,                  -- ISO date from the masthead, or NULL
            issue_number TEXT,
            encoding TEXT,
            file_mtime TEXT,                  -- ISO 8601 with offset, or NULL
            file_date TEXT NOT NULL,          -- see file_date_of()
            ingested_at TEXT NOT NULL         -- ISO 8601 UTC
        )""",
        """CREATE TABLE articles (
            id INTEGER PRIMARY KEY,
            issue_id INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,        -- 0-based index in the issue
            title TEXT, kicker TEXT, subtitle TEXT,
            date TEXT,                        -- ISO date of the dateline, or NULL
            place TEXT, dateline TEXT, byline TEXT,
            kind TEXT NOT NULL,
            paragraphs TEXT NOT NULL,         -- JSON array of strings
            week TEXT NOT NULL,               -- '2022-W34', from weeks.effective_date
            week_basis TEXT NOT NULL,         -- 'dateline' | 'issue' | 'file'
            UNIQUE (issue_id, position)
        )""",
        "CREATE INDEX articles_week ON articles (week)",
        """CREATE TABLE key_sentences (
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,        -- order in the summary (document order)
            sentence_index INTEGER NOT NULL,  -- position in the article's sentence list
            text TEXT NOT NULL,
            score REAL NOT NULL,
            PRIMARY KEY (article_id, position)
        )""",
        """CREATE TABLE keywords (
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            rank INTEGER NOT NULL,            -- 0 = strongest
            word TEXT NOT NULL,
            PRIMARY KEY (article_id, rank)
        )""",
        "CREATE INDEX keywords_word ON keywords (word)",
        """CREATE TABLE digests (
            week TEXT PRIMARY KEY,            -- '2022-W34'
            built_at TEXT NOT NULL,           -- ISO 8601 UTC of the last build
            updated_at TEXT NOT NULL,         -- newest ingest among its articles (feed 'updated')
            issue_count INTEGER NOT NULL,
            article_count INTEGER NOT NULL,
            theme_count INTEGER NOT NULL,
            markdown TEXT NOT NULL,
            html TEXT NOT NULL,
            text TEXT NOT NULL
        )""",
    )),
    # The unattended service (digest/ingest.py, digest/deliver.py): what happened to each
    # inbox file, and the (week, subscriber) email ledger that makes sends happen once.
    Migration("service: inbox log, built weeks, email ledger", (
        """CREATE TABLE inbox_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,                 -- ISO 8601 UTC
            name TEXT NOT NULL,               -- file name as it arrived in the inbox
            sha256 TEXT NOT NULL,
            outcome TEXT NOT NULL,            -- 'ingested' | 'duplicate' | 'failed'
            moved_to TEXT NOT NULL,
            reason TEXT                       -- why it failed
        )""",
        """CREATE TABLE service_weeks (
            week TEXT PRIMARY KEY,            -- '2022-W34', built by the service
            issue_count INTEGER NOT NULL,     -- issues with articles in it when built
            built_at TEXT NOT NULL            -- ISO 8601 UTC
        )""",
        """CREATE TABLE email_ledger (
            week TEXT NOT NULL,               -- '2022-W34'
            subscriber TEXT NOT NULL,         -- the address, lower-case
            status TEXT NOT NULL,             -- 'sent' | 'empty' | 'retry' | 'gave_up'
            attempts INTEGER NOT NULL DEFAULT 0,
            next_try TEXT,                    -- ISO 8601 UTC, when status = 'retry'
            last_error TEXT,                  -- never contains the password
            message_id TEXT,
            updated_at TEXT NOT NULL,         -- ISO 8601 UTC
            PRIMARY KEY (week, subscriber)
        )""",
    )),
    # Each feed entry carries its week's contents (themes and story titles) as HTML, kept
    # with the digest so feed.xml can list every week without regrouping old weeks.
    Migration("digests: feed entry content", (
        "ALTER TABLE digests ADD COLUMN feed_html TEXT NOT NULL DEFAULT ''",
    )),
    # A digest is the week's papers: an article's week becomes its issue's publication week
    # (was: its own dateline's week), and what was mailed is remembered per story and
    # subscriber (was: per week only), so a late issue's stories go out with the next mail.
    # Order matters: the story ledger is filled from the week ledger under the OLD weeks
    # (a story counts as mailed when its week's mail to that subscriber was sent after its
    # issue was stored), then the weeks are recomputed, then every week is due for a rebuild
    # and digests of weeks left without articles are dropped.
    Migration("issue weeks and the per-story mail ledger", (
        """CREATE TABLE story_ledger (
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            subscriber TEXT NOT NULL,         -- the address, lower-case
            mail_week TEXT NOT NULL,          -- the email_ledger week of the mail it went in
            sent_at TEXT NOT NULL,            -- ISO 8601 UTC
            PRIMARY KEY (article_id, subscriber)
        )""",
        """INSERT OR IGNORE INTO story_ledger (article_id, subscriber, mail_week, sent_at)
            SELECT a.id, l.subscriber, l.week, l.updated_at
            FROM email_ledger l JOIN articles a ON a.week = l.week
            JOIN issues i ON i.id = a.issue_id
            WHERE l.status = 'sent' AND i.ingested_at <= l.updated_at""",
        "UPDATE articles SET week = (SELECT " + iso_week_sql("coalesce(i.issue_date, i.file_date)")
        + " FROM issues i WHERE i.id = articles.issue_id),"
        " week_basis = (SELECT CASE WHEN i.issue_date IS NOT NULL THEN 'issue'"
        " WHEN EXISTS (SELECT 1 FROM articles b WHERE b.issue_id = i.id"
        " AND b.date = i.file_date) THEN 'latest_dateline' ELSE 'file' END"
        " FROM issues i WHERE i.id = articles.issue_id)",
        "DELETE FROM service_weeks",
        "DELETE FROM digests WHERE week NOT IN (SELECT week FROM articles)",
    )),
    # Keywords re-weighted by document frequency over the store (digest/rank/df.py): each
    # article's scored candidates, and per word how many stored articles have it among theirs.
    # Articles stored before this keep the keywords they were stored with.
    Migration("keyword candidates and their document frequencies", (
        """CREATE TABLE keyword_candidates (
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            rank INTEGER NOT NULL,            -- 0 = strongest, as ranked on the article alone
            word TEXT NOT NULL,
            score REAL NOT NULL,
            prior REAL NOT NULL,              -- share of documents with it in jieba's corpus
            PRIMARY KEY (article_id, rank)
        )""",
        """CREATE TABLE term_df (
            word TEXT PRIMARY KEY,
            articles INTEGER NOT NULL         -- stored articles with it among their candidates
        ) WITHOUT ROWID""",
        """CREATE TABLE term_documents (      -- one row: the articles term_df has counted
            id INTEGER PRIMARY KEY CHECK (id = 1),
            articles INTEGER NOT NULL
        )""",
        "INSERT INTO term_documents (id, articles) VALUES (1, 0)",
    )),
    # Words for automatic themes cut at ingest (digest/themes/words.py), so that building a
    # week does not cut them again; NULL for articles stored before (a build cuts those).
    Migration("grouping words cut at ingest", (
        "ALTER TABLE articles ADD COLUMN grouping_words TEXT",
        "ALTER TABLE articles ADD COLUMN grouping_stamp TEXT NOT NULL DEFAULT ''",
    )),
]


class StoreError(Exception):
    """The database cannot be opened or is newer than this program."""


@dataclass(frozen=True)
class StoredIssue:
    id: int
    sha256: str
    source: str
    paper: str | None
    issue_date: dt.date | None
    issue_number: str | None
    file_date: dt.date
    ingested_at: dt.datetime
    article_count: int


@dataclass(frozen=True)
class DigestRecord:
    week: IsoWeek
    built_at: dt.datetime
    updated_at: dt.datetime
    issue_count: int
    article_count: int
    theme_count: int
    markdown: str
    html: str
    text: str
    feed_html: str


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def file_date_of(parsed: ParsedIssue, mtime: dt.datetime | None, tz: ZoneInfo,
                 today: dt.date) -> dt.date:
    """The date an issue without a masthead date is taken to be printed on (its week).

    The newest dateline in the file comes first: an issue is printed after the events it
    reports, so this is the best estimate of an undated issue's date, and, unlike the file's
    modification time, it survives copying, checkouts and re-sending. Then the modification
    time (in the configured zone), then the day of ingest.
    """
    datelines = [a.date for a in parsed.articles if a.date is not None]
    if datelines:
        return max(datelines)
    return moment_to_date(mtime, tz) or today


def _add_candidates(rows: list[tuple], document_counts: dict[str, int], article_id: int,
                    candidates: Sequence[KeywordCandidate]) -> int:
    """Appends an article's keyword candidates to `rows` and counts each distinct word once
    in `document_counts` (the store's document frequencies); 1 if it had any, else 0."""
    if not candidates:
        return 0
    words = [clean(word) for word, _, _ in candidates]
    rows += [(article_id, i, word, score, prior)
             for i, (word, (_, score, prior)) in enumerate(zip(words, candidates))]
    for word in dict.fromkeys(words):
        document_counts[word] = document_counts.get(word, 0) + 1
    return 1


def apply_migrations(conn: sqlite3.Connection,
                     migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the schema up to date; returns the version. Safe to call from several processes."""
    conn.execute("BEGIN IMMEDIATE")  # the write lock first, so only one process migrates
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(migrations):
            raise StoreError(f"the database is at schema version {version}, newer than this "
                             f"program knows ({len(migrations)}); upgrade digest")
        for number, migration in enumerate(migrations[version:], start=version + 1):
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number:d}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(migrations)


class Store:
    """A connection to the database with the queries the stages need."""

    def __init__(self, conn: sqlite3.Connection, path: Path, tz: ZoneInfo):
        self.conn = conn
        self.path = path
        self.tz = tz

    # -- connection -------------------------------------------------------------------

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception. Inside a transaction
        already open (a writer committing a batch of files at once), a savepoint of it: each
        part still lands whole or not at all, and nothing is durable before the outer
        COMMIT."""
        if self.conn.in_transaction:
            self.conn.execute("SAVEPOINT part")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK TO part")
                self.conn.execute("RELEASE part")
                raise
            self.conn.execute("RELEASE part")
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    # -- issues -----------------------------------------------------------------------

    def has_file(self, sha256: str) -> bool:
        return self.conn.execute("SELECT 1 FROM issues WHERE sha256 = ?",
                                 (sha256,)).fetchone() is not None

    def issue_by_sha256(self, sha256: str) -> StoredIssue | None:
        row = self.conn.execute(
            "SELECT i.*, (SELECT count(*) FROM articles a WHERE a.issue_id = i.id) AS n "
            "FROM issues i WHERE sha256 = ?", (sha256,)).fetchone()
        return self._issue(row) if row else None

    def issues(self) -> tuple[StoredIssue, ...]:
        rows = self.conn.execute(
            "SELECT i.*, (SELECT count(*) FROM articles a WHERE a.issue_id = i.id) AS n "
            "FROM issues i ORDER BY i.id").fetchall()
        return tuple(self._issue(row) for row in rows)

    @staticmethod
    def _issue(row: sqlite3.Row) -> StoredIssue:
        return StoredIssue(
            id=row["id"], sha256=row["sha256"], source=row["source"], paper=row["paper"],
            issue_date=_date(row["issue_date"]), issue_number=row["issue_number"],
            file_date=dt.date.fromisoformat(row["file_date"]),
            ingested_at=dt.datetime.fromisoformat(row["ingested_at"]), article_count=row["n"])

    def ingest_parsed(self, parsed: ParsedIssue, summaries: Sequence[Summary], *,
                      mtime: dt.datetime | None = None, encoding: str | None = None,
                      now: dt.datetime | None = None,
                      words: GroupingWords | None = None) -> int | None:
        """Store one parsed and ranked issue in one transaction.

        `summaries[i]` belongs to `parsed.articles[i]`, as `words.words[i]` (if given) does.
        Returns the new issue id, or None when a file with the same sha256 is already stored
        (nothing is written then).
        """
        if len(summaries) != len(parsed.articles):
            raise ValueError(f"{parsed.issue.source}: {len(parsed.articles)} articles but "
                             f"{len(summaries)} summaries")
        if words is not None and len(words.words) != len(parsed.articles):
            raise ValueError(f"{parsed.issue.source}: {len(parsed.articles)} articles but "
                             f"{len(words.words)} grouping words")
        stamp = words.stamp if words is not None else ""
        now = (now or _utc_now()).astimezone(dt.timezone.utc)
        meta = parsed.issue
        file_date = file_date_of(parsed, mtime, self.tz, now.astimezone(self.tz).date())
        with self.transaction() as conn:
            if self.has_file(meta.sha256):  # checked under the write lock: no race
                return None
            issue_id = conn.execute(
                "INSERT INTO issues (sha256, source, paper, issue_date, issue_number, encoding,"
                " file_mtime, file_date, ingested_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (meta.sha256, clean(meta.source), _c(meta.paper), _iso(meta.date), _c(meta.number),
                 encoding,
                 mtime.isoformat() if mtime else None, file_date.isoformat(),
                 now.isoformat())).lastrowid
            # The issue's publication week, for every article in it (see digest/weeks.py).
            week = str(IsoWeek.of(meta.date or file_date))
            basis = ("issue" if meta.date else "latest_dateline"
                     if any(a.date == file_date for a in parsed.articles) else "file")
            # Child rows go in one executemany per table for the whole issue, in the order
            # they would go article by article (the same rows and rowids, fewer calls).
            sentences: list[tuple] = []
            keywords: list[tuple] = []
            candidates: list[tuple] = []
            document_counts: dict[str, int] = {}  # word -> articles, in first-seen order
            counted = 0
            for k, (article, summary) in enumerate(zip(parsed.articles, summaries)):
                article_id = conn.execute(
                    "INSERT INTO articles (issue_id, position, title, kicker, subtitle, date,"
                    " place, dateline, byline, kind, paragraphs, week, week_basis,"
                    " grouping_words, grouping_stamp) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (issue_id, article.index, _c(article.title), _c(article.kicker),
                     _c(article.subtitle), _iso(article.date), _c(article.place),
                     _c(article.dateline), _c(article.byline), article.kind,
                     json.dumps([clean(p) for p in article.paragraphs], ensure_ascii=False),
                     week, basis, words.words[k] if words is not None else None,
                     stamp)).lastrowid
                sentences += [(article_id, i, s.index, clean(s.text), s.score)
                              for i, s in enumerate(summary.sentences)]
                keywords += [(article_id, i, clean(word))
                             for i, word in enumerate(summary.keywords)]
                counted += _add_candidates(candidates, document_counts, article_id,
                                           summary.candidates)
            conn.executemany(
                "INSERT INTO key_sentences (article_id, position, sentence_index, text,"
                " score) VALUES (?,?,?,?,?)", sentences)
            conn.executemany(
                "INSERT INTO keywords (article_id, rank, word) VALUES (?,?,?)", keywords)
            conn.executemany(
                "INSERT INTO keyword_candidates (article_id, rank, word, score, prior)"
                " VALUES (?,?,?,?,?)", candidates)
            conn.executemany(
                "INSERT INTO term_df (word, articles) VALUES (?, ?)"
                " ON CONFLICT (word) DO UPDATE SET articles = articles + excluded.articles",
                document_counts.items())
            if counted:
                conn.execute("UPDATE term_documents SET articles = articles + ? WHERE id = 1",
                             (counted,))
        return issue_id

    # -- articles ---------------------------------------------------------------------

    def weeks(self) -> tuple[IsoWeek, ...]:
        """Every week that has at least one stored article, oldest first."""
        rows = self.conn.execute("SELECT DISTINCT week FROM articles").fetchall()
        return tuple(sorted(IsoWeek.parse(row[0]) for row in rows))

    def articles_in_week(self, week: IsoWeek) -> tuple[StoredArticle, ...]:
        return self._articles("WHERE a.week = ?", (str(week),))

    def all_articles(self) -> tuple[StoredArticle, ...]:
        return self._articles("", ())

    def _articles(self, where: str, params: tuple) -> tuple[StoredArticle, ...]:
        rows = self.conn.execute(
            "SELECT a.*, i.paper, i.issue_date, i.issue_number, i.source, i.file_date,"
            " i.sha256 FROM articles a JOIN issues i ON i.id = a.issue_id " + where +
            " ORDER BY a.id", params).fetchall()
        ids = [row["id"] for row in rows]
        sentences = self._by_article(
            "SELECT article_id, sentence_index, text, score FROM key_sentences"
            " WHERE article_id IN ({}) ORDER BY article_id, position", ids,
            lambda r: KeySentence(index=r[1], text=r[2], score=r[3]))
        keywords = self._by_article(
            "SELECT article_id, word FROM keywords WHERE article_id IN ({})"
            " ORDER BY article_id, rank", ids, lambda r: r[1])
        keywords.update(self._reweighted_keywords(ids, keywords))
        articles = tuple(
            StoredArticle(
                id=row["id"], issue_id=row["issue_id"], paper=row["paper"],
                issue_date=_date(row["issue_date"]), issue_number=row["issue_number"],
                source=row["source"], title=row["title"], kicker=row["kicker"],
                subtitle=row["subtitle"], date=_date(row["date"]), byline=row["byline"],
                kind=row["kind"], paragraphs=tuple(json.loads(row["paragraphs"])),
                sentences=tuple(sentences.get(row["id"], ())),
                keywords=tuple(keywords.get(row["id"], ())),
                file_date=_date(row["file_date"]), week_basis=row["week_basis"],
                position=row["position"], place=row["place"], dateline=row["dateline"],
                issue_sha256=row["sha256"], grouping_words=row["grouping_words"],
                grouping_stamp=row["grouping_stamp"])
            for row in rows)
        # Reading order: by the date that placed the article, then paper, file and position,
        # so a digest does not depend on the order files happened to be ingested in.
        return tuple(sorted(articles, key=reading_order))

    def _reweighted_keywords(self, ids: list[int], stored: dict[int, list[str]]
                             ) -> dict[int, tuple[str, ...]]:
        """Each article's keywords picked from its candidates with the store's document
        frequencies (as many as it was stored with): a function of what is stored, not of
        the order it was stored in. `rank.df.reweighted` with the same arithmetic, in SQL:
        a week's ~30 candidates an article are scored and ranked where they are stored,
        and only the ones kept come back (a test holds the two equal). ROW_NUMBER needs
        SQLite 3.25 (2018); the upserts need 3.24 already."""
        documents = self.conn.execute(
            "SELECT articles FROM term_documents WHERE id = 1").fetchone()[0]
        keep = max(map(len, stored.values()), default=0)
        picked: dict[int, list[str]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = self.conn.execute(
                "SELECT article_id, word, place FROM ("
                " SELECT article_id, word, ROW_NUMBER() OVER (PARTITION BY article_id"
                "  ORDER BY -score * (kept * kept * kept), rank) AS place FROM ("
                "  SELECT c.article_id, c.rank, c.word, c.score,"
                "   1.0 - min((coalesce(d.articles, 0) + ? * c.prior) / (? + ?), 1.0) AS kept"
                "   FROM keyword_candidates c LEFT JOIN term_df d ON d.word = c.word"
                "   WHERE c.article_id IN ({})))"
                " WHERE place <= ? ORDER BY article_id, place".format(",".join("?" * len(chunk))),
                (PRIOR_DOCUMENTS, documents, PRIOR_DOCUMENTS, *chunk, keep))
            for article, word, place in rows:
                if place <= len(stored.get(article, ())):  # as many as it was stored with
                    picked.setdefault(article, []).append(word)
        return {article: tuple(words) for article, words in picked.items()}

    def _by_article(self, sql: str, ids: list[int], make) -> dict[int, list]:
        found: dict[int, list] = {}
        # SQLite limits bound parameters per statement; chunks keep any week size safe.
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            query = sql.format(",".join("?" * len(chunk)))
            for row in self.conn.execute(query, chunk):
                found.setdefault(row[0], []).append(make(row))
        return found

    def week_updated_at(self, week: IsoWeek) -> dt.datetime | None:
        """When the newest issue with an article in `week` was ingested (feed 'updated')."""
        row = self.conn.execute(
            "SELECT max(i.ingested_at) FROM issues i JOIN articles a ON a.issue_id = i.id"
            " WHERE a.week = ?", (str(week),)).fetchone()
        return dt.datetime.fromisoformat(row[0]) if row and row[0] else None

    # -- digests ----------------------------------------------------------------------

    def save_digest(self, week: IsoWeek, *, issue_count: int, article_count: int,
                    theme_count: int, markdown: str, html: str, text: str, feed_html: str,
                    now: dt.datetime | None = None) -> None:
        built = (now or _utc_now()).astimezone(dt.timezone.utc).isoformat()
        updated = self.week_updated_at(week)
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO digests (week, built_at, updated_at, issue_count, article_count,"
                " theme_count, markdown, html, text, feed_html) VALUES (?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (week) DO UPDATE SET built_at = excluded.built_at,"
                " updated_at = excluded.updated_at, issue_count = excluded.issue_count,"
                " article_count = excluded.article_count, theme_count = excluded.theme_count,"
                " markdown = excluded.markdown, html = excluded.html, text = excluded.text,"
                " feed_html = excluded.feed_html",
                (str(week), built, updated.isoformat() if updated else built, issue_count,
                 article_count, theme_count, markdown, html, text, feed_html))

    def digests(self) -> tuple[DigestRecord, ...]:
        """Every built digest, oldest week first."""
        rows = self.conn.execute("SELECT * FROM digests").fetchall()
        records = (DigestRecord(
            week=IsoWeek.parse(r["week"]), built_at=dt.datetime.fromisoformat(r["built_at"]),
            updated_at=dt.datetime.fromisoformat(r["updated_at"]),
            issue_count=r["issue_count"], article_count=r["article_count"],
            theme_count=r["theme_count"], markdown=r["markdown"], html=r["html"],
            text=r["text"], feed_html=r["feed_html"]) for r in rows)
        return tuple(sorted(records, key=lambda d: d.week))

    def digest(self, week: IsoWeek) -> DigestRecord | None:
        return next((d for d in self.digests() if d.week == week), None)


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode: transactions are explicit (see Store.transaction)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable at checkpoints, fast
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def open_store(config: Config, migrations: Sequence[Migration] = MIGRATIONS) -> Store:
    """Open (creating and migrating as needed) `<state>/digest.db`."""
    path = Path(config.paths.state) / DB_NAME
    try:
        conn = connect(path)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"{path}: cannot open the database ({exc})") from None
    try:
        apply_migrations(conn, migrations)
    except BaseException:
        conn.close()
        raise
    return Store(conn, path, config.tz)


def open_reader(config: Config) -> Store:
    """A read-only Store of a database another connection of this run opened (and so
    migrated) already: for a worker process that only reads (building weeks). It never
    takes the write lock, so it cannot hold up the one writer."""
    path = Path(config.paths.state) / DB_NAME
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
    conn.execute("PRAGMA query_only = ON")
    return Store(conn, path, config.tz)
