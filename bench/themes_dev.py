"""Grouping quality on the dev papers: NMI of `digest themes --jsonl` against page sections.

    .venv/bin/python bench/themes_dev.py [--config FILE]

Articles are the dev manifest's (`../shared/dev/issues/MANIFEST.jsonl`; text is
file[body_start:char_end], title from the manifest), leaving out items with fewer than 20
letters and digits of body (photos, banners), as the split scorer does. Each paper is
grouped as one collection, then both together. The label is the page's `section` (要闻,
国内大局, 党的建设, ...): an editor's page plan, a weak stand-in for topic labels, since one
page (要闻) carries every topic. Prints NMI (scikit-learn's, arithmetic mean), the number
of groups, the share in 其他, and the time taken. Named themes come from the config (the
project's config.toml by default; pass one with `themes = []` for automatic themes only).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from common import dev_bodies  # noqa: E402


def dev_articles() -> list[dict]:
    out = []
    for row, body in dev_bodies():
        out.append({"id": f"{row['issue_file']}#{row['seq']}", "text": body,
                    "title": row["title"] or None, "paper": row["paper"],
                    "section": row["section"].replace("\u3000", "")})
    return out


def run_themes(articles: list[dict], config: str | None) -> tuple[list[dict], float]:
    command = [str(ROOT / ".venv" / "bin" / "digest")]
    if config:
        command += ["--config", config]
    payload = "".join(json.dumps({k: a[k] for k in ("id", "text", "title")},
                                 ensure_ascii=False) + "\n" for a in articles)
    start = time.perf_counter()
    done = subprocess.run(command + ["themes", "--jsonl"], input=payload.encode(),
                          capture_output=True, check=True)
    took = time.perf_counter() - start
    return [json.loads(line) for line in done.stdout.decode().splitlines()], took


def report(name: str, articles: list[dict], config: str | None) -> dict:
    from sklearn.metrics import normalized_mutual_info_score

    answers, took = run_themes(articles, config)
    themes = [a["theme"] for a in answers]
    result = {
        "set": name, "articles": len(articles),
        "sections": len({a["section"] for a in articles}),
        "nmi": round(normalized_mutual_info_score([a["section"] for a in articles], themes), 3),
        "groups": len(set(themes) - {"其他"}),
        "other_share": round(themes.count("其他") / len(themes), 3),
        "merged": sum(a["story"] != a["id"] for a in answers),
        "seconds": round(took, 1)}
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None)
    args = parser.parse_args()
    articles = dev_articles()
    for paper in sorted({a["paper"] for a in articles}):
        report(paper, [a for a in articles if a["paper"] == paper], args.config)
    report("both papers", articles, args.config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
