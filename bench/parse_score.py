"""Article-split scores of the parser, in process (what `score-split` measures, faster),
per paper x layout, and leave-one-paper-out (LOPO).

    python bench/parse_score.py [--shared ../shared] [--model FILE] [--lopo] [-v]

Uses the scorer of ../shared/tools (seg_score.py) on the seeds gold and the dev manifest.
--lopo trains one model per paper without it (in a temporary folder) and scores that paper.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from digest import decode, parse  # noqa: E402
from digest.parse import tagger, train  # noqa: E402

SEEDS_PAPER = train.SEEDS_PAPER


def _seg_score(shared: Path):
    sys.path.insert(0, str(shared / "tools"))
    import seg_score  # noqa: PLC0415

    return seg_score


def _as_json(path: Path) -> dict:
    return parse.to_json(parse.parse_issue(decode.read_issue_file(path)))


def collect(shared: Path, only_paper: str | None = None, verbose: bool = False):
    """{(paper, layout): counts} with seg_score's counting."""
    ss = _seg_score(shared)
    groups: dict[tuple[str, str], dict] = defaultdict(
        lambda: {"gold": 0, "pred": 0, "matched": 0, "fields": defaultdict(int)})
    layouts = {}
    import json

    with open(shared / "dev" / "issues" / "MANIFEST.jsonl", encoding="utf-8") as f:
        for row in f:
            rec = json.loads(row)
            layouts[rec["issue_file"]] = (rec["paper"], rec["layout"])
    sets = []
    if only_paper in (None, SEEDS_PAPER):
        sets.append(("seeds", [(p, (SEEDS_PAPER, "seeds"), a) for p, _, a in
                               ss.load_seeds_gold(shared / "gold" / "seeds", shared / "seeds")]))
    if only_paper != SEEDS_PAPER:
        gold, _ = ss.load_heldout_gold(shared / "dev" / "issues", 20)
        sets.append(("manifest", [(p, layouts[p.name], a) for p, _, a in gold
                                  if only_paper in (None, layouts[p.name][0])]))
    for mode, items in sets:
        checks = ss.field_checks("seeds" if mode == "seeds" else "manifest")
        for path, key, gold_articles in items:
            counts = ss.score_file("seeds" if mode == "seeds" else "manifest", gold_articles,
                                   _as_json(path), 20, checks)
            g = groups[key]
            for k in ("gold", "pred", "matched"):
                g[k] += counts[k]
            for k, v in counts["fields"].items():
                g["fields"][k] += v
            if verbose:
                print(f"--- {path.name}")
                ss.show_misses(gold_articles, counts)
                for i, j in counts["pairs"]:
                    ga, pa = gold_articles[i], counts["preds"][j][0]
                    for k, check in checks.items():
                        if k in ("title", "kicker", "subtitle") and not check(ga, pa):
                            print(f"    {k}: gold {ga[k]!r} pred {pa.get(k)!r}")
    return groups


def _prf(g):
    p = g["matched"] / g["pred"] if g["pred"] else 0.0
    r = g["matched"] / g["gold"] if g["gold"] else 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


def table(groups) -> str:
    rows = [f"{'paper':<8}{'layout':<10}{'gold':>6}{'pred':>6}{'F1':>7}{'title':>7}"
            f"{'kicker':>7}{'subt':>7}"]
    total = {"gold": 0, "pred": 0, "matched": 0, "fields": defaultdict(int)}
    for (paper, layout), g in sorted(groups.items()):
        m = g["matched"] or 1
        rows.append(f"{paper:<8}{layout:<10}{g['gold']:>6}{g['pred']:>6}{_prf(g):>7.3f}"
                    f"{g['fields']['title'] / m:>7.3f}{g['fields']['kicker'] / m:>7.3f}"
                    f"{g['fields']['subtitle'] / m:>7.3f}")
    return "\n".join(rows)


def by_paper(groups):
    out = defaultdict(lambda: {"gold": 0, "pred": 0, "matched": 0, "fields": defaultdict(int)})
    for (paper, _), g in groups.items():
        for k in ("gold", "pred", "matched"):
            out[paper][k] += g[k]
        for k, v in g["fields"].items():
            out[paper]["fields"][k] += v
    return out


def lopo(shared: Path) -> dict[str, dict]:
    data = list(train.examples(shared))
    papers = sorted({ex[0] for ex in data})
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for paper in papers:
            model = Path(tmp) / f"without-{len(results)}.crfsuite"
            train.train(train.training_set(ex for ex in data if ex[0] != paper), model)
            old = tagger.MODEL
            tagger.MODEL = model
            try:
                results[paper] = collect(shared, only_paper=paper)
            finally:
                tagger.MODEL = old
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--lopo", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.model:
        tagger.MODEL = args.model
    if args.lopo:
        for paper, groups in lopo(args.shared).items():
            print(f"== LOPO: trained without {paper}, scored on it")
            print(table(groups))
            g = by_paper(groups)[paper]
            print(f"   {paper} overall F1 {_prf(g):.3f} title "
                  f"{g['fields']['title'] / max(1, g['matched']):.3f}")
        return 0
    groups = collect(args.shared, verbose=args.verbose)
    print(table(groups))
    for paper, g in sorted(by_paper(groups).items()):
        print(f"{paper}: F1 {_prf(g):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
