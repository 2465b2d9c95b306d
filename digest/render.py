"""Stage: a week's themes -> Markdown, HTML and plain text; all digests -> index.html + feed.xml.

Rendering is two steps so each can be tested on its own: `digest_view` turns frozen model
objects into plain view objects (display titles, dates, sources, chart geometry), then Jinja2
templates lay them out. Templates live in `templates/`; a folder named by `[paths].templates`
is searched first, so a user can override one file without copying the rest.

Autoescape is on for *.html.j2 and *.xml.j2, so every piece of input text is escaped in the
pages and the feed; the Markdown template escapes with the `md` filter instead. Output
carries no build time, so rebuilding unchanged data writes identical files (golden tests,
idempotent `make run`). Files are written atomically: a reader or a web server never sees
half a page.
"""

from __future__ import annotations

import contextlib
import functools
import datetime as dt
import os
import re
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2

from .config import Config
from .sanitize import clean
from .model import StoredArticle, StoryGroup, Theme
from .themes import OTHER, articles_of, display_title, week_highlights
from .weeks import BASIS_LABELS, IsoWeek, shown_date

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
# Chart palette: named themes take these in order; automatic groups and 其他 are grey, so a
# reader sees at a glance which groups an editor named and which the machine made.
PALETTE = ("#b23a48", "#2f6690", "#3a7d44", "#c17c00", "#6d597a", "#1b998b", "#8c5e34",
           "#d1495b", "#4a6fa5")
AUTO_COLOUR = "#8a8f98"


@dataclass(frozen=True)
class SourceView:
    article_id: int
    title: str | None  # only when it differs from the story's title
    date: str
    basis: str
    paper: str | None
    issue_number: str | None
    issue_date: str | None
    issue: str  # "东昌时讯 总第1463期（2022年8月23日出版）", or "" when the issue says nothing
    file: str
    byline: str | None


@dataclass(frozen=True)
class StoryView:
    article_id: int
    anchor: str
    title: str
    kicker: str | None
    subtitle: str | None
    date: str
    date_iso: str
    basis: str
    source: SourceView
    also_in: tuple[SourceView, ...]
    sentences: tuple[str, ...]
    keywords: tuple[str, ...]
    printings: int = 1  # times the story was printed this week


@dataclass(frozen=True)
class ThemeView:
    name: str
    label: str
    anchor: str
    automatic: bool
    other: bool  # the final 其他 group of stories nothing else took
    colour: str
    article_count: int  # printings: every article, reprints included
    stories: tuple[StoryView, ...]
    story_count: int = 0  # what the chart and the contents count


@dataclass(frozen=True)
class HighlightView:
    """One line of 本周要点: a story's title and key sentence, linked to the story below."""

    title: str
    anchor: str
    theme: str
    theme_anchor: str
    sentence: str
    printings: int


@dataclass(frozen=True)
class Bar:
    label: str
    anchor: str
    count: int
    colour: str
    y: int
    width: float


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    label_width: int
    bar_height: int
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class DigestView:
    title: str
    week: str
    monday: str
    sunday: str
    date_range: str
    issue_count: int
    article_count: int
    story_count: int
    theme_count: int
    themes: tuple[ThemeView, ...]
    chart: Chart
    file_stem: str
    highlights: tuple[HighlightView, ...] = ()


@dataclass(frozen=True)
class RenderedDigest:
    """One week's digest in every form; what `digest build` writes and email sends."""

    week: IsoWeek
    title: str
    subject: str  # a one-line title for mail and feeds
    markdown: str
    html: str
    text: str
    feed_html: str
    themes: tuple[Theme, ...]
    issue_count: int
    article_count: int
    story_count: int

    @property
    def file_stem(self) -> str:
        return digest_file_stem(self.week)


def digest_file_stem(week: IsoWeek) -> str:
    return f"digest-{week}"


# -- formatting helpers (also registered as template filters) ------------------------------

def cn_date(day: dt.date | None) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if day else "日期不详"


