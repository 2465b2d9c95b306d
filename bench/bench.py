"""Speed of the rank stage: textrank4zh 0.3 vs ours vs the bare tokeniser, same articles.

    make bench                          # creates .venv-ref on first use
    .venv/bin/python bench/bench.py --articles 500    # a quicker run

Articles: every article the parser finds in seeds/ (48), and the same cycled to --articles
(default 2000). Each article is (body, headline deck); ours tokenizes `deck + "\\n" + body`
once, so the bare tokeniser is timed on exactly those strings. textrank4zh runs in .venv-ref
(networkx<3) and ranks sentences and keywords, as ours does. Our timings are the best of
--rounds runs (more for a small set, so each side runs ~1000 articles in all), alternating
with the bare tokeniser, each timed run right after an untimed
one of its own (so neither pays for the heap the other left), after a warm-up pass
(lexicon, dictionaries and compiled code loaded). Memory: the peak RSS
of a fresh process streaming N articles through Ranker.summarize_many, for growing N.
Writes bench/results/bench.json as well.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable

from common import ROOT, repeated, run_reference, seed_articles

from digest.config import Config, PathsConfig, RankConfig, TextConfig
from digest.rank import Ranker, deck_of
from digest.text import make_tokenizer

RESULTS = ROOT / "bench" / "results"


def ranker(mode: str = "default", tokenizer: str = "rjieba") -> Ranker:
    return Ranker(dataclasses.replace(
        Config(), paths=PathsConfig(state=RESULTS), text=TextConfig(tokenizer=tokenizer),
        rank=RankConfig(mode=mode)))


def best_time(run, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def discard(results: Iterable) -> None:
    for _ in results:
        pass


def time_ours_and_tag(items, strings, rounds: int) -> tuple[float, float]:
    """Best times of ours (default mode) and of bare rjieba.tag on the same strings, measured
    in alternation so that a busy moment of the machine hits both alike. Both drop each
    result as it comes: keeping 2000 tag results alive makes Python's garbage collector scan
    them again and again, which made the bare tagger look 1.6x slower than it is."""
    ours = ranker()
    tag = make_tokenizer(TextConfig(tokenizer="rjieba"), RESULTS / "cache").tag
    discard(ours.summarize_many(items[:48]))  # warm-up: dictionaries, lexicon, compiled code
    discard(map(tag, strings[:48]))
    best_ours = best_tag = float("inf")
    for _ in range(rounds):
        discard(map(tag, strings))
        best_tag = min(best_tag, best_time(lambda: discard(map(tag, strings)), 1))
        discard(ours.summarize_many(items))
        best_ours = min(best_ours, best_time(lambda: discard(ours.summarize_many(items)), 1))
    return best_ours, best_tag


def time_once(items, mode: str) -> float:
    ours = ranker(mode)
    discard(ours.summarize_many(items[:2]))
    return best_time(lambda: discard(ours.summarize_many(items)), 1)


def time_posseg(strings) -> float:
    tag = make_tokenizer(TextConfig(tokenizer="jieba"), RESULTS / "cache").tag
    tag(strings[0])
    return best_time(lambda: discard(map(tag, strings)), 1)


def memory_probe(count: int) -> None:
    """Child process: stream `count` articles through the default ranker, print peak RSS."""
    items = [(a.article.body, deck_of(a.article)) for a in seed_articles()]
    ours = ranker()
    for _ in ours.summarize_many(repeated(items, count)):
        pass
    # VmHWM, not ru_maxrss: the latter keeps the peak of the forked parent across exec.
    status = Path("/proc/self/status").read_text()
    print(int(status.split("VmHWM:")[1].split()[0]) // 1024)


def peak_rss_mib(count: int) -> int:
    done = subprocess.run([sys.executable, __file__, "--memory-probe", str(count)],
                          capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--memory-probe", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        memory_probe(args.memory_probe)
        return

    seeds = [(a.article.body, deck_of(a.article)) for a in seed_articles()]
    sets = {"seeds": seeds, f"seeds x{args.articles / len(seeds):.0f}":
            list(repeated(seeds, args.articles))}
    report: dict = {"machine": f"{platform.machine()}, {platform.python_version()}",
                    "sets": {}}
    for name, items in sets.items():
        strings = [f"{' '.join(deck.split())}\n{body}" if deck else body for body, deck in items]
        print(f"{name}: {len(items)} articles, {sum(map(len, strings))} characters", flush=True)
        reference = run_reference(((str(i), body) for i, (body, _) in enumerate(items)),
                                  "--time")[0]
        row = {"articles": len(items), "characters": sum(map(len, strings)),
               "textrank4zh_s": reference["seconds"],
               "textrank4zh_sentences_only_s": reference["sentences_seconds"],
               }
        # A run over the 48 seeds takes a few milliseconds: more rounds for a steady best.
        rounds = max(args.rounds, args.rounds * 1000 // len(items))
        row["ours_s"], row["rjieba_tag_s"] = time_ours_and_tag(items, strings, rounds)
        if name == "seeds":
            row["ours_textrank4zh_mode_s"] = time_once(items, "textrank4zh")
            row["jieba_posseg_s"] = time_posseg(strings)
        n = len(items)
        row["articles_per_s"] = {"textrank4zh": n / row["textrank4zh_s"],
                                 "ours": n / row["ours_s"]}
        row["ours_vs_textrank4zh"] = row["textrank4zh_s"] / row["ours_s"]
        row["ours_vs_rjieba_tag"] = row["ours_s"] / row["rjieba_tag_s"]
        report["sets"][name] = row
        print(f"  textrank4zh 0.3        {row['textrank4zh_s']:8.3f} s "
              f"{n / row['textrank4zh_s']:9.1f} articles/s "
              f"(key sentences only: {row['textrank4zh_sentences_only_s']:.3f} s)")
        if "ours_textrank4zh_mode_s" in row:
            print(f"  ours, textrank4zh mode {row['ours_textrank4zh_mode_s']:8.3f} s "
                  f"{n / row['ours_textrank4zh_mode_s']:9.1f} articles/s")
            print(f"  bare jieba.posseg      {row['jieba_posseg_s']:8.3f} s")
        print(f"  ours (default)         {row['ours_s']:8.3f} s "
              f"{n / row['ours_s']:9.1f} articles/s")
        print(f"  bare rjieba.tag        {row['rjieba_tag_s']:8.3f} s")
        print(f"  ours vs textrank4zh: {row['ours_vs_textrank4zh']:.0f}x the articles/s; "
              f"ours / bare rjieba.tag time: {row['ours_vs_rjieba_tag']:.2f}", flush=True)

    counts = [1000, 10000, 40000]
    report["peak_rss_mib"] = {str(c): peak_rss_mib(c) for c in counts}
    print("peak RSS streaming N articles (fresh process): " + ", ".join(
        f"{c}: {m} MiB" for c, m in report["peak_rss_mib"].items()))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
