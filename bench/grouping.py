"""Grouping + rendering speed: weeks of 50, 500 and 5,000 articles made from the dev papers.

    .venv/bin/python bench/grouping.py [--sizes 50,500,5000] [--repeat 3]

Articles come from `../shared/dev/issues` (MANIFEST.jsonl spans; items under 20 letters
and digits left out), ranked once up front (ranking is ingest's work, not the build's). A
week of N: dev articles drawn without replacement while they last; beyond that, new articles
stitched from thirds of three articles of the same page section (so they are new texts on
the same topics, not copies); then 10% of the week are reprints of another article of the
week (new dateline, one paragraph dropped when there are several), which same-story merging
must find. Times `group_week` (merging, named themes, automatic themes) and `render_week`
(Markdown, HTML, text, feed entry) with the project's config.toml, after a warm-up week
(tokenizer dictionary, scikit-learn import), best of --repeat runs. Each article carries its
grouping words, cut up front as ingest cuts them into the store (`digest/themes/words.py`);
`--cut-at-build` leaves them out, as for articles stored by an older version, so that the
build cuts them. Also checks that the fast
merging gives the same groups as the all-pairs method on the 500-article week, and prints
`output_sha`, a hash of what `group_week` gave (each theme's name, label and stories with
their printings, and 本周要点) and `render_sha`, one of the Markdown, HTML, text and feed
entry, to compare two versions' output on the same weeks.
Results go to bench/results/grouping.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.config import load_config  # noqa: E402
from digest.model import Article, StoredArticle  # noqa: E402
from digest.weeks import IsoWeek  # noqa: E402
from common import dev_bodies  # noqa: E402

RESULTS = ROOT / "bench" / "results"
WEEK = IsoWeek(2026, 18)


def dev_articles(config) -> list[StoredArticle]:
    from digest.rank import Ranker

    parsed = []
    for row, body in dev_bodies():
        paragraphs = tuple(p.strip() for p in body.split("\n") if p.strip())
        parsed.append((row, Article(index=row["seq"], title=row["title"] or None,
                                    kicker=row["pretitle"] or None,
                                    subtitle=row["subtitle"] or None, date=None, place=None,
                                    dateline=None, byline=None, kind="news",
                                    paragraphs=paragraphs)))
    summaries = Ranker(config).summarize_articles([a for _, a in parsed])
    out = []
    for k, ((row, art), summary) in enumerate(zip(parsed, summaries), 1):
        out.append(StoredArticle(
            id=k, issue_id=k, paper=row["paper"], issue_date=WEEK.monday,
            issue_number=row["section"], source=row["issue_file"], title=art.title,
            kicker=art.kicker, subtitle=art.subtitle, date=WEEK.monday, byline=None,
            kind="news", paragraphs=art.paragraphs, sentences=summary.sentences,
            keywords=summary.keywords, position=row["seq"] - 1))
    return out


def make_week(base: list[StoredArticle], size: int, seed: int = 0) -> list[StoredArticle]:
    rng = random.Random(seed)
    originals = size - size // 10
    pool = rng.sample(base, min(originals, len(base)))
    by_section: dict[str, list[StoredArticle]] = {}
    for a in base:
        by_section.setdefault(a.issue_number, []).append(a)
    week = list(pool)
    while len(week) < originals:
        a = rng.choice(base)
        mates = by_section[a.issue_number]
        parts = [a, rng.choice(mates), rng.choice(mates)]
        paragraphs = []
        for i, part in enumerate(parts):
            text = "".join(part.paragraphs)
            third = len(text) // 3
            paragraphs.append(text[i * third:(i + 1) * third])
        week.append(dataclasses.replace(a, paragraphs=tuple(paragraphs)))
    for _ in range(size - originals):
        a = rng.choice(week[:originals])
        paragraphs = a.paragraphs[:-1] if len(a.paragraphs) > 2 else a.paragraphs
        week.append(dataclasses.replace(
            a, paragraphs=("本报讯 " + paragraphs[0], *paragraphs[1:]), paper="转载报",
            title=(a.title or "") + "（转载）"))
    return [dataclasses.replace(a, id=i + 1, issue_id=i // 40 + 1, position=i % 40)
            for i, a in enumerate(week)]


def with_words(config, week: list[StoredArticle]) -> list[StoredArticle]:
    """The week's articles with the grouping words ingest would have stored for them."""
    from digest.text import make_tokenizer
    from digest.themes.words import grouping_words, words_stamp

    tokenizer = make_tokenizer(config.text, config.paths.state / "cache")
    stamp = words_stamp(config.text)
    return [dataclasses.replace(a, grouping_words=grouping_words(a, tokenizer),
                                grouping_stamp=stamp) for a in week]


