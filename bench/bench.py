"""Speed of the rank stage and of starting the command: textrank4zh 0.3 vs ours vs the bare
tokeniser, on the seeds and on the dev papers, cold and warm.

    make bench                          # creates .venv-ref on first use
    .venv/bin/python bench/bench.py --quick     # fewer rounds, no compile timing

Article sets, each article (body, headline deck); ours tokenizes `deck + "\\n" + body` once,
so the bare tokeniser (`rjieba.tag`) is timed on exactly those strings:
- seeds: every article the parser finds in seeds/ (48);
- dev: the distinct articles of the dev papers (../shared/dev/issues, MANIFEST.jsonl: body =
  text[body_start:char_end], deck = pretitle title subtitle), words ours has never seen.

For each set, --processes fresh child processes each do: load the compiled code on a
sentence of their own, empty the lexicon, time one bare-tag pass, then **cold**: our first
pass over the set with that empty lexicon (every word new, as a user's first run meets
it), then **warm**: --rounds of (bare tag, ours) in alternation, each timed run right after
an untimed one of its own, then **kept**: a new ranker that loads the lexicon the first one
kept in the state folder (a user's second run), its first pass. Reported: the best of each over all processes, and the ratios
ours / bare tag. textrank4zh runs in .venv-ref (networkx<3), key sentences and keywords as
ours; on the dev set, at about 5 articles/s, it runs on an evenly spaced sample
(--ref-sample) and is compared by articles/s.

Start-up: wall time and peak RSS of `digest --help`, `--version`, `status` and a warm
`digest summarize` of one seed (best of --startup-runs), and the time numba takes to compile
the ranker's loops from nothing (into a temporary NUMBA_CACHE_DIR: the real cache is left
alone). Memory: the peak RSS of a fresh process streaming N articles. Writes
bench/results/bench.json as well.

Then, in the same run (not with --quick): bench/ingest_parallel.py (`digest ingest` of the
dev papers, one worker against one per core, --ingest-rounds alternating rounds) and
bench/year.py (`digest run` over a quarter, half and the whole of a year of a national
daily), and last a table of issue 13's targets against the figures. All of it takes 7-20
minutes on this 2-core VM (the reference venv made already).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable

from common import ROOT, repeated, run_reference, seed_articles

from digest.config import Config, PathsConfig, RankConfig, TextConfig
from digest.rank import WARM_UP_TEXT, Ranker, deck_of
from digest.text import make_tokenizer

RESULTS = ROOT / "bench" / "results"
DEV = ROOT.parent / "shared" / "dev" / "issues"
BIN = Path(sys.executable).parent
TIME = Path("/usr/bin/time")


def ranker(mode: str = "default", tokenizer: str = "rjieba") -> Ranker:
    return Ranker(dataclasses.replace(
        Config(), paths=PathsConfig(state=RESULTS), text=TextConfig(tokenizer=tokenizer),
        rank=RankConfig(mode=mode)))


def dev_articles() -> list[tuple[str, str | None]]:
    """The dev papers' articles as (body, deck), each distinct pair once (the e-paper prints
    a long piece twice: on the page where it starts and where it continues)."""
    texts: dict[str, str] = {}
    seen, out = set(), []
    for line in (DEV / "MANIFEST.jsonl").read_text("utf-8").splitlines():
        entry = json.loads(line)
        name = entry["issue_file"]
        if name not in texts:
            texts[name] = (DEV / name).read_text("utf-8")
        body = texts[name][entry["body_start"]:entry["char_end"]]
        deck = " ".join(p for p in (entry["pretitle"], entry["title"], entry["subtitle"])
                        if p) or None
        if (body, deck) not in seen:
            seen.add((body, deck))
            out.append((body, deck))
    return out


def article_set(name: str) -> list[tuple[str, str | None]]:
    if name == "seeds":
        return [(a.article.body, deck_of(a.article)) for a in seed_articles()]
    return dev_articles()


def tokenized_strings(items) -> list[str]:
    return [f"{' '.join(deck.split())}\n{body}" if deck else body for body, deck in items]


def discard(results: Iterable) -> None:
    """Drops each result as it comes, for ours and the bare tagger alike: keeping thousands
    of tag results alive makes the garbage collector rescan them, which once made the bare
    tagger look 1.6x slower than it is."""
    for _ in results:
        pass


def timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------------
# Cold and warm, in a fresh process


def timed_both(run) -> tuple[float, float]:
    """Wall and CPU seconds of one run. On a machine others share, wall time counts the
    waits for a core; this process's CPU time does not, so its ratios move less."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def child(name: str, rounds: int) -> None:
    """Runs in a fresh process: prints the timings ({"wall": {...}, "cpu": {...}}) as JSON."""
    items = article_set(name)
    strings = tokenized_strings(items)
    ours = ranker()
    tag = ours.engine.tokenizer.tag
    discard(ours.summarize_many([(WARM_UP_TEXT, None)]))  # compiled code loaded
    ours.engine.lexicon._reset()  # ...and the lexicon empty again: every word is new
    discard(map(tag, strings))
    runs = {"tag": [timed_both(lambda: discard(map(tag, strings)))],
            "cold": [timed_both(lambda: discard(ours.summarize_many(items)))], "ours": []}
    words = len(ours.engine.lexicon)
    for _ in range(rounds):  # more cold passes, the lexicon emptied before each
        discard(map(tag, strings))
        runs["tag"].append(timed_both(lambda: discard(map(tag, strings))))
        ours.engine.lexicon._reset()
        runs["cold"].append(timed_both(lambda: discard(ours.summarize_many(items))))
    for _ in range(rounds):
        discard(map(tag, strings))
        runs["tag"].append(timed_both(lambda: discard(map(tag, strings))))
        discard(ours.summarize_many(items))
        runs["ours"].append(timed_both(lambda: discard(ours.summarize_many(items))))
    # A run that starts from the lexicon a previous run kept in the state folder (a user's
    # second run over the same articles): a new ranker loads it, then its first pass.
    ours.engine.lexicon.keep()
    runs["kept"], runs["kept_load"] = [], []
    for _ in range(rounds):
        discard(map(tag, strings))
        runs["tag"].append(timed_both(lambda: discard(map(tag, strings))))
        again = ranker()
        again.engine.lexicon._reset()
        runs["kept_load"].append(timed_both(again.engine.lexicon._load_kept))
        runs["kept"].append(timed_both(lambda: discard(again.summarize_many(items))))
    print(json.dumps({clock: {k: [r[i] for r in v] for k, v in runs.items()}
                      for i, clock in enumerate(("wall", "cpu"))} | {"words": words}))


