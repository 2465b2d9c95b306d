"""A stand-in for the kept-back topic set: dev articles of ten clearly distinct page sections.

    .venv/bin/python bench/themes_proxy.py

No labelled topic set is reachable here (see README, *Themes*), so this takes the 学习时报
pages whose section names a subject (军事国防, 市场经济, 科技前沿, 生态文明, 民主法治, 文史参阅,
当代世界, 党的建设, 文化教育, 读书治学), 10 labels, and groups them as one collection, named themes
off, through `themes_jsonl` (what `digest themes --jsonl` runs). It prints NMI, groups and
the share in 其他 for: the method as it is (k by silhouette within [2, min(sqrt n, 15)]);
the same with k = 10 given (the kept-back set's report: LSA + k-means at k = 10 reached
0.90 there); and the silhouette of each k, to see whether the choice of k is the weak point.
What it does not show: these are an editor's pages, not topic labels (a 党的建设 page and a
民主法治 page can carry the same topic), and 420 articles, not 1,000.
"""

from __future__ import annotations

import dataclasses
import io
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import dev_bodies  # noqa: E402

SECTIONS = ("军事国防", "市场经济", "科技前沿", "生态文明", "民主法治", "文史参阅", "当代世界",
            "党的建设", "文化教育", "读书治学")


def articles() -> list[dict]:
    return [{"id": f"{row['issue_file']}#{row['seq']}", "text": body,
             "title": row["title"] or None, "section": row["section"].replace("\u3000", "")}
            for row, body in dev_bodies()
            if row["paper"] == "学习时报" and row["section"] in SECTIONS]


def grouped(items: list[dict], config, k: int | None = None) -> list[str]:
    from digest.themes import cluster
    from digest.themes.batch import themes_jsonl

    payload = "".join(json.dumps({key: a[key] for key in ("id", "text", "title")},
                                 ensure_ascii=False) + "\n" for a in items).encode()
    choose = cluster._choose_k
    seen: dict = {}

    def chosen(points, clustering):
        seen["points"] = points
        return k if k is not None else choose(points, clustering)

    cluster._choose_k = chosen
    try:
        out = [record["theme"] for record, _ in themes_jsonl(io.BytesIO(payload), config)]
    finally:
        cluster._choose_k = choose
    grouped.points = seen.get("points")
    return out


def main() -> int:
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score, silhouette_score

    from digest.config import load_config

    config = load_config(ROOT / "config.toml")
    config = dataclasses.replace(config, themes=[])
    items = articles()
    truth = [a["section"] for a in items]
    for name, k in (("silhouette k", None), ("k = 10 given", 10)):
        themes = grouped(items, config, k)
        print(json.dumps({
            "run": name, "articles": len(items), "labels": len(set(truth)),
            "nmi": round(normalized_mutual_info_score(truth, themes), 3),
            "groups": len(set(themes) - {"其他"}),
            "other_share": round(themes.count("其他") / len(themes), 3)}, ensure_ascii=False))
    points = grouped.points
    curve = {}
    for k in range(2, 21):
        labels = KMeans(k, n_init=3, random_state=0).fit_predict(points)
        curve[k] = round(float(silhouette_score(points, labels)), 4)
    print(json.dumps({"silhouette_by_k": curve}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