def output_sha(themes) -> str:
    from digest.themes import week_highlights

    shown = [[[t.name, t.label, t.automatic,
               [[s.lead.id, [a.id for a in s.also_in]] for s in t.stories]] for t in themes],
             [[h.story.lead.id, h.theme, h.sentence.text] for h in week_highlights(themes)]]
    return hashlib.sha256(json.dumps(shown, ensure_ascii=False).encode()).hexdigest()[:16]


def timed(config, week):
    from digest.render import md_escape, render_week, template_environment
    from digest.themes import group_week, merge_same_stories

    env = template_environment(config)
    md_escape.cache_clear()  # each round renders as a build does: no strings seen before
    start = time.perf_counter()
    stories = merge_same_stories(week, config.dedupe)
    merged = time.perf_counter()
    themes = group_week(week, config)
    grouped = time.perf_counter()
    rendered = render_week(config, WEEK, themes, env)
    done = time.perf_counter()
    return {"merge_s": merged - start, "group_week_s": grouped - merged,
            "render_s": done - grouped, "total_s": done - merged,
            "stories": len(stories), "themes": len(themes),
            "other": sum(len(t.stories) for t in themes if t.name == "其他"),
            "output_sha": output_sha(themes),
            "render_sha": hashlib.sha256("\0".join(
                (rendered.markdown, rendered.html, rendered.text, rendered.feed_html)
            ).encode()).hexdigest()[:16],
            "html_kib": round(len(rendered.html.encode()) / 1024)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,500,5000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cut-at-build", action="store_true",
                        help="articles without stored grouping words (the build cuts them)")
    args = parser.parse_args()
    config = load_config(ROOT / "config.toml")
    base = dev_articles(config)

    def week_of(size: int, seed: int = 0) -> list[StoredArticle]:
        week = make_week(base, size, seed)
        return week if args.cut_at_build else with_words(config, week)

    timed(config, week_of(50, seed=99))  # warm-up
    results = []
    for size in map(int, args.sizes.split(",")):
        week = week_of(size)
        runs = [timed(config, week) for _ in range(args.repeat)]
        best = min(runs, key=lambda r: r["total_s"])
        row = {"articles": size, "words": "cut at build" if args.cut_at_build else "stored",
               **{k: round(v, 3) if isinstance(v, float) else v
                                    for k, v in best.items()},
               "total_runs_s": [round(r["total_s"], 2) for r in runs]}
        if size == 500:
            from digest.themes import merge_same_stories, merge_same_stories_exact

            start = time.perf_counter()
            exact = merge_same_stories_exact(week, config.dedupe)
            row["exact_merge_s"] = round(time.perf_counter() - start, 2)
            row["same_as_exact"] = exact == merge_same_stories(week, config.dedupe)
        print(json.dumps(row, ensure_ascii=False), flush=True)
        results.append(row)
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "grouping-cut-at-build.json" if args.cut_at_build else "grouping.json"
    (RESULTS / name).write_text(json.dumps(results, ensure_ascii=False, indent=1),
                                           encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
