"""A year of a national daily in a minute: `digest run` from empty state to every weekly digest.

Makes a year of issues from the dev papers (`../shared/dev/issues`, 55 issues of two papers,
1,440 articles by the manifest): the issues cycled 25 times (~36,000 articles, 1,375
files, ~275 MB), spread evenly over 52 ISO weeks that have all ended (the year ends two weeks
before this one, so every digest is due without a clock trick). Each copy is moved to its
new day: every full date (2026年4月28日, masthead and page headers), every month-day date
(datelines: 新华社北京4月28日电), and the file's modification time (the date of an issue
with no printed date). Each copy is made distinct by a changed number in every paragraph
that has one (not a date, page or issue number), so no two files have the same bytes.

The files go into the inbox of a fresh config and state folder (email off, stable_seconds 0),
then `digest run` is timed in a subprocess while the RSS and PSS of it and its workers are
sampled.
By default three runs from empty state: a quarter (13 weeks), half (26) and the whole year
(52), for the peak memory at each size. Where the time goes is read from the database's own
timestamps (inbox log, built weeks).

    .venv/bin/python bench/year.py                 # 13, 26 and 52 weeks
    .venv/bin/python bench/year.py --weeks 52      # one size
    .venv/bin/python bench/year.py --weeks 4 --keep /tmp/year   # keep the folder to look at

Results go to bench/results/year.json as well.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "dev" / "issues"
if not DEV.is_dir():
    DEV = Path("/work/shared/dev/issues")
DIGEST = ROOT / ".venv" / "bin" / "digest"
SHANGHAI = ZoneInfo("Asia/Shanghai")
CYCLES_PER_YEAR = 25  # 25 x 1,440 manifest articles = 36,000: a national daily's year

FULL_DATE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
MONTH_DAY = re.compile(r"(?<![\d年])(\d{1,2})月(\d{1,2})日")
# A number that is not part of a date, a page or an issue number: the one a copy changes.
NUMBER = re.compile(r"(?<![\d.年月第])(\d{1,4})(?![\d.年月日版期号])")


def issue_date(path: Path) -> dt.date:
    stamp = re.search(r"_(\d{8})", path.name).group(1)
    return dt.date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:]))


def shift_dates(text: str, delta: dt.timedelta, year: int) -> str:
    def full(m: re.Match) -> str:
        try:
            day = dt.date(int(m[1]), int(m[2]), int(m[3])) + delta
        except ValueError:
            return m[0]
        return f"{day.year}年{day.month}月{day.day}日"

    def month_day(m: re.Match) -> str:
        try:
            day = dt.date(year, int(m[1]), int(m[2])) + delta
        except ValueError:
            return m[0]
        return f"{day.month}月{day.day}日"

    return MONTH_DAY.sub(month_day, FULL_DATE.sub(full, text))


def make_distinct(text: str, copy: int) -> str:
    """Change the first free-standing number of every long line by the copy's number."""
    if copy == 0:
        return text
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if len(line) >= 40:
            lines[i] = NUMBER.sub(lambda m: str(int(m[1]) + copy), line, count=1)
    return "\n".join(lines)


def year_start(today: dt.date) -> dt.date:
    """Monday of the first of 52 weeks that end two weeks before this week."""
    this_monday = today - dt.timedelta(days=today.weekday())
    return this_monday - dt.timedelta(weeks=2 + 52)


