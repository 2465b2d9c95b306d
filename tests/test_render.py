"""Rendering: golden Markdown digests of the seeds, escaping, index/feed, overrides, files.

The golden files are tests/golden/digest-*.md. After an intended change in parsing, ranking,
themes or templates, regenerate them and review the diff:

    DIGEST_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_render.py -k golden
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import os
import re
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from digest import pipeline
from digest.cli import main
from digest.config import ThemeConfig
from digest.model import KeySentence
from digest.render import (
    IndexEntry,
    digest_view,
    md_escape,
    render_feed,
    render_index,
    render_week,
    theme_chart,
    write_atomic,
)
from digest.store import open_store
from digest.themes import articles_of, display_title, group_week
from digest.weeks import IsoWeek

from .digest_support import (
    GOLDEN,
    HOSTILE_ISSUE,
    HOSTILE_TITLE,
    ROOT,
    SEEDS,
    project_config,
    stored,
)

ATOM = "{http://www.w3.org/2005/Atom}"
UPDATE_GOLDEN = os.environ.get("DIGEST_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """The seeds ingested (real parser and ranker) and every week built into out/."""
    config = project_config(tmp_path_factory.mktemp("seeded"))
    pipeline.ingest_paths(config, [SEEDS])
    result = pipeline.build_weeks(config, None, config.paths.output)
    return config, result


def _weeks(config) -> tuple[IsoWeek, ...]:
    with open_store(config) as st:
        return st.weeks()


# -- golden Markdown ----------------------------------------------------------------------

def test_seed_digests_match_golden_markdown(seeded):
    config, result = seeded
    out = config.paths.output
    built = sorted(p.name for p in out.glob("digest-*.md"))
    if UPDATE_GOLDEN:
        GOLDEN.mkdir(exist_ok=True)
        for old in GOLDEN.glob("digest-*.md"):
            old.unlink()
        for name in built:
            (GOLDEN / name).write_text((out / name).read_text("utf-8"), "utf-8")
    assert built == sorted(p.name for p in GOLDEN.glob("digest-*.md")), \
        "weeks differ from tests/golden (DIGEST_UPDATE_GOLDEN=1 to regenerate)"
    for name in built:
        assert (out / name).read_text("utf-8") == (GOLDEN / name).read_text("utf-8"), \
            f"{name} differs from tests/golden/{name} (DIGEST_UPDATE_GOLDEN=1 to regenerate)"


def test_every_stored_article_appears_exactly_once_per_digest(seeded):
    config, result = seeded
    with open_store(config) as st:
        for week in st.weeks():
            articles = st.articles_in_week(week)
            page = (config.paths.output / f"digest-{week}.html").read_text("utf-8")
            ids = re.findall(r'data-article-id="(\d+)"', page)
            assert sorted(map(int, ids)) == sorted(a.id for a in articles), week
            markdown = (config.paths.output / f"digest-{week}.md").read_text("utf-8")
            assert markdown.count("\n- 来源：") + markdown.count("\n- 另见：") == len(articles)
            for a in articles:
                assert page.count(html.escape(display_title(a), quote=False)) >= 1


def test_digest_header_counts_and_dates(seeded):
    config, _ = seeded
    md = (config.paths.output / "digest-2022-W34.md").read_text("utf-8")
    assert md.startswith("# 每周要闻摘要 · 2022-W34\n\n2022年8月22日（周一）至8月28日（周日）\n")
    with open_store(config) as st:
        articles = st.articles_in_week(IsoWeek(2022, 34))
    themes = group_week(articles, config)
    assert f"**{len(articles)}** 篇文章" in md and f"**{len(themes)}** 个主题" in md
    assert "**1** 期报纸" in md
    assert "（报头日期）" in md and "（电头日期）" in md  # the digest says which date placed it
    html_page = (config.paths.output / "digest-2022-W34.html").read_text("utf-8")
    assert "<svg" in html_page and "<script" not in html_page.lower()
    assert not re.search(r'(src|href)="(https?:)?//', html_page)  # no external assets


def test_build_is_idempotent_and_writes_index_and_feed(seeded, tmp_path):
    config, result = seeded
    out = config.paths.output
    names = {p.name for p in result.written}
    assert {"index.html", "feed.xml"} <= names
    assert {f"digest-{w}.{ext}" for w in _weeks(config) for ext in ("md", "html")} <= names
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    again = pipeline.build_weeks(config, None, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [d.week for d in again.digests] == list(_weeks(config))
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left
    assert oct((out / "index.html").stat().st_mode & 0o777) == "0o644"


def test_index_lists_every_digest_newest_first(seeded):
    config, _ = seeded
    index = (config.paths.output / "index.html").read_text("utf-8")
    links = re.findall(r'href="(digest-[^"]+\.html)"', index)
    assert links == [f"digest-{w}.html" for w in reversed(_weeks(config))]
    assert 'type="application/atom+xml"' in index


def test_feed_is_valid_atom_with_one_entry_per_digest(seeded):
    config, _ = seeded
    root = ET.parse(config.paths.output / "feed.xml").getroot()
    assert root.tag == f"{ATOM}feed"
    entries = root.findall(f"{ATOM}entry")
    assert [e.find(f"{ATOM}title").text for e in entries] == [
        f"每周要闻摘要 {w}" for w in reversed(_weeks(config))]
    ids = [e.find(f"{ATOM}id").text for e in entries]
    assert len(set(ids)) == len(ids) and all(i.startswith("urn:uuid:") for i in ids)
    for e in entries:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", e.find(f"{ATOM}updated").text)
        assert e.find(f"{ATOM}link").get("href").startswith("digest-2022-W")
        assert e.find(f"{ATOM}content").get("type") == "html"


def test_feed_links_use_base_url(seeded, tmp_path):
    config, _ = seeded
    config = dataclasses.replace(config, digest=dataclasses.replace(
        config.digest, base_url="https://example.org/digest"))
    with open_store(config) as st:
        entries = [IndexEntry(week=d.week, updated=d.updated_at,
                                       issue_count=d.issue_count, article_count=d.article_count,
                                       theme_count=d.theme_count, feed_html=d.feed_html)
                   for d in st.digests()]
    root = ET.fromstring(render_feed(config, entries))
    assert root.find(f"{ATOM}entry/{ATOM}link").get("href").startswith(
        "https://example.org/digest/digest-2022-W")


# -- escaping -----------------------------------------------------------------------------

def test_hostile_text_is_escaped_in_html_feed_and_markdown(tmp_path):
    config = project_config(tmp_path / "state")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "hostile.txt").write_text(HOSTILE_ISSUE, encoding="utf-8")
    pipeline.ingest_paths(config, [tmp_path / "in"])
    result = pipeline.build_weeks(config, None, tmp_path / "out")
    (digest,) = result.digests
    assert digest.themes[0].stories[0].lead.title == HOSTILE_TITLE
    page = digest.html
    assert "<script" not in page and "<b>大会" not in page
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in page
    assert "&amp; 部署" in page
    feed = (tmp_path / "out" / "feed.xml").read_text("utf-8")
    entry_html = ET.fromstring(feed).find(f"{ATOM}entry/{ATOM}content").text
    assert "&lt;script&gt;" in entry_html  # escaped once more inside type="html" content
    assert "<script" not in entry_html
    assert "\\<script\\>" in digest.markdown and "<script>" not in digest.markdown
    assert HOSTILE_TITLE in digest.text  # plain text is not markup: shown as printed


def test_markdown_escaping():
    assert md_escape("<b>*x*</b> [a](b) `c` #1 a|b") == \
        "\\<b\\>\\*x\\*\\</b\\> \\[a\\](b) \\`c\\` \\#1 a\\|b"
    assert md_escape("000_99462eab.txt") == "000_99462eab.txt"  # intraword: not emphasis
    assert md_escape("_强调_") == "\\_强调\\_"
    assert md_escape(None) == ""


# -- rendering pieces ---------------------------------------------------------------------

def _theme_config(tmp_path, **kw):
    return project_config(tmp_path / "state", themes=[ThemeConfig("文明城市创建", ["创城"])], **kw)


def test_merged_story_lists_every_source(tmp_path):
    config = _theme_config(tmp_path)
    body = ("东昌府讯 8月22日,区委书记马军权实地督导创城工作,要求狠抓落实整改,持续优化市场环境,"
            "不断提升群众的获得感和幸福感,推动创城工作再上新台阶。")
    lead = stored("马军权督导创城工作", body, paper="东昌时讯", issue_number="总第1463期",
                  issue_date=dt.date(2022, 8, 23), keywords=("创城",),
                  sentences=(KeySentence(0, "要求狠抓落实整改。", 0.9),))
    reprint = stored("区委书记督导创城", body.replace("东昌府讯", "本报讯"), paper="聊城日报",
                     issue_date=dt.date(2022, 8, 24), byline="记者 某某")
    rendered = render_week(config, IsoWeek(2022, 34), group_week([lead, reprint], config))
    assert rendered.article_count == 2 and rendered.story_count == 1
    assert "- 另见：聊城日报（2022年8月24日出版） · " in rendered.markdown
    assert "题为《区委书记督导创城》" in rendered.markdown
    assert rendered.html.count('data-article-id="') == 2
    assert rendered.html.count('class="article-title"') == 1
    assert "> 要求狠抓落实整改。" in rendered.markdown
    assert "关键词：创城" in rendered.markdown


def test_chart_bars_scale_with_counts(tmp_path):
    config = _theme_config(tmp_path)
    arts = [stored(f"创城第{i}篇", f"创城工作第{i}次督导{'。' * i}", keywords=("创城",)) for i in range(3)]
    arts.append(stored("约稿启事", "投稿邮箱。"))
    view = digest_view(IsoWeek(2022, 34), group_week(arts, config), "t")
    chart = theme_chart(view.themes)
    assert [b.count for b in chart.bars] == [3, 1]
    assert chart.bars[0].width == pytest.approx(3 * chart.bars[1].width, rel=0.01)
    assert chart.bars[1].colour != chart.bars[0].colour  # 其他 is grey


def test_template_folder_overrides_one_file(tmp_path):
    custom = tmp_path / "my-templates"
    custom.mkdir()
    (custom / "digest.md.j2").write_text("自定义 {{ d.week }}\n", encoding="utf-8")
    config = _theme_config(tmp_path)
    config = dataclasses.replace(config, paths=dataclasses.replace(config.paths,
                                                                   templates=custom))
    rendered = render_week(config, IsoWeek(2022, 34),
                           group_week([stored("创城", "创城。创城。", keywords=("创城",))], config))
    assert rendered.markdown == "自定义 2022-W34\n"
    assert rendered.html.startswith("<!DOCTYPE html>")  # the rest still from templates/


def test_index_and_feed_render_with_no_digests(tmp_path):
    config = _theme_config(tmp_path)
    assert "还没有周报" in render_index(config, [])
    assert ET.fromstring(render_feed(config, [])).findall(f"{ATOM}entry") == []


def test_write_atomic_replaces_whole_files(tmp_path):
    target = tmp_path / "deep" / "x.html"
    write_atomic(target, "一")
    write_atomic(target, "二")
    assert target.read_text("utf-8") == "二"
    assert [p.name for p in target.parent.iterdir()] == ["x.html"]


def test_plain_text_rendering_for_email(seeded):
    config, result = seeded
    digest = next(d for d in result.digests if str(d.week) == "2022-W35")
    assert digest.text.startswith("每周要闻摘要 2022-W35\n")
    for a in articles_of(digest.themes):
        assert display_title(a) in digest.text
    assert "<" not in digest.text and "\\" not in digest.text
    assert digest.subject == "每周要闻摘要 2022-W35（2022年8月29日（周一）至9月4日（周日））"


# -- CLI ----------------------------------------------------------------------------------

def test_cli_build_week_all_and_default(seeded, tmp_path, monkeypatch):
    config, _ = seeded
    monkeypatch.setenv("DIGEST_HOME", str(config.paths.state))
    runner = CliRunner()
    base = ["--config", str(ROOT / "config.toml"), "build"]
    one = runner.invoke(main, [*base, "--week", "2022-W34", "--out", str(tmp_path / "a")])
    assert one.exit_code == 0, one.output
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "digest-2022-W34.html", "digest-2022-W34.md", "feed.xml", "index.html"]
    latest = runner.invoke(main, [*base, "--out", str(tmp_path / "b")])
    assert latest.exit_code == 0 and (tmp_path / "b" / "digest-2022-W48.md").is_file()
    every = runner.invoke(main, [*base, "--all", "--out", str(tmp_path / "c")])
    assert every.exit_code == 0
    assert len(list((tmp_path / "c").glob("digest-*.html"))) == len(_weeks(config))
    bad = runner.invoke(main, [*base, "--week", "2022-34"])
    assert bad.exit_code == 2 and "2022-W34" in bad.output
    empty = runner.invoke(main, [*base, "--week", "2022-W10", "--out", str(tmp_path / "d")])
    assert empty.exit_code == 1 and "no stored articles in 2022-W10" in empty.output


def test_pages_of_weeks_without_a_digest_are_removed(seeded, tmp_path):
    """After the move to issue weeks, e.g. 2022-W33's old page: the next build removes it
    (only our own page names), so no page outlives the index that stopped listing it."""
    config, _ = seeded
    out = tmp_path / "site"
    out.mkdir()
    for name in ("digest-2022-W33.html", "digest-2022-W33.md", "notes.html",
                 "digest-2022-W33.html.bak"):
        (out / name).write_text("old", encoding="utf-8")
    pipeline.build_weeks(config, [IsoWeek(2022, 34)], out)
    names = sorted(p.name for p in out.iterdir())
    assert "digest-2022-W33.html" not in names and "digest-2022-W33.md" not in names
    assert {"notes.html", "digest-2022-W33.html.bak", "digest-2022-W34.html"} <= set(names)


def test_a_mail_of_late_stories_only_reads_as_one(seeded):
    """A week without papers whose mail carries only the week before's late stories: no
    empty counts, chart or contents; its own section; no links without base_url."""
    from digest.render import mail_links

    config, _ = seeded
    w34, w35 = IsoWeek(2022, 34), IsoWeek(2022, 35)
    with open_store(config) as st:
        late = group_week(st.articles_in_week(w34), config)
    rendered = render_week(config, w35, [], late=[(w34, late)],
                           links=mail_links(config, w35, has_page=False))
    assert rendered.story_count == sum(len(t.stories) for t in late) == 9
    for body in (rendered.html, rendered.text):
        assert "补发：上周迟到的报道" in body and "本周没有新到的报纸" in body
        assert "0 期报纸" not in body and "目录" not in body
    assert "href=" not in rendered.html.split("<main>")[1].split("</main>")[0].replace(
        'href="#', "")  # no links out of the mail: base_url is empty
    assert "index.html" not in rendered.html and "feed.xml" not in rendered.html
