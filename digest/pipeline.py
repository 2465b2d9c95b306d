"""The whole job in two calls, for the CLI and the unattended service.

- `ingest_paths(config, paths)`: decode, parse, rank and store files (folders are searched
  for *.txt); a file already stored (same sha256) is skipped, not duplicated.
- `build_weeks(config, weeks, out_dir)`: group each week's stored articles into themes,
  render and write `digest-YYYY-Www.md/.html`, record them in the store, then rewrite
  `index.html` and `feed.xml` from every digest built so far.

Both accept an open Store so a long-running service can keep one; without it they open and
close their own.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from . import decode, parse
from .config import Config
from .model import Article, DecodedText, Summary
from .render import (
    IndexEntry,
    RenderedDigest,
    render_feed,
    render_index,
    render_week,
    template_environment,
    write_atomic,
    write_digest,
)
from .store import Store, open_store
from .themes import group_week
from .weeks import IsoWeek

ISSUE_SUFFIXES = (".txt",)


class Summarizer(Protocol):
    def summarize_articles(self, articles: Sequence[Article]) -> list[Summary]: ...


@dataclass(frozen=True)
class IngestResult:
    path: Path
    status: Literal["stored", "skipped", "failed"]
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

    def summarize_articles(self, articles: Sequence[Article]) -> list[Summary]:
        if self._ranker is None:
            from .rank import Ranker

            self._ranker = Ranker(self.config)
        return self._ranker.summarize_articles(articles)


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
        parsed = parse.parse_issue(decoded)
        summaries = ranker.summarize_articles(parsed.articles)
        issue_id = store.ingest_parsed(parsed, summaries, mtime=decoded.mtime,
                                       encoding=decoded.encoding)
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


def ingest_paths(config: Config, paths: Iterable[Path], *, store: Store | None = None,
                 ranker: Summarizer | None = None,
                 on_result: Callable[[IngestResult], None] | None = None
                 ) -> list[IngestResult]:
    """Ingest every issue file; `on_result` hears of each file as soon as it is done (the
    CLI's progress), so an interrupted run can say what was already stored."""
    ranker = ranker or LazyRanker(config)
    results = []
    with _store(config, store) as db:
        for path in issue_files(paths):
            results.append(ingest_file(db, path, ranker))
            if on_result is not None:
                on_result(results[-1])
    return results


def build_week(store: Store, config: Config, week: IsoWeek, env=None) -> RenderedDigest | None:
    """Group and render one week from the store (None when it has no articles). Writes nothing."""
    articles = store.articles_in_week(week)
    if not articles:
        return None
    return render_week(config, week, group_week(articles, config), env)


def build_weeks(config: Config, weeks: Sequence[IsoWeek] | None = None,
                out_dir: Path | None = None, *, store: Store | None = None) -> BuildResult:
    """Build the given weeks (None: every week with articles), write their files and record
    them in the store, then rewrite index.html and feed.xml over all built digests."""
    out_dir = Path(out_dir) if out_dir is not None else config.paths.output
    env = template_environment(config)
    written: list[Path] = []
    digests: list[RenderedDigest] = []
    empty: list[IsoWeek] = []
    with _store(config, store) as db:
        for week in (db.weeks() if weeks is None else sorted(set(weeks))):
            rendered = build_week(db, config, week, env)
            if rendered is None:
                empty.append(week)
                continue
            written += write_digest(rendered, out_dir)
            db.save_digest(week, issue_count=rendered.issue_count,
                           article_count=rendered.article_count,
                           theme_count=len(rendered.themes), markdown=rendered.markdown,
                           html=rendered.html, text=rendered.text,
                           feed_html=rendered.feed_html)
            digests.append(rendered)
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
