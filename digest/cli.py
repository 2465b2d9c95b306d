"""The `digest` command: a thin click layer that wires the stages together.

No behaviour lives here beyond reading options, calling stage functions and printing. Each
command imports the stages it uses when it runs: `digest --help`, `--version` and `status`
must not pay for numba, numpy, scipy or jieba (a test checks).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .sanitize import shown

if TYPE_CHECKING:
    from .config import Config


def _config(ctx: click.Context) -> Config:
    return ctx.obj["config"]


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"digest: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="digest", prog_name="digest")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="config.toml to use (default: $DIGEST_CONFIG or ./config.toml).")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None) -> None:
    """Turn newspaper issue files into a weekly digest."""
    from .config import ConfigError, load_config  # not needed by --help and --version

    try:
        config = load_config(config_path, must_exist=config_path is not None)
    except ConfigError as exc:
        _fail(f"bad config: {exc}")
    ctx.obj = {"config": config}


def _parsed_issues(files: tuple[Path, ...], failures: list[str]):
    """Parse each file in turn; an unreadable one is reported, recorded, and skipped."""
    from . import decode, parse as parse_stage

    for path in files:
        try:
            yield path, parse_stage.parse_issue(decode.read_issue_file(path))
        except decode.DecodeError as exc:
            failures.append(str(exc))
            click.echo(f"digest: {shown(exc)}", err=True)


@main.command("parse")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file (an array "
              "for several files).")
def parse_cmd(files: tuple[Path, ...], as_json: bool) -> None:
    """Parse issue FILES into articles and print an outline (or JSON)."""
    from . import parse as parse_stage

    results, failures = [], []
    for _, issue in _parsed_issues(files, failures):
        results.append(issue)
        if not as_json:
            click.echo(parse_stage.outline(issue))
    if as_json:
        docs = [parse_stage.to_json(issue) for issue in results]
        payload = docs[0] if len(files) == 1 and docs else docs
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    if failures:
        sys.exit(1)


@main.command("summarize")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file (an array "
              "for several files).")
@click.option("--jsonl", is_flag=True, help="Batch mode: read JSON Lines {id, text, title} on "
              "stdin, write one JSON line per input, in order.")
@click.option("--top", type=click.IntRange(min=1), default=None, metavar="N",
              help="Key sentences per article (default: [rank] in config.toml).")
@click.pass_context
def summarize_cmd(ctx: click.Context, files: tuple[Path, ...], as_json: bool, jsonl: bool,
                  top: int | None) -> None:
    """Print the key sentences and keywords of each article of issue FILES."""
    if jsonl == bool(files):
        _fail("give issue FILES, or --jsonl to read JSON Lines from standard input")
    from .jsonl import issue_summaries_json, issue_summaries_text, summarize_jsonl
    from .rank import Ranker

    ranker = Ranker(_config(ctx))
    if jsonl:
        errors = 0
        for record, problem in summarize_jsonl(sys.stdin.buffer, ranker, top):
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            sys.stdout.flush()
            if problem:
                errors += 1
                click.echo(f"digest: {problem}", err=True)
        sys.exit(1 if errors else 0)
    results, failures = [], []
    for path, issue in _parsed_issues(files, failures):
        summaries = ranker.summarize_articles(issue.articles, top)
        results.append(issue_summaries_json(str(path), issue, summaries))
        if not as_json:
            click.echo(issue_summaries_text(str(path), issue, summaries))
    if as_json:
        payload = results[0] if len(files) == 1 and results else results
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    if failures:
        sys.exit(1)


@main.command("themes")
@click.option("--jsonl", is_flag=True, required=True, help="Read JSON Lines {id, text, title} "
              "on stdin, group them all as one week, write {id, theme, story} per input line.")
@click.pass_context
def themes_cmd(ctx: click.Context, jsonl: bool) -> None:
    """Group a collection of articles into themes and stories, as a digest would.

    Exit status 1 if any line was malformed."""
    from .themes.batch import themes_jsonl

    errors = 0
    for record, problem in themes_jsonl(sys.stdin.buffer, _config(ctx)):
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        if problem:
            errors += 1
            click.echo(f"digest: {problem}", err=True)
    sys.stdout.flush()
    sys.exit(1 if errors else 0)


@main.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-q", "--quiet", is_flag=True, help="Only the summary line (and failures).")
@click.pass_context
def ingest_cmd(ctx: click.Context, paths: tuple[Path, ...], quiet: bool) -> None:
    """Parse, rank and store issue files (folders: every *.txt inside).

    A file already stored (same bytes) is skipped with a message. On a terminal a progress
    bar shows how far it is; Ctrl-C stops after saying what was stored (files are stored
    whole or not at all, so running it again continues). Exit status 1 when any file could
    not be read, 130 when interrupted."""
    import signal
    import time

    from tqdm import tqdm

    from . import pipeline  # imported here: the store and ranker are not needed by `parse`
    from .store import StoreError

    files = pipeline.issue_files(paths)
    if not files:
        _fail("no issue files (*.txt) found in " + ", ".join(map(str, paths)), 1)
    started = time.monotonic()
    results: list[pipeline.IngestResult] = []
    # tqdm draws only on a terminal (disable=None), on stderr, so stdout stays the record.
    # Without its monitor thread: workers are forked only from a process with no other
    # thread (digest/workers.py can_fork), and the bar does not need it.
    tqdm.monitor_interval = 0
    bar = tqdm(total=len(files), unit="file", file=sys.stderr, leave=False,
               disable=True if quiet else None, dynamic_ncols=True)

    def on_result(result: pipeline.IngestResult) -> None:
        results.append(result)
        bar.update(1)
        failed = result.status in ("failed", "error")  # error: not the file's fault
        if quiet and not failed:
            return
        message = shown(result.message)  # a file name cannot forge a line
        line = f"digest: {message}" if failed else message
        tqdm.write(line, file=sys.stderr if failed else sys.stdout)

    def summary() -> str:
        stored = [r for r in results if r.status == "stored"]
        skipped = sum(r.status == "skipped" for r in results)
        failed = sum(r.status == "failed" for r in results)
        errors = sum(r.status == "error" for r in results)  # not the files' fault
        return (f"{len(stored)} stored, {skipped} skipped, {failed} failed"
                + (f", {errors} not ingested (a fault in digest; run again)" if errors else "")
                + f" ({sum(r.articles for r in stored)} articles stored, "
                  f"{time.monotonic() - started:.1f} s)")

    def interrupted() -> None:
        bar.close()
        click.echo(f"interrupted: {summary()} before stopping; {len(files) - len(results)} "
                   f"of {len(files)} files not done (run it again to continue: stored files "
                   f"are skipped)", err=True)
        sys.exit(130)

    # Ctrl-C asks to stop between files: what is committed is then also reported, so the
    # summary is what the database holds. A second Ctrl-C stops at once.
    stop = {"asked": False}

    def ask_to_stop(signum: int, frame: object) -> None:
        if stop["asked"]:
            raise KeyboardInterrupt
        stop["asked"] = True

    previous = signal.signal(signal.SIGINT, ask_to_stop)
    try:
        pipeline.ingest_paths(_config(ctx), files, on_result=on_result,
                              should_stop=lambda: stop["asked"])
    except StoreError as exc:
        bar.close()
        _fail(str(exc))
    except KeyboardInterrupt:
        interrupted()
    finally:
        signal.signal(signal.SIGINT, previous)
    if stop["asked"]:
        interrupted()
    bar.close()
    click.echo(summary())
    if any(r.status in ("failed", "error") for r in results):
        sys.exit(1)


@main.command("build")
@click.option("--week", "week_text", metavar="YYYY-Www", default=None,
              help="The ISO week to build, e.g. 2022-W34.")
@click.option("--all", "all_weeks", is_flag=True, help="Build every week that has articles.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: [paths].output, i.e. out/).")
@click.pass_context
def build_cmd(ctx: click.Context, week_text: str | None, all_weeks: bool,
              out_dir: Path | None) -> None:
    """Build weekly digests (Markdown + HTML), index.html and feed.xml.

    Without --week or --all: the newest week that has stored articles."""
    from . import pipeline
    from .store import StoreError
    from .weeks import IsoWeek

    config = _config(ctx)
    if week_text and all_weeks:
        _fail("use --week or --all, not both")
    weeks: list[IsoWeek] | None = None  # None: every week
    if week_text:
        try:
            weeks = [IsoWeek.parse(week_text)]
        except ValueError as exc:
            _fail(f"--week: {exc}")
    try:
        if not week_text and not all_weeks:
            latest = pipeline.latest_week(config)
            if latest is None:
                _fail("nothing stored yet; run `digest ingest PATH...` first", 1)
            weeks = [latest]
        result = pipeline.build_weeks(config, weeks, out_dir)
    except StoreError as exc:
        _fail(str(exc))
    for week in result.empty_weeks:
        click.echo(f"digest: no stored articles in {week}; nothing built for it", err=True)
    for path in result.written:
        click.echo(f"wrote {path}")
    if weeks is not None and not result.digests:
        sys.exit(1)


def one_line_formatter(fmt: str):
    """A log formatter whose message (file names, text from articles in errors) cannot forge
    a line: controls and line breaks are escaped; a traceback, added after it, keeps its."""
    import logging

    class OneLineFormatter(logging.Formatter):
        def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802
            return shown(super().formatMessage(record))

    return OneLineFormatter(fmt)


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _service_logging(level: str = "INFO", verbose: int = 0, quiet: int = 0) -> None:
    """Timestamped lines on stderr (journald keeps them); APScheduler's per-run chatter off.
    Each -v is one level more detail than `level`, each -q one less."""
    import logging

    index = min(max(LEVELS.index(level) - verbose + quiet, 0), len(LEVELS) - 1)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(one_line_formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, LEVELS[index]), handlers=[handler])
    logging.getLogger("apscheduler").setLevel(
        logging.DEBUG if LEVELS[index] == "DEBUG" else logging.WARNING)


def _verbosity(command):
    command = click.option("-v", "--verbose", count=True,
                           help="More log detail on stderr (-vv: debug).")(command)
    return click.option("-q", "--quiet", count=True,
                        help="Less log detail on stderr (-qq: errors only).")(command)


def _parse_now(text: str | None, config: Config):
    """--now 'YYYY-MM-DD HH:MM', read in [digest].timezone."""
    import datetime as dt

    if text is None:
        return None
    try:
        naive = dt.datetime.strptime(text.strip(), "%Y-%m-%d %H:%M")
    except ValueError:
        _fail(f"--now: {text!r} is not 'YYYY-MM-DD HH:MM' (in {config.digest.timezone}), "
              f"e.g. --now '2022-08-29 09:00'")
    return naive.replace(tzinfo=config.tz)


@main.command("run")
@click.option("--dry-run", is_flag=True, help="Write .eml files to <output>/eml/ instead of "
              "sending; the email ledger is left as it was.")
@click.option("--now", "now_text", metavar="'YYYY-MM-DD HH:MM'", default=None,
              help="Run as if it were this time (in [digest].timezone): for replaying a "
              "timeline and for tests. Default: the real clock.")
@_verbosity
@click.pass_context
def run_cmd(ctx: click.Context, dry_run: bool, now_text: str | None, verbose: int,
            quiet: int) -> None:
    """Do the service's work once: inbox, build due weeks, send due email; then exit.

    Exit status: 0 all done; 1 another digest process holds the state folder; 2 bad config
    (a missing inbox, an unset password variable); 3 an inbox file failed (see failed/);
    4 a mail waits for a retry; 5 a mail was given up. Several: the highest."""
    from . import schedule
    from .config import ConfigError
    from .ingest import UnsafeFolder
    from .store import StoreError

    config = _config(ctx)
    now = _parse_now(now_text, config)
    # Quiet unless something happened or went wrong, so cron mails only when there is news.
    _service_logging("WARNING", verbose, quiet)
    try:
        code, report = schedule.run(config, dry_run=dry_run, now=now)
    except ConfigError as exc:
        _fail(f"bad config: {exc}")
    except StoreError as exc:
        _fail(str(exc))
    except UnsafeFolder as exc:
        _fail(str(exc), 1)
    if report is not None:
        for line in schedule.report_lines(report):
            click.echo(line)
    sys.exit(code)


@main.command("serve")
@_verbosity
@click.pass_context
def serve_cmd(ctx: click.Context, verbose: int, quiet: int) -> None:
    """Run unattended: scan the inbox every schedule.scan_seconds and send the weekly digest.

    Stops cleanly (exit 0) on SIGTERM or Ctrl-C; exit status 1 when another instance holds
    the state folder, 2 for a bad config (checked before starting: folders, password)."""
    from . import schedule
    from .config import ConfigError

    _service_logging("INFO", verbose, quiet)
    try:
        sys.exit(schedule.serve(_config(ctx)))
    except ConfigError as exc:
        _fail(f"bad config: {exc}")


@main.command("status")
@click.pass_context
def status_cmd(ctx: click.Context) -> None:
    """Show the inbox, the last ingests, weeks built and mailed, and failures."""
    from . import schedule
    from .store import StoreError

    try:
        lines = schedule.status_lines(_config(ctx))
    except StoreError as exc:
        _fail(str(exc))
    for line in lines:
        click.echo(line)


def entry() -> None:
    """The installed `digest` command: `main`, then a quick exit (`leave`)."""
    try:
        main()
    except SystemExit as exc:  # click ends every run with sys.exit
        leave(exc.code)
    leave(0)


def leave(code: object) -> None:
    """Exit with `code` as sys.exit would, without tearing the interpreter down when no other
    thread runs: a command's work is done and written (stores closed, pages written
    atomically), and unloading numba, numpy and the tokenizer's modules only costs time
    (~0.15 s, a twentieth of ingesting the dev papers). The exit hooks still run (logging's
    flush, the lexicon keeping what it learnt, multiprocessing's and tempfile's cleanups),
    and the output is flushed. With another thread alive, the normal exit, which waits for
    it."""
    import threading

    if threading.active_count() > 1:
        sys.exit(code)
    import atexit
    import os

    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit's rule: anything else is printed, and the status is 1
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader gone (`| head`), or closed: as sys.exit
            status = status or 120
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    entry()
