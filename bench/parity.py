"""Parity with textrank4zh 0.3, and ROUGE of Lead-3 / textrank4zh / ours on the seeds.

    make parity        # creates .venv-ref (textrank4zh==0.3, networkx<3) on first use

Parity: on how many seed articles does rank.mode = "textrank4zh" pick the same top-3
sentences (and the same top-8 keywords) as textrank4zh itself, run in .venv-ref; and, for
comparison, the same engine fed rjieba's tags instead of jieba.posseg's.
ROUGE: character-level ROUGE-1/2/L F1 of each method's 3 sentences against the article's
hand-checked headline + subtitle (tests/gold), averaged over the articles that have one.
Writes bench/results/parity.json as well.
"""

from __future__ import annotations

import dataclasses
import json
import sys

from common import ROOT, rouge, rouge_1_recall, run_reference, seed_articles

from digest.config import Config, PathsConfig, RankConfig, TextConfig
from digest.rank import Ranker
from digest.rank.engines import Textrank4zhEngine
from digest.text import load_stopwords, make_tokenizer, split_sentences

RESULTS = ROOT / "bench" / "results"
TOP, KEYWORDS = 3, 8


def ranker(mode: str, tokenizer: str) -> Ranker:
    config = dataclasses.replace(
        Config(), paths=PathsConfig(state=RESULTS), text=TextConfig(tokenizer=tokenizer),
        rank=RankConfig(mode=mode, sentences=TOP, keywords=KEYWORDS))
    return Ranker(config)


def compat_rankers() -> dict[str, Ranker]:
    """The shipped textrank4zh mode (it always tags with jieba.posseg, as textrank4zh does),
    and for comparison the same engine fed rjieba's tags, which the mode does not use."""
    shipped = ranker("textrank4zh", "jieba")
    on_rjieba = ranker("textrank4zh", "jieba")
    on_rjieba.engine = Textrank4zhEngine(
        make_tokenizer(TextConfig(tokenizer="rjieba"), RESULTS / "cache"), load_stopwords(None),
        TextConfig().min_sentence_chars)
    return {"textrank4zh mode": shipped, "same on rjieba tags": on_rjieba}


def parity(articles, reference) -> dict:
    out = {}
    for name, ours in compat_rankers().items():
        same_set = same_order = same_keywords = 0
        misses = []
        for seed, ref in zip(articles, reference):
            summary = ours.summarize(seed.article.body)
            mine = sorted(summary.sentences, key=lambda s: (-s.score, s.index))
            theirs = ref["sentences"]
            if {s.index for s in mine} == {s["index"] for s in theirs}:
                same_set += 1
            else:
                misses.append(seed.id)
            same_order += [s.index for s in mine] == [s["index"] for s in theirs]
            same_keywords += list(summary.keywords) == ref["keywords"]
        n = len(articles)
        out[name] = {"articles": n, "same_top3": same_set, "same_top3_order": same_order,
                     "same_keywords": same_keywords, "top3_percent": 100 * same_set / n,
                     "differs": misses}
    return out


def lead(text: str, count: int, min_chars: int) -> str:
    return "".join(s.text for s in split_sentences(text, min_chars)[:count])


def rouge_table(articles, reference) -> dict:
    default = ranker("default", "rjieba")
    methods = {"Lead-3": [], "textrank4zh": [], "ours": [], "ours, no headline": []}
    for seed, ref in zip(articles, reference):
        if not seed.headline:
            continue
        body = seed.article.body
        picks = {
            "Lead-3": lead(body, TOP, TextConfig().min_sentence_chars),
            "textrank4zh": "".join(s["text"] for s in ref["sentences"]),
            "ours": "".join(s.text for s in default.summarize_article(seed.article).sentences),
            "ours, no headline": "".join(s.text for s in default.summarize(body).sentences),
        }
        for name, text in picks.items():
            methods[name].append((*rouge(text, seed.headline),
                                  rouge_1_recall(text, seed.headline), len(text)))
    table = {}
    for name, scores in methods.items():
        n = len(scores)
        metrics = ("R1", "R2", "RL", "R1_recall")
        table[name] = {"articles": n,
                       **{m: round(100 * sum(s[k] for s in scores) / n, 2)
                          for k, m in enumerate(metrics)},
                       "chars": round(sum(s[4] for s in scores) / n)}
    return table


def main() -> None:
    articles = seed_articles()
    reference = run_reference(((a.id, a.article.body) for a in articles), "--results",
                              "--top", str(TOP), "--keywords", str(KEYWORDS))
    assert [r["id"] for r in reference] == [a.id for a in articles]
    report = {"parity": parity(articles, reference), "rouge": rouge_table(articles, reference)}
    print(f"Parity with textrank4zh 0.3 on {len(articles)} seed articles (top-{TOP} sentences):")
    for name, row in report["parity"].items():
        print(f"  {name:20s} same top-{TOP}: {row['same_top3']}/{row['articles']} "
              f"({row['top3_percent']:.1f}%), same order: {row['same_top3_order']}, "
              f"same top-{KEYWORDS} keywords: {row['same_keywords']}")
        if row["differs"]:
            print(f"    differs: {', '.join(row['differs'])}")
    n = next(iter(report["rouge"].values()))["articles"]
    print(f"\nCharacter ROUGE F1 (%) of {TOP} sentences vs headline + subtitle, {n} articles:")
    print(f"  {'method':20s} {'R-1':>6s} {'R-2':>6s} {'R-L':>6s}   (R-1 recall, characters picked)")
    for name, row in report["rouge"].items():
        print(f"  {name:20s} {row['R1']:6.2f} {row['R2']:6.2f} {row['RL']:6.2f}   "
              f"({row['R1_recall']:.2f}, {row['chars']})")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "parity.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
    ok = report["parity"]["textrank4zh mode"]["top3_percent"] >= 95
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
