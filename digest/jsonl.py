"""The JSON Lines protocol of `digest summarize --jsonl` and `digest themes --jsonl`, and the
printed form of an issue's summaries (`digest summarize FILE...`): the command's edge, kept out
of the rank stage, which knows articles and summaries, not wire formats.

Request: one ``{"id": str, "text": str, "title": str | null}`` object a line. Answer, in
input order: ``{"id", "sentences": [{"index", "text", "score"}], "keywords"}``, or for a
malformed line ``{"id", "line", "error"}``.
"""

from __future__ import annotations

import dataclasses
import json
import queue
import threading
from typing import BinaryIO, Iterator, Sequence

from .model import ParsedIssue, Summary
from .rank import Ranker, deck_of


@dataclasses.dataclass(frozen=True)
class JsonlRequest:
    line: int
    id: str
    text: str
    title: str | None


@dataclasses.dataclass(frozen=True)
class JsonlError:
    line: int
    id: str | None
    message: str


def parse_jsonl_line(raw: bytes, line: int) -> JsonlRequest | JsonlError | None:
    """One input line: ``{"id": str, "text": str, "title": str | null}``; None if blank."""
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return JsonlError(line, None, "not UTF-8")
    if not decoded.strip():
        return None
    try:
        value = json.loads(decoded)
    except json.JSONDecodeError as exc:
        return JsonlError(line, None, f"not JSON ({exc.msg})")
    if not isinstance(value, dict):
        return JsonlError(line, None, "expected a JSON object")
    key = value.get("id")
    if not isinstance(key, str):
        return JsonlError(line, None, '"id" must be a string')
    text, title = value.get("text"), value.get("title")
    if not isinstance(text, str):
        return JsonlError(line, key, '"text" must be a string')
    if title is not None and not isinstance(title, str):
        return JsonlError(line, key, '"title" must be a string or null')
    return JsonlRequest(line, key, text, title)


def summary_record(key: str, summary: Summary) -> dict:
    return {"id": key,
            "sentences": [{"index": s.index, "text": s.text, "score": s.score}
                          for s in summary.sentences],
            "keywords": list(summary.keywords)}


def error_record(error: JsonlError) -> dict:
    return {"id": error.id, "line": error.line, "error": error.message}


def _available_lines(source: BinaryIO, most: int) -> Iterator[list[tuple[int, bytes]]]:
    """Lines of ``source`` in groups: a group takes what has already arrived (up to
    ``most``), so a batch never waits for input that is not there yet. A reader thread
    fills a bounded queue: memory stays flat, and an interactive caller that sends one line
    and waits for its answer gets it."""
    lines: queue.Queue = queue.Queue(maxsize=2 * most)
    done = object()

    def read() -> None:
        try:
            for number, raw in enumerate(source, 1):
                lines.put((number, raw))
        finally:
            lines.put(done)

    threading.Thread(target=read, name="jsonl-reader", daemon=True).start()
    finished = False
    while not finished:
        item = lines.get()
        if item is done:
            return
        group = [item]
        while len(group) < most:
            try:
                item = lines.get_nowait()
            except queue.Empty:
                break
            if item is done:
                finished = True
                break
            group.append(item)
        yield group


def summarize_jsonl(source: BinaryIO, ranker: Ranker, top: int | None = None
                    ) -> Iterator[tuple[dict, str | None]]:
    """Answer JSON Lines requests in order: for each input line, the output record and, for a
    malformed line, a message for stderr. Blank lines are skipped."""
    for group in _available_lines(source, ranker.batch_size):
        parsed = [parse_jsonl_line(raw, number) for number, raw in group]
        requests = [p for p in parsed if isinstance(p, JsonlRequest)]
        answers = iter(_rank_requests(ranker, requests, top))
        for item in parsed:
            if item is None:
                continue
            if isinstance(item, JsonlError):
                where = f"id {item.id!r}" if item.id is not None else f"line {item.line}"
                yield error_record(item), f"{where}: {item.message}"
                continue
            summary = next(answers)
            if isinstance(summary, JsonlError):
                yield error_record(summary), f"id {item.id!r}: {summary.message}"
            else:
                yield summary_record(item.id, summary), None


def _rank_requests(ranker: Ranker, requests: Sequence[JsonlRequest], top: int | None
                   ) -> list[Summary | JsonlError]:
    items = [(r.text, r.title) for r in requests]
    try:
        return ranker.summarize_batch(items, top)
    except Exception:  # one bad article must not sink its batch: find it, rank the rest
        out: list[Summary | JsonlError] = []
        for request, item in zip(requests, items):
            try:
                out.append(ranker.summarize_batch([item], top)[0])
            except Exception as exc:  # noqa: BLE001 - reported per line, the stream goes on
                out.append(JsonlError(request.line, request.id, f"cannot rank: {exc!r}"))
        return out


# ---------------------------------------------------------------------------------------------
# Printing an issue's summaries (`digest summarize FILE...`)


def issue_summaries_json(source: str, issue: ParsedIssue, summaries: Sequence[Summary]) -> dict:
    return {"file": source,
            "articles": [{"index": article.index, "title": article.title,
                          **{k: v for k, v in summary_record("", summary).items() if k != "id"}}
                         for article, summary in zip(issue.articles, summaries)]}


def issue_summaries_text(source: str, issue: ParsedIssue, summaries: Sequence[Summary]) -> str:
    lines = [f"== {source}: {len(issue.articles)} articles"]
    for article, summary in zip(issue.articles, summaries):
        heading = deck_of(article) or f"(untitled {article.kind})"
        lines.append(f"[{article.index + 1}] {heading}")
        lines.extend(f"    {s.index:>3}  {s.text}" for s in summary.sentences)
        lines.append(f"    keywords: {' '.join(summary.keywords)}")
    return "\n".join(lines)