def cold_and_warm(name: str, processes: int, rounds: int) -> dict:
    runs = []
    for _ in range(processes):
        done = subprocess.run([sys.executable, __file__, "--child", name,
                               "--rounds", str(rounds)],
                              capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout.splitlines()[-1]))
    out = {"lexicon_words_after_cold_pass": runs[0]["words"]}
    for clock in ("wall", "cpu"):
        each = [r[clock] for r in runs]
        first = [r["cold"][0] / min(r["tag"]) for r in each]
        cold = [min(r["cold"]) / min(r["tag"]) for r in each]
        warm = [min(r["ours"]) / min(r["tag"]) for r in each]
        kept = [min(r["kept"]) / min(r["tag"]) for r in each]
        out[clock] = {"rjieba_tag_s": min(min(r["tag"]) for r in each),
                      "ours_cold_s": min(min(r["cold"]) for r in each),
                      "ours_warm_s": min(min(r["ours"]) for r in each),
                      "cold_vs_tag": statistics.median(cold),
                      "warm_vs_tag": statistics.median(warm),
                      "cold_vs_tag_each_process": cold,
                      "first_cold_pass_vs_tag_each_process": first,
                      "warm_vs_tag_each_process": warm,
                      "ours_kept_s": min(min(r["kept"]) for r in each),
                      "kept_vs_tag": statistics.median(kept),
                      "kept_vs_tag_each_process": kept,
                      "kept_lexicon_load_s": min(min(r["kept_load"]) for r in each)}
    return out


# ---------------------------------------------------------------------------------------------
# Start-up


