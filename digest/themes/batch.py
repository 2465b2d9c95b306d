"""`digest themes --jsonl`: group any collection of articles as one week.

Reads `{"id", "text", "title"}` lines (the same request format and error records as
`summarize --jsonl`), ranks every article for its key sentences and keywords (the named
themes score on them), groups them all with the config's themes, and answers one
`{"id", "theme", "story"}` line per input line, in input order: `story` is the id of the
lead of the story an article was merged into (its own id when it stands alone). A malformed
line gets its error record in its place; the others go on. Unlike `summarize --jsonl` it has
to read everything before answering: a grouping depends on the whole collection.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from ..config import Config
from ..model import StoredArticle


def themes_jsonl(source: BinaryIO, config: Config) -> Iterator[tuple[dict, str | None]]:
    from ..jsonl import JsonlError, JsonlRequest, error_record, parse_jsonl_line
    from ..rank import Ranker
    from . import group_week

    parsed = [parse_jsonl_line(raw, number) for number, raw in enumerate(source, 1)]
    requests = [p for p in parsed if isinstance(p, JsonlRequest)]
    ranker = Ranker(config)
    articles: dict[int, StoredArticle] = {}
    failed: dict[int, JsonlError] = {}
    summaries = _rank_each(ranker, requests)
    for request, summary in zip(requests, summaries):
        if isinstance(summary, Exception):
            failed[request.line] = JsonlError(request.line, request.id,
                                              f"cannot rank: {summary!r}")
            continue
        articles[request.line] = StoredArticle(
            id=request.line, issue_id=request.line, paper=None, issue_date=None,
            issue_number=None, source=request.id, title=request.title, kicker=None,
            subtitle=None, date=None, byline=None, kind="news",
            paragraphs=tuple(p for p in request.text.split("\n") if p.strip()),
            sentences=summary.sentences, keywords=summary.keywords)
    placed: dict[int, tuple[str, str]] = {}
    for theme in group_week(list(articles.values()), config) if articles else ():
        for story in theme.stories:
            for article in (story.lead, *story.also_in):
                placed[article.id] = (theme.name, story.lead.source)
    for item in parsed:
        if item is None:
            continue
        error = item if isinstance(item, JsonlError) else failed.get(item.line)
        if error is not None:
            where = f"id {error.id!r}" if error.id is not None else f"line {error.line}"
            yield error_record(error), f"{where}: {error.message}"
            continue
        theme, story = placed[item.line]
        yield {"id": item.id, "theme": theme, "story": story}, None


def _rank_each(ranker, requests) -> list:
    items = [(r.text, r.title) for r in requests]
    try:
        return ranker.summarize_batch(items)
    except Exception:  # one bad article must not sink the rest: rank them one by one
        out = []
        for item in items:
            try:
                out.append(ranker.summarize_batch([item])[0])
            except Exception as exc:  # noqa: BLE001 - reported on its own line
                out.append(exc)
        return out
