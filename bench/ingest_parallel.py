"""Ingest on every core: `digest ingest` of the dev papers, one worker against one per core.

Each round runs, in alternation, `digest ingest` with `[ingest].workers = 1` (everything in
one process, as before) and with one worker per core, each from an empty state folder in a
fresh process, so every figure includes starting up (imports, loading the tokenizer in each
worker) and a cold ranker lexicon. Articles/s is the articles stored over the command's wall
time. Two inputs: the 55 dev issues as they are, and `--copies` distinct copies of them
(bench/year.py's copies: dates moved, numbers changed), where start-up weighs less.

The machine's other load is printed with each run (load average, and the CPU time the
command got over its wall time): on a shared machine a parallel run can only be as fast as
the cores it is given.

    .venv/bin/python bench/ingest_parallel.py [--rounds 3] [--copies 4] [--workers N]

Results go to bench/results/ingest_parallel.json as well.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import year

ROOT = Path(__file__).resolve().parents[1]
DIGEST = ROOT / ".venv" / "bin" / "digest"


def copies(folder: Path, count: int) -> Path:
    """`count` distinct copies of the dev issues, each moved by a whole number of weeks."""
    folder.mkdir(parents=True, exist_ok=True)
    for copy in range(count):
        for source in sorted(year.DEV.glob("*.txt")):
            delta = dt.timedelta(weeks=17 * copy)
            text = year.make_distinct(year.shift_dates(
                source.read_text(encoding="utf-8"), delta, year.issue_date(source).year), copy)
            (folder / f"{copy:02d}_{source.name}").write_text(text, encoding="utf-8")
    return folder


def run(inputs: Path, workers: int, base: Path) -> dict:
    state = base / f"state-{workers}-{time.monotonic_ns()}"
    config = base / f"config-{workers}.toml"
    config.write_text(f'[paths]\nstate = "{state}"\n\n[ingest]\nworkers = {workers}\n',
                      encoding="utf-8")
    env = dict(os.environ)
    env.pop("DIGEST_HOME", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.run([str(DIGEST), "--config", str(config), "ingest", str(inputs)],
                          env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"digest ingest failed:\n{proc.stderr[-2000:]}")
    articles = sum(int(n) for n in re.findall(r": stored (\d+) articles", proc.stdout))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    shutil.rmtree(state, ignore_errors=True)
    return {"workers": workers, "wall_s": round(wall, 2), "articles": articles,
            "articles_per_s": round(articles / wall, 1), "cpu_s": round(cpu, 2),
            "cpu_per_wall": round(cpu / wall, 2), "load_before": round(load, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="digest-ingest-bench-"))
    inputs = {"dev papers (55 issues)": year.DEV}
    if args.copies > 1:
        inputs[f"dev papers x{args.copies} ({55 * args.copies} issues)"] = copies(
            base / "copies", args.copies)
    # One untimed run first: numba's cache is compiled once after installing.
    run(year.DEV, 1, base)
    report = {"cpus": len(os.sched_getaffinity(0)), "inputs": {}}
    try:
        for name, folder in inputs.items():
            runs: dict[int, list[dict]] = {1: [], args.workers: []}
            for _ in range(args.rounds):
                for workers in (1, args.workers):
                    result = run(folder, workers, base)
                    runs[workers].append(result)
                    print(f"{name}: workers={workers}: {result}", flush=True)
            serial = [r["articles_per_s"] for r in runs[1]]
            parallel = [r["articles_per_s"] for r in runs[args.workers]]
            summary = {
                "serial_articles_per_s": serial, "parallel_articles_per_s": parallel,
                "speedup_best": round(max(parallel) / max(serial), 2),
                "speedup_median": round(statistics.median(parallel)
                                        / statistics.median(serial), 2),
                "runs": runs}
            report["inputs"][name] = summary
            print(f"{name}: serial {serial} articles/s, {args.workers} workers {parallel}: "
                  f"best {summary['speedup_best']}x, median {summary['speedup_median']}x",
                  flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ingest_parallel.json").write_text(json.dumps(report, indent=1) + "\n",
                                              encoding="utf-8")


if __name__ == "__main__":
    main()