def run_measured(args: list[str], env: dict, cwd: Path
                 ) -> tuple[float, float | None, float | None, int]:
    """Wall seconds, peak RSS (MiB), CPU seconds (None without /usr/bin/time) and exit
    status of one command. The RSS comes from /usr/bin/time, whose child it is: a child of this big
    process would inherit this process's peak across exec in ru_maxrss."""
    with tempfile.NamedTemporaryFile("r") as rss:
        wrap = ["/usr/bin/time", "-f", "%M %U %S", "-o", rss.name] if TIME.exists() else []
        start = time.perf_counter()
        done = subprocess.run([*wrap, *args], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=env, cwd=cwd, check=False)
        wall = time.perf_counter() - start
        text = rss.read().split()
    if not (wrap and len(text) >= 3):
        return wall, None, None, done.returncode
    return wall, int(text[-3]) / 1024, float(text[-2]) + float(text[-1]), done.returncode


def startup(runs: int) -> dict:
    seed = sorted((ROOT / "seeds").glob("*.txt"))[0]
    commands = {"digest --help": ["--help"], "digest --version": ["--version"],
                "digest status": ["status"],
                f"digest summarize seeds/{seed.name} (warm)": ["summarize", str(seed)]}
    out = {}
    with tempfile.TemporaryDirectory() as state:
        env = {**os.environ, "DIGEST_HOME": state}
        for label, args in commands.items():
            command = [str(BIN / "digest"), *args]
            run_measured(command, env, ROOT)  # untimed: files in the OS cache, numba's too
            results = [run_measured(command, env, ROOT) for _ in range(runs)]
            if any(code != 0 for *_, code in results):
                sys.exit(f"{label} failed")
            walls = [w for w, *_ in results]
            rss = [m for _, m, _, _ in results if m is not None]
            cpu = [c for _, _, c, _ in results if c is not None]
            out[label] = {"best_s": min(walls), "median_s": statistics.median(walls),
                          "peak_rss_mib": max(rss) if rss else None,
                          "best_cpu_s": min(cpu) if cpu else None}
    return out


