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
    from . import rank as rank_stage

    ranker = rank_stage.Ranker(_config(ctx))
    if jsonl:
        errors = 0
        for record, problem in rank_stage.summarize_jsonl(sys.stdin.buffer, ranker, top):
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            sys.stdout.flush()
            if problem:
                errors += 1
                click.echo(f"digest: {problem}", err=True)
        sys.exit(1 if errors else 0)
    results, failures = [], []
    for path, issue in _parsed_issues(files, failures):
        summaries = ranker.summarize_articles(issue.articles, top)
        results.append(rank_stage.issue_summaries_json(str(path), issue, summaries))
        if not as_json:
            click.echo(rank_stage.issue_summaries_text(str(path), issue, summaries))
    if as_json:
        payload = results[0] if len(files) == 1 and results else results
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    if failures:
        sys.exit(1)


@main.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def ingest_cmd(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Parse, rank and store issue files (folders: every *.txt inside).

    A file already stored (same bytes) is skipped with a message. Exit status 1 when any
    file could not be read."""
    from . import pipeline  # imported here: the store and ranker are not needed by `parse`
    from .store import StoreError

    try:
        results = pipeline.ingest_paths(_config(ctx), paths)
    except StoreError as exc:
        _fail(str(exc))
    if not results:
        _fail("no issue files (*.txt) found in " + ", ".join(map(str, paths)))
    for result in results:
        message = shown(result.message)  # a file name cannot forge a line
        click.echo(f"digest: {message}" if result.status == "failed" else message,
                   err=result.status == "failed")
    stored = sum(r.status == "stored" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    failed = sum(r.status == "failed" for r in results)
    click.echo(f"{stored} stored, {skipped} skipped, {failed} failed")
    if failed:
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


def _service_logging(level: str = "INFO") -> None:
    """Timestamped lines on stderr (journald keeps them); APScheduler's per-run chatter off."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(one_line_formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level), handlers=[handler])
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


@main.command("run")
@click.option("--dry-run", is_flag=True, help="Write .eml files to <output>/eml/ instead of "
              "sending; the email ledger is left as it was.")
@click.pass_context
def run_cmd(ctx: click.Context, dry_run: bool) -> None:
    """Do the service's work once: inbox, build due weeks, send due email; then exit.

    Exit status 1 when another digest process holds the state folder."""
    from . import schedule
    from .ingest import UnsafeFolder
    from .store import StoreError

    # Quiet unless something happened or went wrong, so cron mails only when there is news.
    _service_logging("WARNING")
    try:
        code, report = schedule.run(_config(ctx), dry_run=dry_run)
    except StoreError as exc:
        _fail(str(exc))
    except UnsafeFolder as exc:
        _fail(str(exc), 1)
    if report is not None:
        for line in schedule.report_lines(report):
            click.echo(line)
    sys.exit(code)


@main.command("serve")
@click.pass_context
def serve_cmd(ctx: click.Context) -> None:
    """Run unattended: scan the inbox every schedule.scan_seconds and send the weekly digest.

    Stops cleanly (exit 0) on SIGTERM or Ctrl-C; exit status 1 when another instance holds
    the state folder."""
    from . import schedule

    _service_logging()
    sys.exit(schedule.serve(_config(ctx)))


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


if __name__ == "__main__":  # pragma: no cover
    main()
