"""ISO weeks: which week an article belongs to, and how weeks are named ("2022-W34").

A digest covers one ISO week (Monday to Sunday) and is that week's papers: an article belongs
to the week its issue was published in (the masthead date, else the issue's newest dateline,
else the file's date; see store.file_date_of), never to the week of its own dateline. A
Tuesday issue reporting last Thursday's meeting is news of this week's paper, and a week
that has been mailed must not gain stories behind the reader's back. Each story still shows
its own date (`shown_date`). Dates are calendar dates as printed, so their week needs no time
zone; the configured zone only matters where a moment has to become a date: a file's
modification time, and "this week" for the scheduler.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from .model import StoredArticle

_WEEK_RE = re.compile(r"^\s*(\d{4})-?W(\d{1,2})\s*$", re.IGNORECASE)

# The words a digest uses to say which date it shows for a story.
BASIS_LABELS = {"dateline": "电头日期", "issue": "报头日期", "file": "文件日期"}
# Which date put an issue (and so its articles) in its week: the `week_basis` column.
WEEK_BASES = ("issue", "latest_dateline", "file")


@dataclass(frozen=True, order=True)
class IsoWeek:
    year: int
    week: int

    def __post_init__(self) -> None:
        # Validates by round-tripping through the calendar: 2021-W53 does not exist.
        try:
            dt.date.fromisocalendar(self.year, self.week, 1)
        except ValueError:
            raise ValueError(f"{self.year}-W{self.week:02d} is not an ISO week") from None

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        """'2022-W34' (also '2022W34', '2022-w34') -> IsoWeek(2022, 34)."""
        match = _WEEK_RE.match(text)
        if not match:
            raise ValueError(f"{text!r} is not a week; write it like 2022-W34")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: dt.date) -> IsoWeek:
        year, week, _ = day.isocalendar()
        return cls(year, week)

    @classmethod
    def current(cls, tz: ZoneInfo, now: dt.datetime | None = None) -> IsoWeek:
        now = now or dt.datetime.now(dt.timezone.utc)
        return cls.of(now.astimezone(tz).date())

    @property
    def monday(self) -> dt.date:
        return dt.date.fromisocalendar(self.year, self.week, 1)

    @property
    def sunday(self) -> dt.date:
        return dt.date.fromisocalendar(self.year, self.week, 7)

    def previous(self) -> IsoWeek:
        return IsoWeek.of(self.monday - dt.timedelta(days=7))

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"


def moment_to_date(moment: dt.datetime | None, tz: ZoneInfo) -> dt.date | None:
    """The calendar date of a moment in the configured zone (naive means local time)."""
    if moment is None:
        return None
    return moment.astimezone(tz).date()


def shown_date(article: StoredArticle) -> tuple[dt.date | None, str]:
    """The date a story shows, and which one it is: its own dateline, else its issue's
    masthead date, else the file's date."""
    if article.date is not None:
        return article.date, "dateline"
    if article.issue_date is not None:
        return article.issue_date, "issue"
    return article.file_date, "file"


def issue_day(article: StoredArticle) -> dt.date | None:
    """The publication date of the article's issue, which decides its week: the masthead
    date, else the file's date (the issue's newest dateline, else its mtime or ingest day)."""
    return article.issue_date or article.file_date


def week_of(article: StoredArticle) -> IsoWeek | None:
    day = issue_day(article)
    return IsoWeek.of(day) if day is not None else None


def reading_order(article: StoredArticle) -> tuple:
    """A stable order for articles: by their issue's date, paper, issue and position in it
    (the order the papers printed them), so a digest never depends on the order files were
    ingested in."""
    return (issue_day(article) or dt.date.min, article.paper or "", article.source,
            article.position, article.id)
