"""The plain data that flows between stages.

Every stage takes and returns these frozen dataclasses, never mutable shared state, so a
stage can be tested (and re-run) on its own: decode -> parse -> rank -> themes -> render.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

ArticleKind = Literal["news", "feature", "photo", "brief"]


@dataclass(frozen=True)
class DecodedText:
    """A file's bytes turned into normalised text (stage: decode)."""

    text: str
    encoding: str
    sha256: str
    source: str  # file name as received, for messages and provenance
    mtime: dt.datetime | None = None


@dataclass(frozen=True)
class IssueMeta:
    """What the masthead says about an issue; fields are None when nothing says it."""

    paper: str | None
    date: dt.date | None
    number: str | None  # as printed, e.g. "总第1463期"
    source: str
    sha256: str


@dataclass(frozen=True)
class Article:
    """One story of an issue, in reading order (stage: parse)."""

    index: int  # 0-based position in the issue
    title: str | None
    kicker: str | None
    subtitle: str | None
    date: dt.date | None  # the dateline's date, completed to a full date
    place: str | None  # e.g. "东昌府", "聊城", "北京"
    dateline: str | None  # as printed, e.g. "东昌府讯 8月18日"
    byline: str | None
    kind: ArticleKind
    paragraphs: tuple[str, ...]
    subheads: tuple[str, ...] = ()  # section heads inside a feature, in order
    source_lines: tuple[int, ...] = ()  # 1-based raw line numbers this article consumed

    @property
    def body(self) -> str:
        return "\n".join(self.paragraphs)


@dataclass(frozen=True)
class NonArticle:
    """A raw line that belongs to no article, with the reason it was set aside."""

    text: str
    reason: str  # masthead | slogan | banner | duplicate | caption | stray
    line: int  # 1-based raw line number


@dataclass(frozen=True)
class ParsedIssue:
    issue: IssueMeta
    articles: tuple[Article, ...]
    non_article: tuple[NonArticle, ...]


@dataclass(frozen=True)
class KeySentence:
    index: int  # position of the sentence in the article's sentence list
    text: str
    score: float


# A word that could be a keyword of an article: (word, score, prior). ``score`` is the
# ranker's, on the article alone; ``prior`` the share of documents that have the word in a
# general corpus (jieba's IDF, ``exp(-idf)``; about 0 when unknown there). A plain tuple: an
# article has dozens, and the ranker makes them by the thousand.
KeywordCandidate = tuple[str, float, float]


@dataclass(frozen=True)
class Summary:
    """Key sentences (document order) and keywords of one article (stage: rank).

    ``candidates`` are the keyword candidates, best first, of which ``keywords`` are the
    first: the store re-weights them by how many stored articles have each word (default
    mode only; empty otherwise)."""

    sentences: tuple[KeySentence, ...]
    keywords: tuple[str, ...]
    candidates: tuple[KeywordCandidate, ...] = ()


@dataclass(frozen=True)
class GroupingWords:
    """An issue's articles' grouping words (stage: themes, cut at ingest so that a build
    need not): `words[i]` belongs to article i, space-joined; `stamp` says what cut them."""

    stamp: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class RankedArticle:
    article: Article
    summary: Summary
    issue: IssueMeta


@dataclass(frozen=True)
class StoredArticle:
    """An article as read back from the store, with everything a digest needs."""

    id: int
    issue_id: int
    paper: str | None
    issue_date: dt.date | None
    issue_number: str | None
    source: str
    title: str | None
    kicker: str | None
    subtitle: str | None
    date: dt.date | None
    byline: str | None
    kind: ArticleKind
    paragraphs: tuple[str, ...]
    sentences: tuple[KeySentence, ...]
    keywords: tuple[str, ...]
    file_date: dt.date | None = None
    # Which date put the article's issue in its week: "issue" (masthead), "latest_dateline"
    # (the issue's newest dateline) or "file" (see weeks.WEEK_BASES).
    week_basis: str = "issue"
    position: int = 0  # the article's index in its issue, for a stable reading order
    place: str | None = None
    dateline: str | None = None
    issue_sha256: str = ""
    # Words for automatic themes, cut at ingest (themes/words.py), and the stamp of what cut
    # them; None for an article stored before they were kept.
    grouping_words: str | None = None
    grouping_stamp: str = ""


@dataclass(frozen=True)
class StoryGroup:
    """One story as it appears in a digest: a lead article and its other printings."""

    lead: StoredArticle
    also_in: tuple[StoredArticle, ...] = ()


@dataclass(frozen=True)
class Theme:
    name: str
    label: str  # what the reader sees; for automatic themes, the top keywords
    automatic: bool
    stories: tuple[StoryGroup, ...] = field(default_factory=tuple)
