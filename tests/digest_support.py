"""Helpers for the store / themes / render / browser tests: hand-made model objects and a
config whose state and output live in a temp dir (real SQLite files, no mocks)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from pathlib import Path

from digest.config import Config, load_config
from digest.model import Article, IssueMeta, KeySentence, ParsedIssue, StoredArticle, Summary

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
GOLDEN = Path(__file__).resolve().parent / "golden"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

# A headline that must render as text everywhere (HTML, feed, Markdown).
HOSTILE_TITLE = "<script>window.pwned=1</script>我区召开“安全生产”<b>大会</b> & 部署"
HOSTILE_ISSUE = f"""东 昌 时 讯
2022年8月26日 总第1464期

{HOSTILE_TITLE}

东昌府讯 8月24日,我区召开安全生产工作会议。会议强调,要压实安全生产责任,深入开展隐患排查整治,坚决防范遏制重特大事故发生。各镇街、各部门要把安全生产摆在突出位置,确保全区安全生产形势持续稳定。

会议要求,要加强燃气、消防等重点领域安全监管,落实企业主体责任,推动安全生产各项措施落地见效。

(融媒体 测试)
"""


def project_config(state: Path, **sections) -> Config:
    """The project's config.toml, with state in `state` and any section replaced."""
    config = load_config(ROOT / "config.toml")
    paths = dataclasses.replace(config.paths, state=state, output=state / "out")
    config = dataclasses.replace(config, paths=paths)
    return dataclasses.replace(config, **sections) if sections else config


def article(index: int = 0, title: str | None = "标题", body: str = "正文。",
            date: dt.date | None = dt.date(2022, 8, 22), **fields) -> Article:
    values = dict(index=index, title=title, kicker=None, subtitle=None, date=date,
                  place=None, dateline=None, byline="(融媒体 测试)", kind="news",
                  paragraphs=tuple(body.split("\n")))
    values.update(fields)
    return Article(**values)


def parsed_issue(articles: list[Article], *, source: str = "test.txt", paper: str | None = None,
                 date: dt.date | None = None, number: str | None = None,
                 salt: str = "") -> ParsedIssue:
    sha = hashlib.sha256((source + salt + repr(articles)).encode()).hexdigest()
    meta = IssueMeta(paper=paper, date=date, number=number, source=source, sha256=sha)
    return ParsedIssue(issue=meta, articles=tuple(articles), non_article=())


def summary(sentences: tuple[str, ...] = ("要点一。",), keywords: tuple[str, ...] = ("测试",)
            ) -> Summary:
    return Summary(sentences=tuple(KeySentence(i, s, 1.0 - i / 10)
                                   for i, s in enumerate(sentences)),
                   keywords=keywords)


_next_id = iter(range(1, 1_000_000))


def stored(title: str | None = "标题", body: str = "正文。", keywords: tuple[str, ...] = (),
           date: dt.date | None = dt.date(2022, 8, 22), **fields) -> StoredArticle:
    """A StoredArticle as the store would return it (ids are unique per test run)."""
    article_id = fields.pop("id", None) or next(_next_id)
    values = dict(id=article_id, issue_id=fields.pop("issue_id", article_id), paper=None,
                  issue_date=None, issue_number=None, source=f"{article_id:03d}.txt",
                  title=title, kicker=None, subtitle=None, date=date, byline=None,
                  kind="news", paragraphs=tuple(body.split("\n")), sentences=(),
                  keywords=tuple(keywords), file_date=date)
    values.update(fields)
    return StoredArticle(**values)
