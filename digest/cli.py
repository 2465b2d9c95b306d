"""The `digest` command: a thin click layer that wires the stages together.

No behaviour lives here beyond reading options, calling stage functions and printing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import decode, parse as parse_stage
from .config import Config, ConfigError, load_config


def _config(ctx: click.Context) -> Config:
    return ctx.obj["config"]


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"digest: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="config.toml to use (default: $DIGEST_CONFIG or ./config.toml).")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None) -> None:
    """Turn newspaper issue files into a weekly digest."""
    try:
        config = load_config(config_path, must_exist=config_path is not None)
    except ConfigError as exc:
        _fail(f"bad config: {exc}")
    ctx.obj = {"config": config}


@main.command("parse")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file (an array "
              "for several files).")
def parse_cmd(files: tuple[Path, ...], as_json: bool) -> None:
    """Parse issue FILES into articles and print an outline (or JSON)."""
    results, failures = [], 0
    for path in files:
        try:
            issue = parse_stage.parse_issue(decode.read_issue_file(path))
        except decode.DecodeError as exc:
            failures += 1
            click.echo(f"digest: {exc}", err=True)
            continue
        results.append(issue)
        if not as_json:
            click.echo(parse_stage.outline(issue))
    if as_json:
        docs = [parse_stage.to_json(issue) for issue in results]
        payload = docs[0] if len(files) == 1 and docs else docs
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    if failures:
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
