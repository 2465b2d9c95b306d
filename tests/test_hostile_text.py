"""Arbitrary Unicode in every text of an article (control characters, lone surrogates,
markup) never breaks feed.xml and never becomes an element of a page."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import itertools
import tempfile
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest import pipeline
from digest.config import PathsConfig, load_config
from digest.model import Article, IssueMeta, KeySentence, ParsedIssue, Summary
from digest.sanitize import clean
from digest.store import open_store

from .conftest import ROOT

CONTROLS = [chr(c) for c in (*range(0, 32), 127, *range(0x80, 0xA0))] + [
    "\ufffe", "\uffff", "\ud800", "\udfff", "\u2028", "\u2029", "\ufeff", "\u200b"]
INJECTIONS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "]]>", "<![CDATA[",
              "<!--", "-->", "&amp;", "&#0;", "&#x1b;", "\"'", "</li></ul><h1>", "<svg onload=x>",
              "- ", "1. ", "# ", "> ", "\n- 列表", "{{ d.title }}", "{% raw %}"]
MARKER = '<b id="inj">'  # always in the title, so its presence as text can be checked

hostile = st.lists(st.one_of(st.text(st.characters(exclude_categories=()), max_size=6),
                             st.sampled_from(CONTROLS), st.sampled_from(INJECTIONS),
                             st.sampled_from(["东昌府", "会议", "企业"])), max_size=6).map("".join)
maybe = st.none() | hostile
articles = st.fixed_dictionaries({
    "title": hostile.map(lambda t: t + MARKER + "标题"), "kicker": maybe, "subtitle": maybe,
    "byline": maybe, "paragraphs": st.lists(hostile, min_size=1, max_size=3),
    "sentences": st.lists(hostile, max_size=3), "keywords": st.lists(hostile, max_size=4)})
issues = st.fixed_dictionaries({"paper": maybe, "number": maybe, "source": hostile,
                                "articles": st.lists(articles, min_size=1, max_size=3)})
counter = itertools.count()


class Elements(HTMLParser):
    """Every start tag with its attributes, and all the text, of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def elements(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    parser.close()
    return parser


# The elements the templates themselves write; input text may add none.
TEMPLATE_TAGS = {"html", "head", "meta", "title", "style", "body", "header", "main", "nav",
                 "section", "article", "footer", "h1", "h2", "h3", "h4", "p", "ul", "ol", "li",
                 "a", "span", "div", "small", "strong", "em", "blockquote", "svg", "g", "rect",
                 "text", "title", "dl", "dt", "dd", "table", "tr", "td", "th", "thead", "tbody",
                 "figure", "figcaption", "time", "details", "summary", "link", "q", "cite",
                 "abbr", "br", "hr", "mark", "b", "i", "aside", "caption", "desc"}


def assert_no_element_from_input(html: str, *, shows_title: bool = True) -> None:
    page = elements(html)
    for tag, attrs in page.tags:
        assert attrs.get("id") != "inj", "an element came from the headline"
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert tag not in ("script", "img", "iframe", "object", "embed"), tag
        assert tag in TEMPLATE_TAGS, tag
    if shows_title:
        assert MARKER in "".join(page.text)  # shown as text, not parsed as a tag


def _issue(spec: dict) -> tuple[ParsedIssue, list[Summary]]:
    sha = hashlib.sha256(f"{next(counter)}{spec!r}".encode("utf-8", "surrogatepass")).hexdigest()
    meta = IssueMeta(paper=spec["paper"], date=dt.date(2022, 8, 23), number=spec["number"],
                     source=spec["source"], sha256=sha)
    parsed, summaries = [], []
    for i, a in enumerate(spec["articles"]):
        parsed.append(Article(index=i, title=a["title"], kicker=a["kicker"],
                              subtitle=a["subtitle"], date=dt.date(2022, 8, 18), place=None,
                              dateline=None, byline=a["byline"], kind="news",
                              paragraphs=tuple(a["paragraphs"])))
        summaries.append(Summary(
            sentences=tuple(KeySentence(j, s, 0.5) for j, s in enumerate(a["sentences"])),
            keywords=tuple(a["keywords"])))
    return ParsedIssue(issue=meta, articles=tuple(parsed), non_article=()), summaries


BASE = load_config(ROOT / "config.toml")


@settings(max_examples=100, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(spec=issues)
def test_hostile_text_never_breaks_the_feed_or_adds_an_element(spec):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        config = dataclasses.replace(BASE, paths=PathsConfig(
            inbox=root / "inbox", archive=root / "archive", failed=root / "failed",
            output=root / "out", state=root / "state"))
        parsed, summaries = _issue(spec)
        with open_store(config) as store:
            store.ingest_parsed(parsed, summaries)
            result = pipeline.build_weeks(config, None, store=store)
        [digest] = result.digests
        out = config.paths.output
        feed = (out / "feed.xml").read_text(encoding="utf-8")
        root_element = ET.fromstring(feed)  # well-formed XML, whatever the headlines held
        ns = {"atom": "http://www.w3.org/2005/Atom"}
        [content] = root_element.findall("atom:entry/atom:content", ns)
        assert_no_element_from_input(content.text)
        assert_no_element_from_input((out / f"{digest.file_stem}.html").read_text("utf-8"))
        assert_no_element_from_input((out / "index.html").read_text("utf-8"), shows_title=False)
        for page in (digest.markdown, digest.text, digest.html, feed):
            assert clean(page) == page
        assert "\\<b id=\"inj\"\\>" in digest.markdown
        for line in digest.markdown.splitlines():
            assert not line.startswith(("- \\<", "<")), line