def compile_seconds() -> dict:
    """numba compiling every loop from nothing, in a fresh process (CPU and wall)."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        code = ("import resource, time; from digest.rank import compile_loops; "
                "s = compile_loops(); u = resource.getrusage(resource.RUSAGE_SELF); "
                "print(s, u.ru_utime + u.ru_stime)")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=env, check=True)
        wall, cpu = map(float, done.stdout.split())
    return {"wall_s": wall, "cpu_s_whole_process": cpu}


# ---------------------------------------------------------------------------------------------
# Memory


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


# ---------------------------------------------------------------------------------------------


def reference(items, sample: int | None) -> dict:
    """textrank4zh on the set, or on `sample` evenly spaced articles of it."""
    chosen = items if sample is None or sample >= len(items) else \
        [items[i * len(items) // sample] for i in range(sample)]
    result = run_reference(((str(i), body) for i, (body, _) in enumerate(chosen)), "--time")[0]
    return {"articles": len(chosen), "seconds": result["seconds"],
            "sentences_only_s": result["sentences_seconds"],
            "articles_per_s": len(chosen) / result["seconds"],
            "sampled": len(chosen) < len(items)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ref-sample", type=int, default=100,
                        help="dev articles textrank4zh ranks (evenly spaced)")
    parser.add_argument("--startup-runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true",
                        help="1 process, 2 rounds, no compile timing, no memory probe, no "
                             "ingest or year benchmark")
    parser.add_argument("--ingest-rounds", type=int, default=3,
                        help="rounds of bench/ingest_parallel.py (0: skip it)")
    parser.add_argument("--no-year", action="store_true", help="skip bench/year.py")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--memory-probe", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rounds)
        return
    if args.memory_probe:
        memory_probe(args.memory_probe)
        return
    if args.quick:
        args.processes, args.rounds, args.startup_runs = 1, 2, 3

    load = os.getloadavg()
    report: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                               f"{platform.python_version()}",
                    "load_average_at_start": load, "sets": {}}
    print(f"{report['machine']}; load average {load[0]:.1f} at start "
          f"(other work on the machine moves every figure)", flush=True)

    names = ["seeds", "dev"]
    if not (DEV / "MANIFEST.jsonl").is_file():
        print(f"{DEV} is missing: the dev papers' figures are left out")
        names.remove("dev")
    for name in names:
        items = article_set(name)
        strings = tokenized_strings(items)
        chars = sum(map(len, strings))
        print(f"\n{name}: {len(items)} articles, {chars} characters", flush=True)
        row = {"articles": len(items), "characters": chars,
               **cold_and_warm(name, args.processes, args.rounds)}
        row["textrank4zh"] = reference(items, None if name == "seeds" else args.ref_sample)
        if name == "seeds":
            posseg = make_tokenizer(TextConfig(tokenizer="jieba"), RESULTS / "cache").tag
            posseg(strings[0])
            row["jieba_posseg_s"] = timed(lambda: discard(map(posseg, strings)))
            ours_t4 = ranker("textrank4zh")
            discard(ours_t4.summarize_many(items[:2]))
            row["ours_textrank4zh_mode_s"] = timed(lambda: discard(ours_t4.summarize_many(items)))
        n = len(items)
        ref = row["textrank4zh"]
        wall = row["wall"]
        row["ours_warm_vs_textrank4zh_articles_per_s"] = n / wall["ours_warm_s"] / \
            ref["articles_per_s"]
        row["ours_cold_vs_textrank4zh_articles_per_s"] = n / wall["ours_cold_s"] / \
            ref["articles_per_s"]
        report["sets"][name] = row
        what = (f"all {ref['articles']}" if not ref["sampled"] else
                f"a sample of {ref['articles']} evenly spaced articles")
        print(f"  textrank4zh 0.3        {ref['articles_per_s']:9.1f} articles/s "
              f"({ref['seconds']:.2f} s on {what}; key sentences only "
              f"{ref['sentences_only_s']:.2f} s)")
        if "ours_textrank4zh_mode_s" in row:
            print(f"  ours, textrank4zh mode {n / row['ours_textrank4zh_mode_s']:9.1f} "
                  f"articles/s ({row['ours_textrank4zh_mode_s']:.3f} s)")
            print(f"  bare jieba.posseg      {n / row['jieba_posseg_s']:9.1f} articles/s "
                  f"({row['jieba_posseg_s']:.3f} s)")
        for clock in ("wall", "cpu"):
            f = row[clock]
            print(f"  {clock} time:")
            print(f"    bare rjieba.tag      {n / f['rjieba_tag_s']:9.1f} articles/s "
                  f"({f['rjieba_tag_s']:.4f} s)")
            print(f"    ours, cold           {n / f['ours_cold_s']:9.1f} articles/s "
                  f"({f['ours_cold_s']:.4f} s): {f['cold_vs_tag']:.2f}x bare tag (each "
                  f"process: {', '.join(f'{r:.2f}' for r in f['cold_vs_tag_each_process'])}"
                  f"; the process's first pass: "
                  f"{', '.join(f'{r:.2f}' for r in f['first_cold_pass_vs_tag_each_process'])})")
            print(f"    ours, warm           {n / f['ours_warm_s']:9.1f} articles/s "
                  f"({f['ours_warm_s']:.4f} s): {f['warm_vs_tag']:.2f}x bare tag (each "
                  f"process: {', '.join(f'{r:.2f}' for r in f['warm_vs_tag_each_process'])})")
            print(f"    ours, kept lexicon   {n / f['ours_kept_s']:9.1f} articles/s "
                  f"({f['ours_kept_s']:.4f} s): {f['kept_vs_tag']:.2f}x bare tag (each "
                  f"process: {', '.join(f'{r:.2f}' for r in f['kept_vs_tag_each_process'])}"
                  f"; loading it {f['kept_lexicon_load_s']:.3f} s)")
        print(f"  ratios: the median over processes of each one's best ours / its best bare "
              f"tag; cold: a pass with an empty lexicon (every word new: "
              f"{row['lexicon_words_after_cold_pass']} learnt)")
        print(f"  ours vs textrank4zh (articles/s, wall): cold "
              f"{row['ours_cold_vs_textrank4zh_articles_per_s']:.0f}x, warm "
              f"{row['ours_warm_vs_textrank4zh_articles_per_s']:.0f}x", flush=True)

    print("\nstart-up (wall, best and median of "
          f"{args.startup_runs}, after one untimed run; best user+system CPU; peak RSS):",
          flush=True)
    report["startup"] = startup(args.startup_runs)
    for label, figures in report["startup"].items():
        rss, cpu = figures["peak_rss_mib"], figures["best_cpu_s"]
        print(f"  {label:52s} {figures['best_s']:6.3f} s (median {figures['median_s']:.3f})"
              + (f", CPU {cpu:.2f} s, {rss:4.0f} MiB" if rss else ""), flush=True)
    if not args.quick:
        report["compile"] = compile_seconds()
        print(f"  numba compiling the ranker's loops from nothing: "
              f"{report['compile']['wall_s']:.1f} s wall, "
              f"{report['compile']['cpu_s_whole_process']:.1f} s CPU for the whole process "
              f"(done by make's install step; cached in digest/rank/__pycache__)", flush=True)
        counts = [1000, 10000, 40000]
        report["peak_rss_mib"] = {str(c): peak_rss_mib(c) for c in counts}
        print("\npeak RSS streaming N seed articles (fresh process): " + ", ".join(
            f"{c}: {m} MiB" for c, m in report["peak_rss_mib"].items()))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench.json").write_text(json.dumps(report, indent=2))
    if not args.quick:
        pipeline_benchmarks(args.ingest_rounds, not args.no_year)
    print_targets(report)


def pipeline_benchmarks(ingest_rounds: int, year: bool) -> None:
    """The end-to-end figures, in this run: ingest serial against parallel
    (bench/ingest_parallel.py) and the year (bench/year.py: a quarter, half, the whole)."""
    scripts = []
    if ingest_rounds > 0:
        scripts.append(("ingest_parallel.py", ["--rounds", str(ingest_rounds)]))
    if year:
        scripts.append(("year.py", []))
    for script, extra in scripts:
        print(f"\n== bench/{script} {' '.join(extra)}", flush=True)
        subprocess.run([sys.executable, str(ROOT / "bench" / script), *extra], check=True)


def _latest(name: str):
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def print_targets(report: dict) -> None:
    """Issue 13's targets against this run's figures (and the ingest and year figures of
    the latest runs of their scripts, with the time they started)."""
    rows: list[tuple[str, str, str, bool | None]] = []
    dev = report["sets"].get("dev", {}).get("wall")
    if dev:
        rows.append(("ranking, dev papers, cold (x bare tag)", "<= 1.5",
                     f"{dev['cold_vs_tag']:.2f}", dev["cold_vs_tag"] <= 1.5))
        rows.append(("ranking, dev papers, warm (x bare tag)", "<= 1.2",
                     f"{dev['warm_vs_tag']:.2f}", dev["warm_vs_tag"] <= 1.2))
    for label, figures in report["startup"].items():
        limit = 1.0 if "summarize" in label else 0.2
        rows.append((label.split(" seeds/")[0]
                     + (" (one seed, warm)" if "summarize" in label else ""),
                     f"<= {limit} s", f"{figures['best_s']:.3f} s", figures["best_s"] <= limit))
    if "compile" in report:
        rows.append(("compiling the loops (in make's install step)", "<= 5 s, or at install",
                     f"{report['compile']['wall_s']:.1f} s", None))
    ingest = _latest("ingest_parallel.json")
    if ingest:
        for name, figures in ingest["inputs"].items():
            rows.append((f"ingest, {name}, 2 workers (x serial)", ">= 1.8",
                         f"best {figures['speedup_best']:.2f}, median "
                         f"{figures['speedup_median']:.2f}", figures["speedup_best"] >= 1.8))
    year = _latest("year.json")
    for run in year or ():
        rows.append((f"year, {run['weeks']} weeks, {run['articles']:,} articles "
                     f"({run['started_at'][:16]})", "<= 60 s (52 weeks)",
                     f"{run['wall_s']:.1f} s, peak RSS {run['peak_rss_all_mib']:.0f} MiB",
                     run["wall_s"] <= 60 if run["weeks"] == 52 else None))
    print("\ntargets (issue 13):")
    for figure, target, measured, met in rows:
        verdict = "" if met is None else "met" if met else "NOT met"
        print(f"  {figure:58s} {target:22s} {measured:32s} {verdict}")


if __name__ == "__main__":
    main()