def cn_range(monday: dt.date, sunday: dt.date) -> str:
    end = (f"{sunday.month}月{sunday.day}日" if sunday.year == monday.year
           else cn_date(sunday))
    return f"{cn_date(monday)}（周一）至{end}（周日）"


# `_` only where it could open or close emphasis: inside a word (file names such as
# 000_99462eab.txt) CommonMark never reads it as markup, and escaping it there is noise.
_MD_SPECIAL = re.compile(r"([\\`*{}\[\]<>|#&~])|(?<![0-9A-Za-z])(_)|(_)(?![0-9A-Za-z])")
# What opens a block when it starts a line: a list item (`- `, `+ `, `1. `, `1) `), a
# thematic break or setext underline (`---`, `===`). `*`, `#` and `>` are escaped anywhere.
_MD_LINE_START = re.compile(r"^(?:([-+])(?=[ \t]|$|[- \t]*$)|(=)(?==*[ \t]*$)"
                            r"|(\d{1,9})([.)])(?=[ \t]|$))")


@functools.lru_cache(maxsize=16384)  # a week repeats its papers, issues, dates and names
def md_escape(text: str | None) -> str:
    """Backslash-escape what Markdown would read as markup (CommonMark allows it for any
    ASCII punctuation), so a headline like `<script>` or `*x*` stays literal text; the text
    is one line, and what would open a list, quote or heading at its start is escaped too,
    since templates print it at the start of a line (`> {{ line|md }}`)."""
    text = " ".join(clean(text or "").split("\n")).lstrip(" \t")
    text = _MD_SPECIAL.sub(r"\\\g<0>", text)
    return _MD_LINE_START.sub(
        lambda m: f"{m.group(3)}\\{m.group(4)}" if m.group(3) else "\\" + m.group(0), text)


# -- view building ------------------------------------------------------------------------

def issue_label(article: StoredArticle) -> str:
    """Paper and issue as a reader cites them; the issue date marked as the print date, so
    it is not mistaken for the article's own date shown beside it."""
    name = " ".join(p for p in (article.paper, article.issue_number) if p)
    if article.issue_date is None:
        return name
    printed = f"{cn_date(article.issue_date)}出版"
    return f"{name}（{printed}）" if name else printed


def _source_view(article: StoredArticle, story_title: str | None) -> SourceView:
    day, basis = shown_date(article)
    title = display_title(article)
    return SourceView(
        article_id=article.id, title=title if title != story_title else None,
        date=cn_date(day), basis=BASIS_LABELS[basis], paper=article.paper,
        issue_number=article.issue_number,
        issue_date=cn_date(article.issue_date) if article.issue_date else None,
        issue=issue_label(article), file=article.source, byline=article.byline)


def _story_view(story: StoryGroup) -> StoryView:
    lead = story.lead
    title = display_title(lead)
    day, basis = shown_date(lead)
    return StoryView(
        article_id=lead.id, anchor=f"article-{lead.id}", title=title,
        kicker=lead.kicker if lead.kicker != title else None,
        subtitle=lead.subtitle if lead.subtitle != title else None,
        date=cn_date(day), date_iso=day.isoformat() if day else "", basis=BASIS_LABELS[basis],
        source=_source_view(lead, None),
        also_in=tuple(_source_view(a, title) for a in story.also_in),
        sentences=tuple(s.text for s in lead.sentences), keywords=lead.keywords,
        printings=1 + len(story.also_in))


def theme_chart(themes: Sequence[ThemeView], width: int = 400) -> Chart:
    """Horizontal bars, one per theme, lengths proportional to story counts (a story printed
    five times is one story).

    A narrow drawing (400 units) so that on a phone, where it is shown about 360 px wide,
    the 14-unit labels stay readable; the page caps its width on large screens."""
    label_width, bar_height, gap, count_room = 122, 20, 7, 30
    most = max((t.story_count for t in themes), default=1) or 1
    span = width - label_width - count_room
    bars = tuple(
        Bar(label=t.name, anchor=t.anchor, count=t.story_count, colour=t.colour,
            y=gap + i * (bar_height + gap), width=round(span * t.story_count / most, 1))
        for i, t in enumerate(themes))
    return Chart(width=width, height=gap + len(bars) * (bar_height + gap),
                 label_width=label_width, bar_height=bar_height, bars=bars)


