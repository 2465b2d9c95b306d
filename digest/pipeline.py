"""The whole job in two calls, for the CLI and the unattended service.

- `ingest_paths(config, paths)`: decode, parse, rank and store files (folders are searched
  for *.txt); a file already stored (same sha256) is skipped, not duplicated. Decoding,
  parsing and ranking run on every core (`digest.workers`); this process alone writes.
- `ingest_claimed(store, preparer, paths)`: the same for the inbox's claimed files, as the
  inbox's `Ingestor.ingest_many`.
- `build_weeks(config, weeks, out_dir)`: group each week's stored articles into themes,
  render and write `digest-YYYY-Www.md/.html` (weeks grouped on every core when there are
  enough), record them in the store, then rewrite `index.html` and `feed.xml` from every
  digest built so far.

Both accept an open Store so a long-running service can keep one; without it they open and
close their own.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from . import decode
from .config import Config
from .ingest import Unreadable, Verdict, file_sha256
from .model import Article, DecodedText, GroupingWords, Summary
from .store import Store, StoredIssue, open_store
from .themes import group_week
from .weeks import IsoWeek
from .workers import (
    Ordered,
    Prepared,
    Preparer,
    WorkerError,
    file_size,
    rank_and_cut,
    worker_count,
)

if TYPE_CHECKING:
    # parse and render are imported where they are used: `digest ingest` renders nothing,
    # and its parent process parses nothing while workers do (their head start is forked
    # sooner for the ~0.1 s of imports, numpy's among them, it does not wait for).
    from .render import RenderedDigest

log = logging.getLogger(__name__)

ISSUE_SUFFIXES = (".txt",)
# A batch of files stored in one transaction ends at whichever comes first: the next file
# not ready yet, this many files, or this long since the batch began (files are archived
# only after their batch commits, so it must not grow without end).
BATCH_FILES = 64
BATCH_SECONDS = 2.0


class Summarizer(Protocol):
    def summarize_articles(self, articles: Sequence[Article]) -> list[Summary]: ...


@dataclass(frozen=True)
class IngestResult:
    path: Path
    # failed: the file's fault (it cannot be decoded); error: not the file's (a stage raised
    # on it, a worker died, the database was busy): not stored, to be given again.
    status: Literal["stored", "skipped", "failed", "error"]
    message: str
    issue_id: int | None = None
    articles: int = 0
    sha256: str | None = None


@dataclass(frozen=True)
class BuildResult:
    written: tuple[Path, ...]
    digests: tuple[RenderedDigest, ...]
    empty_weeks: tuple[IsoWeek, ...] = field(default_factory=tuple)


@contextlib.contextmanager
def _store(config: Config, store: Store | None) -> Iterator[Store]:
    if store is not None:
        yield store
        return
    with open_store(config) as opened:
        yield opened


def issue_files(paths: Iterable[Path]) -> list[Path]:
    """Files as given, folders expanded to their *.txt files (recursively, sorted, no hidden
    ones); each file once, in the order first named."""
    found: dict[Path, None] = {}
    for path in map(Path, paths):
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
                if child.is_file() and child.suffix.lower() in ISSUE_SUFFIXES and not hidden:
                    found.setdefault(child, None)
        else:
            found.setdefault(path, None)  # a missing file fails later with a clear message
    return list(found)


class LazyRanker:
    """A Ranker built on first use: loading the tokenizer takes a moment, and a run that
    only skips known files should not pay for it."""

    def __init__(self, config: Config):
        self.config = config
        self._ranker: Summarizer | None = None

    def loaded(self) -> Summarizer:
        """The Ranker itself, built now if it was not (a pool forked from this process
        shares it with its workers)."""
        if self._ranker is None:
            from .rank import Ranker

            self._ranker = Ranker(self.config)
        return self._ranker

    def summarize_articles(self, articles: Sequence[Article]) -> list[Summary]:
        return self.loaded().summarize_articles(articles)

    def summarize_with_words(self, articles: Sequence[Article]
                             ) -> tuple[list[Summary], GroupingWords | None]:
        return rank_and_cut(self.loaded(), articles)


def ingest_file(store: Store, path: Path, ranker: Summarizer) -> IngestResult:
    """Decode, parse, rank and store one file. Never raises for a bad file: the result says."""
    path = Path(path)
    try:
        decoded = decode.read_issue_file(path)
    except decode.DecodeError as exc:
        return IngestResult(path, "failed", str(exc))
    return store_decoded(store, decoded, ranker, path)


def store_decoded(store: Store, decoded: DecodedText, ranker: Summarizer,
                  path: Path | None = None) -> IngestResult:
    """Parse, rank and store a decoded file, unless its sha256 is already stored.

    The inbox watcher calls this after its own `decode.read_issue_file` (which raises
    DecodeError for an unreadable file, so the watcher can move it to failed/)."""
    path = Path(path) if path is not None else Path(decoded.source)
    known = store.issue_by_sha256(decoded.sha256)
    if known is None:
        from . import parse

        parsed = parse.parse_issue(decoded)
        summaries, words = rank_and_cut(ranker, parsed.articles)
        issue_id = store.ingest_parsed(parsed, summaries, mtime=decoded.mtime,
                                       encoding=decoded.encoding, words=words)
        if issue_id is not None:
            count = len(parsed.articles)
            return IngestResult(path, "stored", f"{path.name}: stored {count} articles",
                                issue_id=issue_id, articles=count, sha256=decoded.sha256)
        known = store.issue_by_sha256(decoded.sha256)  # another process stored it meanwhile
    when = known.ingested_at.strftime("%Y-%m-%d %H:%M")
    return IngestResult(path, "skipped",
                        f"{path.name}: already stored (as {known.source}, ingested {when} "
                        f"UTC), skipped", issue_id=known.id, articles=known.article_count,
                        sha256=decoded.sha256)


def _skipped(path: Path, known: StoredIssue) -> IngestResult:
    when = known.ingested_at.strftime("%Y-%m-%d %H:%M")
    return IngestResult(path, "skipped",
                        f"{path.name}: already stored (as {known.source}, ingested {when} "
                        f"UTC), skipped", issue_id=known.id, articles=known.article_count,
                        sha256=known.sha256)


@dataclass(frozen=True)
class Written:
    """One file as the writer left it: `outcome` is the new issue id, None when the same
    bytes were already stored, or the exception that kept it from being stored."""

    item: object
    prepared: Prepared | None
    outcome: int | None | BaseException = None


def store_in_batches(store: Store, results: Ordered) -> Iterator[list[Written]]:
    """Store prepared files in order, committing several in one transaction while the
    workers are ahead of the writer (each file a savepoint of it: whole or not at all; at
    most BATCH_FILES files or BATCH_SECONDS), and at once when the next result is not
    ready, so the write lock is never held while waiting for a worker. Yields each batch
    only after it committed.

    A WorkerError from `results` is raised after the files already stored are committed
    and yielded."""
    batch: list[Written] = []
    started = time.monotonic()

    def commit() -> list[Written]:
        done = list(batch)
        batch.clear()
        if store.conn.in_transaction:
            try:
                store.conn.execute("COMMIT")
            except sqlite3.Error as exc:  # e.g. disk full: nothing of this batch is stored
                if store.conn.in_transaction:
                    store.conn.execute("ROLLBACK")
                done = [Written(w.item, w.prepared, exc) if isinstance(w.outcome, int) else w
                        for w in done]
        return done

    try:
        for item, prepared in results:
            if prepared is None or prepared.failed:
                batch.append(Written(item, prepared))
            else:
                if not store.conn.in_transaction:
                    store.conn.execute("BEGIN IMMEDIATE")
                parsed = prepared.parsed
                assert parsed is not None
                try:
                    outcome: int | None | BaseException = store.ingest_parsed(
                        parsed, prepared.summaries, mtime=prepared.mtime,
                        encoding=prepared.encoding, words=prepared.words)
                except Exception as exc:  # noqa: BLE001 - this file only; the caller judges
                    outcome = exc
                batch.append(Written(item, prepared, outcome))
            if not results.ready() or len(batch) >= BATCH_FILES or (
                    time.monotonic() - started >= BATCH_SECONDS):
                yield commit()
                started = time.monotonic()
    except WorkerError:
        if batch:
            yield commit()
        raise
    except BaseException:
        if store.conn.in_transaction:
            store.conn.execute("ROLLBACK")
        raise
    finally:
        results.close()
    if batch:
        yield commit()


def ingest_paths(config: Config, paths: Iterable[Path], *, store: Store | None = None,
                 ranker: Summarizer | None = None, workers: int | None = None,
                 on_result: Callable[[IngestResult], None] | None = None,
                 should_stop: Callable[[], bool] = lambda: False) -> list[IngestResult]:
    """Ingest files (folders: their *.txt), one result per file in order. A `ranker` given
    runs everything in this process (as does `workers=1`); else `[ingest].workers`.
    `on_result` hears of each file as soon as it is stored (the CLI's progress). Once
    `should_stop()` says so no more files are taken; the few already with the workers are
    finished and stored, and the results end there (a result per file taken)."""
    files = issue_files(paths)
    if ranker is not None and workers is None:
        workers = 1
    results: list[IngestResult] = []
    with _store(config, store) as db, Preparer(config, workers, ranker,
                                               input_bytes=sum(map(file_size, files))) as preparer:
        def known(path: Path) -> IngestResult | None:
            try:
                sha256 = file_sha256(path)
            except OSError:
                return None  # the worker's decode reports why, as for any unreadable file
            stored = db.issue_by_sha256(sha256)
            return _skipped(path, stored) if stored else None

        def jobs() -> Iterator[tuple[Path, IngestResult | None]]:
            for path in files:  # lazily: a copy finds its twin
                if should_stop():
                    return
                yield path, known(path)

        try:
            for batch in store_in_batches(db, preparer.map(jobs(), lambda job: (
                    job[0] if job[1] is None else None))):
                for written in batch:
                    results.append(_result(db, written))
                    if on_result is not None:
                        on_result(results[-1])
        except WorkerError as exc:
            log.error("%s", exc)
            for path in files[len(results):]:
                results.append(IngestResult(path, "error", f"{path.name}: not ingested: {exc}"))
                if on_result is not None:
                    on_result(results[-1])
    return results


def _result(store: Store, written: Written) -> IngestResult:
    path, skipped = written.item  # type: ignore[misc]
    prepared, outcome = written.prepared, written.outcome
    if prepared is None:
        return skipped
    if prepared.failed == "decode":
        return IngestResult(path, "failed", f"{path.name}: {prepared.error}")
    if prepared.failed:
        return IngestResult(path, "error", f"{path.name}: not ingested because of a fault in "
                            f"digest, not in the file ({prepared.error})")
    if isinstance(outcome, BaseException):  # the database's or our fault, not the file's
        return IngestResult(path, "error", f"{path.name}: not stored ({outcome})")
    assert prepared.parsed is not None
    sha256 = prepared.parsed.issue.sha256
    if outcome is None:  # the same bytes were stored meanwhile (a copy earlier in the run)
        known = store.issue_by_sha256(sha256)
        assert known is not None
        return _skipped(path, known)
    count = len(prepared.parsed.articles)
    return IngestResult(path, "stored", f"{path.name}: stored {count} articles",
                        issue_id=outcome, articles=count, sha256=sha256)


def ingest_claimed(store: Store, preparer: Preparer, paths: Iterable[Path]
                   ) -> Iterator[Verdict]:
    """The inbox's `Ingestor.ingest_many`: one verdict per claimed file, in order, each
    once its transaction committed. A file whose bytes are stored already is a duplicate
    and is not parsed again; after a WorkerError the files taken and not done get it as
    their (transient) verdict, and no more files are taken."""
    pending: deque[tuple[Path, str, str | BaseException | None]] = deque()

    def hashed() -> Iterator[tuple[Path, str, str | BaseException | None]]:
        for path in paths:
            try:
                sha256 = file_sha256(path)
            except OSError as exc:
                job: tuple[Path, str, str | BaseException | None] = (path, "", Unreadable(exc))
            else:
                job = (path, sha256, "duplicate" if store.has_file(sha256) else None)
            pending.append(job)
            yield job

    try:
        for batch in store_in_batches(store, preparer.map(hashed(), lambda job: (
                job[0] if job[2] is None else None))):
            for written in batch:
                path, sha256, verdict = pending.popleft()
                yield path, sha256, _verdict(written, verdict)
    except WorkerError as exc:
        log.error("%s", exc)
        while pending:
            path, sha256, _ = pending.popleft()
            yield path, sha256, exc


def _verdict(written: Written, decided: str | BaseException | None) -> str | BaseException:
    if decided is not None:
        return decided
    prepared, outcome = written.prepared, written.outcome
    assert prepared is not None
    if prepared.failed:
        failure = prepared.exception()
        assert failure is not None
        return failure
    if isinstance(outcome, BaseException):
        return outcome
    return "duplicate" if outcome is None else "ingested"


def build_week(store: Store, config: Config, week: IsoWeek, env=None) -> RenderedDigest | None:
    """Group and render one week from the store (None when it has no articles). Writes nothing."""
    from .render import render_week

    articles = store.articles_in_week(week)
    if not articles:
        return None
    return render_week(config, week, group_week(articles, config), env)


# Building weeks on every core pays when there is more to group than warming up the workers
# costs (scikit-learn, the tokenizer and the templates: a worker's first week costs ~2.5 s
# of CPU more than its next; 6 weeks of 3,400 articles took as long either way), so a few
# weeks of a district paper are built in this process.
BUILD_PARALLEL_ARTICLES = 5000


def build_workers(config: Config, store: Store, weeks: Sequence[IsoWeek]) -> int:
    """How many processes should build `weeks`: `[ingest].workers` (0: one per core), but
    one for a single week or fewer than BUILD_PARALLEL_ARTICLES articles in all."""
    if len(weeks) < 2:
        return 1
    if config.ingest.workers > 0:
        return config.ingest.workers
    articles = sum(store.conn.execute(
        "SELECT count(*) FROM articles WHERE week = ?", (str(week),)).fetchone()[0]
        for week in weeks)
    return worker_count(config) if articles >= BUILD_PARALLEL_ARTICLES else 1


def build_weeks(config: Config, weeks: Sequence[IsoWeek] | None = None,
                out_dir: Path | None = None, *, store: Store | None = None,
                preparer: Preparer | None = None,
                should_stop: Callable[[], bool] = lambda: False) -> BuildResult:
    """Build the given weeks (None: every week with articles), write their files and record
    them in the store, then rewrite index.html and feed.xml over all built digests, once.

    Weeks are grouped and rendered by `preparer`'s workers (without one: on every core when
    there is enough to build, see build_workers), in order; this process writes each as it
    comes. `should_stop` is asked after each week; the weeks written by then are kept and
    the index covers them."""
    from .render import (IndexEntry, render_feed, render_index, template_environment,
                         write_atomic, write_digest)

    out_dir = Path(out_dir) if out_dir is not None else config.paths.output
    env = template_environment(config)
    written: list[Path] = []
    digests: list[RenderedDigest] = []
    empty: list[IsoWeek] = []
    with _store(config, store) as db, contextlib.ExitStack() as own:
        chosen = list(db.weeks()) if weeks is None else sorted(set(weeks))
        if preparer is None:
            preparer = own.enter_context(Preparer(config, build_workers(config, db, chosen)))
        built = preparer.map_weeks(chosen, lambda week: build_week(db, config, week, env))
        try:
            for week, rendered in built:
                if rendered is None:
                    empty.append(week)
                else:
                    written += write_digest(rendered, out_dir)
                    db.save_digest(week, issue_count=rendered.issue_count,
                                   article_count=rendered.article_count,
                                   theme_count=len(rendered.themes),
                                   markdown=rendered.markdown, html=rendered.html,
                                   text=rendered.text, feed_html=rendered.feed_html)
                    digests.append(rendered)
                if should_stop():
                    break
        finally:
            built.close()
        entries = [IndexEntry(week=d.week, updated=d.updated_at, issue_count=d.issue_count,
                              article_count=d.article_count, theme_count=d.theme_count,
                              feed_html=d.feed_html) for d in db.digests()]
    remove_stale_pages(out_dir, {e.week for e in entries})
    written.append(write_atomic(out_dir / "index.html", render_index(config, entries, env)))
    written.append(write_atomic(out_dir / "feed.xml", render_feed(config, entries, env)))
    return BuildResult(written=tuple(written), digests=tuple(digests), empty_weeks=tuple(empty))


_PAGE_RE = re.compile(r"^digest-(\d{4}-W\d{2})\.(md|html)$")


def remove_stale_pages(out_dir: Path, weeks: set[IsoWeek]) -> list[Path]:
    """Delete our own pages of weeks that no longer have a digest (after the move to issue
    weeks, e.g. 2022-W33 whose stories now belong to their issue's 2022-W34), so no page
    outlives the index that stopped listing it. Only files named digest-YYYY-Www.md/.html."""
    removed = []
    if not out_dir.is_dir():
        return removed
    for path in out_dir.iterdir():
        match = _PAGE_RE.match(path.name)
        if match and path.is_file() and not path.is_symlink():
            try:
                week = IsoWeek.parse(match.group(1))
            except ValueError:
                continue
            if week not in weeks:
                path.unlink()
                removed.append(path)
    return removed


def latest_week(config: Config, *, store: Store | None = None) -> IsoWeek | None:
    """The newest week that has stored articles (the default of `digest build`)."""
    with _store(config, store) as db:
        weeks = db.weeks()
    return weeks[-1] if weeks else None