def make_year(inbox: Path, weeks: int, today: dt.date) -> dict:
    """Write the issues of `weeks` weeks (of the year's 52) into `inbox`; returns counts."""
    sources = sorted(DEV.glob("*.txt"))
    texts = {p: p.read_text(encoding="utf-8") for p in sources}
    total = len(sources) * CYCLES_PER_YEAR  # files in a whole year
    files = round(total * weeks / 52)
    start = year_start(today) + dt.timedelta(days=2)  # Wednesdays: datelines of the days
    days = weeks * 7 - 2                               # before stay inside the first week
    seen: set[str] = set()
    size = 0
    for n in range(files):
        source = sources[n % len(sources)]
        copy = n // len(sources)
        target = start + dt.timedelta(days=n * days // files)
        delta = target - issue_date(source)
        text = make_distinct(shift_dates(texts[source], delta, issue_date(source).year), copy)
        data = text.encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen:
            raise SystemExit(f"copy {copy} of {source.name} is not distinct")
        seen.add(digest)
        paper = source.name.split("_")[0]
        path = inbox / f"{paper}_{target:%Y%m%d}_{n:04d}.txt"
        path.write_bytes(data)
        noon = dt.datetime.combine(target, dt.time(12), tzinfo=SHANGHAI).timestamp()
        os.utime(path, (noon, noon))
        size += len(data)
    first = year_start(today)
    return {"files": files, "bytes": size, "first_day": str(first),
            "last_day": str(first + dt.timedelta(weeks=weeks, days=-1))}


def write_config(folder: Path, workers: int | None) -> Path:
    config = folder / "config.toml"
    ingest = f"[ingest]\nworkers = {workers}\n\n" if workers is not None else ""
    config.write_text(
        "[paths]\n"
        'inbox = "inbox"\narchive = "archive"\nfailed = "failed"\noutput = "out"\n'
        'state = "state"\n\n' + ingest +
        "[schedule]\nstable_seconds = 0\n\n[email]\nenabled = false\n", encoding="utf-8")
    return config


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants (children by /proc), those still alive."""
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as fh:
                    stack += [int(c) for c in fh.read().split()]
        except OSError:
            pass
    return found


def _proc_kib(path: str, field: str) -> int:
    """The KiB figure of `field` in a /proc file (0 if the process is gone)."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_pss(root: int) -> int:
    """PSS of `root` and all its descendants, in KiB: pages shared by forked workers counted
    once among them, where RSS counts them in each."""
    return sum(_proc_kib(f"/proc/{pid}/smaps_rollup", "Pss:") for pid in process_tree(root))


def tree_rss(root: int) -> tuple[int, int]:
    """(RSS of `root`, RSS of `root` and all its descendants), in KiB, from /proc."""
    own = _proc_kib(f"/proc/{root}/status", "VmRSS:")
    return own, sum(_proc_kib(f"/proc/{pid}/status", "VmRSS:") for pid in process_tree(root))


def own_cpu(pid: int) -> float:
    """CPU seconds (user + system) `pid` itself has used so far, from /proc (0 if gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_run(config: Path, profile: Path | None = None) -> dict:
    """`digest run` in a subprocess: wall time, peak RSS of the main process and of the
    whole tree (main + workers, sampled every 50 ms)."""
    env = dict(os.environ)
    env.pop("DIGEST_HOME", None)
    command = [str(DIGEST), "--config", str(config), "run"]
    if profile is not None:  # the main process only; the workers' time shows as waiting
        command = [sys.executable, "-m", "cProfile", "-o", str(profile)] + command
    started_at = dt.datetime.now(dt.timezone.utc)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak_main = peak_tree = 0
    main_cpu = 0.0
    peak_pss = samples = 0
    while proc.poll() is None:
        own, total = tree_rss(proc.pid)
        peak_main, peak_tree = max(peak_main, own), max(peak_tree, total)
        if samples % 10 == 0:  # every 0.5 s: reading smaps costs more than status
            peak_pss = max(peak_pss, tree_pss(proc.pid))
        samples += 1
        main_cpu = max(main_cpu, own_cpu(proc.pid))  # to 50 ms before it exits
        time.sleep(0.05)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the run and its workers
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stderr = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"digest run exited {proc.returncode}:\n{stderr[-3000:]}")
    return {"started_at": started_at.isoformat(), "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 1), "cpu_main_s": round(main_cpu, 1),
            "cpu_per_wall": round(cpu / wall, 2),
            "peak_rss_main_mib": round(peak_main / 1024, 1),
            "peak_rss_all_mib": round(peak_tree / 1024, 1),
            "peak_pss_all_mib": round(peak_pss / 1024, 1), "stderr_tail": stderr[-500:]}


def phases(state: Path, started_at: str, wall: float, made: dict) -> dict:
    """Where the time went, from the database's own timestamps (1 s resolution): start-up
    until the first file is done (imports, the workers loading their rankers), the inbox,
    building the weeks, and the rest (index, feed, exit). Also which weeks the articles
    landed in: an issue without a masthead date is put in the week of its newest dateline
    (store.file_date_of), which can lie outside the weeks its files were made for."""
    conn = sqlite3.connect(state / "digest.db")
    one = lambda sql: conn.execute(sql).fetchone()  # noqa: E731
    first_in, last_in, outcomes = one(
        "SELECT min(at), max(at), count(*) FROM inbox_log")
    first_built, last_built, weeks = one(
        "SELECT min(built_at), max(built_at), count(*) FROM service_weeks")
    articles, = one("SELECT count(*) FROM articles")
    issues, = one("SELECT count(*) FROM issues")
    biggest, = one("SELECT max(n) FROM (SELECT count(*) AS n FROM articles GROUP BY week)")
    failed, = one("SELECT count(*) FROM inbox_log WHERE outcome != 'ingested'")
    undated, = one("SELECT count(*) FROM issues WHERE issue_date IS NULL")
    first_week = "%d-W%02d" % dt.date.fromisoformat(made["first_day"]).isocalendar()[:2]
    last_week = "%d-W%02d" % dt.date.fromisoformat(made["last_day"]).isocalendar()[:2]
    outside = [row[0] for row in conn.execute(
        "SELECT DISTINCT week FROM articles WHERE week < ? OR week > ? ORDER BY week",
        (first_week, last_week))]
    with_articles, = one("SELECT count(DISTINCT week) FROM articles")
    conn.close()
    moment = dt.datetime.fromisoformat
    start = moment(started_at)
    seconds = lambda a, b: round((moment(b) - moment(a)).total_seconds())  # noqa: E731
    return {
        "issues": issues, "articles": articles, "weeks_built": weeks,
        "weeks_with_articles": with_articles, "weeks_outside_the_year": outside,
        "issues_without_masthead_date": undated,
        "largest_week_articles": biggest, "not_ingested": failed, "inbox_outcomes": outcomes,
        "until_first_file_s": round((moment(first_in) - start).total_seconds()),
        "ingest_s": seconds(first_in, last_in), "build_s": seconds(last_in, last_built),
        "after_build_s": round(wall - (moment(last_built) - start).total_seconds()),
    }


def warm_up() -> None:
    """One summarize, untimed: numba compiles the ranker's loops once after installing
    (cached next to the code); that is the install's cost, not a run's."""
    seed = sorted((ROOT / "seeds").glob("*.txt"))[0]
    subprocess.run([str(DIGEST), "summarize", str(seed)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weeks", type=int, action="append",
                        help="weeks to make and run (repeatable; default 13, 26 and 52)")
    parser.add_argument("--workers", type=int, default=None,
                        help="[ingest].workers for the run (default: the config's default)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="make the folders here and keep them (default: a temp folder)")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the main process; prints the top functions")
    args = parser.parse_args()
    today = dt.datetime.now(SHANGHAI).date()
    warm_up()
    results = []
    for weeks in args.weeks or [13, 26, 52]:
        base = args.keep or Path(tempfile.mkdtemp(prefix="digest-year-"))
        folder = base / f"weeks-{weeks}"
        if folder.exists():
            shutil.rmtree(folder)
        (folder / "inbox").mkdir(parents=True)
        made_at = time.perf_counter()
        made = make_year(folder / "inbox", weeks, today)
        made["make_s"] = round(time.perf_counter() - made_at, 1)
        config = write_config(folder, args.workers)
        profile = folder / "main.prof" if args.profile else None
        run = timed_run(config, profile)
        found = phases(folder / "state", run["started_at"], run["wall_s"], made)
        result = {"weeks": weeks, **made, **run, **found,
                  "articles_per_s": round(found["articles"] / run["wall_s"], 1),
                  "cpus": len(os.sched_getaffinity(0)), "load_avg_after": os.getloadavg()}
        results.append(result)
        print(json.dumps({k: v for k, v in result.items() if k != "stderr_tail"},
                         ensure_ascii=False), flush=True)
        if profile is not None:
            import pstats

            pstats.Stats(str(profile)).sort_stats("cumulative").print_stats(25)
        if args.keep is None:
            shutil.rmtree(base)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "year.json").write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n",
                                   encoding="utf-8")


if __name__ == "__main__":
    main()