def digest_view(week: IsoWeek, themes: Sequence[Theme], title: str) -> DigestView:
    views = []
    named = 0
    for i, theme in enumerate(themes, start=1):
        if theme.automatic:
            colour = AUTO_COLOUR
        else:
            colour = PALETTE[named % len(PALETTE)]
            named += 1
        views.append(ThemeView(
            name=theme.name, label=theme.label, anchor=f"theme-{i}", automatic=theme.automatic,
            other=theme.automatic and theme.name == OTHER, colour=colour,
            article_count=sum(1 + len(s.also_in) for s in theme.stories),
            stories=tuple(_story_view(s) for s in theme.stories),
            story_count=len(theme.stories)))
    anchors = {t.name: v.anchor for t, v in zip(themes, views)}
    highlights = tuple(
        HighlightView(title=display_title(h.story.lead), anchor=f"article-{h.story.lead.id}",
                      theme=h.theme, theme_anchor=anchors[h.theme], sentence=h.sentence.text,
                      printings=1 + len(h.story.also_in))
        for h in week_highlights(themes, OTHER))
    articles = articles_of(themes)
    return DigestView(
        title=title, week=str(week), monday=week.monday.isoformat(),
        sunday=week.sunday.isoformat(), date_range=cn_range(week.monday, week.sunday),
        issue_count=len({a.issue_id for a in articles}), article_count=len(articles),
        story_count=sum(len(t.stories) for t in themes), theme_count=len(themes),
        themes=tuple(views), chart=theme_chart(views), file_stem=digest_file_stem(week),
        highlights=highlights)


# -- templates ----------------------------------------------------------------------------

def template_environment(config: Config) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if config.paths.templates is not None:
        loaders.append(jinja2.FileSystemLoader(str(config.paths.templates)))
    loaders.append(jinja2.FileSystemLoader(str(TEMPLATES_DIR)))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2", "xml.j2", "html", "xml"),
            disabled_extensions=("md.j2", "txt.j2"), default=True),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)
    env.filters["md"] = md_escape
    env.filters["cn_date"] = cn_date
    return env


@dataclass(frozen=True)
class LateView:
    """Stories of an earlier week that arrived after that week was mailed (mail only)."""

    week: str
    date_range: str
    themes: tuple[ThemeView, ...]


def page_links(week: IsoWeek) -> dict:
    """A page's links: relative, to its neighbours in the output folder."""
    return {"absolute": False, "page": None, "index": "index.html",
            "markdown": f"{digest_file_stem(week)}.md", "feed": "feed.xml"}


def mail_links(config: Config, week: IsoWeek, has_page: bool = True) -> dict:
    """A mail's links: absolute from [digest].base_url; none at all when it is empty (a
    relative link in a mail leads nowhere)."""
    base = config.digest.base_url
    if not base:
        return {"absolute": True, "page": None, "index": None, "markdown": None, "feed": None}
    base = base if base.endswith("/") else base + "/"
    stem = digest_file_stem(week)
    return {"absolute": True, "page": f"{base}{stem}.html" if has_page else None,
            "index": f"{base}index.html",
            "markdown": f"{base}{stem}.md" if has_page else None, "feed": f"{base}feed.xml"}


def late_title(week: IsoWeek, late_weeks: Sequence[IsoWeek]) -> str:
    if all(w == week.previous() for w in late_weeks):
        return "补发：上周迟到的报道"
    return "补发：往期迟到的报道"


def _render(env: jinja2.Environment, name: str, context: dict) -> str:
    """A page with no character XML or a reader cannot take, whatever its data held: this
    also cleans a digest stored by an older version when index.html and feed.xml embed it."""
    return clean(env.get_template(name).render(context))


def render_week(config: Config, week: IsoWeek, themes: Sequence[Theme],
                env: jinja2.Environment | None = None, *,
                late: Sequence[tuple[IsoWeek, Sequence[Theme]]] = (),
                links: dict | None = None) -> RenderedDigest:
    """Render one week's grouped themes in every format (pure: no files, no database).

    For a mail: `late` adds the earlier weeks' late stories in a section of their own, and
    `links` are mail_links (the default, page_links, is for the pages in the output folder)."""
    env = env or template_environment(config)
    view = digest_view(week, themes, config.digest.title)
    late_views = tuple(
        LateView(week=str(w), date_range=cn_range(w.monday, w.sunday),
                 themes=digest_view(w, ts, config.digest.title).themes) for w, ts in late)
    context = {"d": view, "late": late_views, "links": links or page_links(week),
               "late_title": late_title(week, [w for w, _ in late])}
    articles = articles_of(themes)
    return RenderedDigest(
        week=week, title=config.digest.title,
        subject=clean(f"{config.digest.title} {week}（{view.date_range}）"),
        markdown=_render(env, "digest.md.j2", context),
        html=_render(env, "digest.html.j2", context),
        text=_render(env, "digest.txt.j2", context),
        feed_html=_render(env, "feed-entry.html.j2", context),
        themes=tuple(themes), issue_count=view.issue_count, article_count=len(articles),
        story_count=view.story_count + sum(len(t.stories) for l in late_views for t in l.themes))


@dataclass(frozen=True)
class IndexEntry:
    """What index.html and feed.xml need to know of one built digest."""

    week: IsoWeek
    updated: dt.datetime
    issue_count: int
    article_count: int
    theme_count: int
    feed_html: str


def feed_id(title: str, key: str) -> str:
    """A stable Atom id (an IRI that never changes for the same feed or week)."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'digest:{title}:{key}')}"


def _atom_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _index_context(config: Config, entries: Sequence[IndexEntry]) -> dict:
    newest_first = sorted(entries, key=lambda e: e.week, reverse=True)
    base = config.digest.base_url
    if base and not base.endswith("/"):
        base += "/"
    items = [{
        "week": str(e.week), "stem": digest_file_stem(e.week),
        "date_range": cn_range(e.week.monday, e.week.sunday), "issue_count": e.issue_count,
        "article_count": e.article_count, "theme_count": e.theme_count,
        "updated": _atom_time(e.updated), "id": feed_id(config.digest.title, str(e.week)),
        "feed_html": e.feed_html} for e in newest_first]
    updated = max((e.updated for e in entries), default=dt.datetime(1970, 1, 1,
                                                                     tzinfo=dt.timezone.utc))
    return {"title": config.digest.title, "base": base, "items": items,
            "updated": _atom_time(updated), "feed_id": feed_id(config.digest.title, "feed")}


def render_index(config: Config, entries: Sequence[IndexEntry],
                 env: jinja2.Environment | None = None) -> str:
    env = env or template_environment(config)
    return _render(env, "index.html.j2", _index_context(config, entries))


def render_feed(config: Config, entries: Sequence[IndexEntry],
                env: jinja2.Environment | None = None) -> str:
    env = env or template_environment(config)
    return _render(env, "feed.xml.j2", _index_context(config, entries))


# -- files --------------------------------------------------------------------------------

def write_atomic(path: Path, content: str) -> Path:
    """Write to a temporary file beside `path`, then rename over it (atomic on POSIX)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temp, 0o644)  # mkstemp makes 0600; pages are meant to be served
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return path


def write_digest(rendered: RenderedDigest, out_dir: Path) -> list[Path]:
    stem = rendered.file_stem
    return [write_atomic(out_dir / f"{stem}.md", rendered.markdown),
            write_atomic(out_dir / f"{stem}.html", rendered.html)]
