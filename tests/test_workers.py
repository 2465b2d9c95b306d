"""Ingest on every core: the pool's results are a serial run's, stores compared whole.

Real worker processes (forked, sharing the parent's Ranker, or spawned, each with its own), real SQLite files, real folders.
Inputs: the seeds, a few dev-paper issues (../shared/dev, when present), a copy of one file
and a binary one, so skipped and failed files are in the same ordered stream.
"""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

import pytest

from digest import pipeline
from digest import workers as workers_module
from digest.ingest import CLAIM_DIR, StabilityTracker, process_inbox
from digest.schedule import store_ingestor
from digest.store import open_store
from digest.workers import Preparer, WorkerError, prepare_file

from .conftest import ROOT, SEEDS
from .service_support import write_config

DEV = ROOT.parent / "shared" / "dev" / "issues"
# One issue of each layout and paper (epaper, blank, markdown), when the dev data is here.
DEV_FILES = [DEV / name for name in ("xhmrdx_20260427.txt", "xhmrdx_20260428.txt",
                                     "xxsb_20260429.txt", "xxsb_20260501.txt")
             if (DEV / name).is_file()]
TABLES = {"issues": "id, sha256, source, paper, issue_date, issue_number, encoding, "
                    "file_mtime, file_date",  # all but ingested_at, the clock's
          "articles": "*", "key_sentences": "*", "keywords": "*",
          "keyword_candidates": "*", "term_df": "*", "term_documents": "*"}


@pytest.fixture(autouse=True)
def _own_states(monkeypatch):
    """Each config here names its own state folder; $DIGEST_HOME would make them one."""
    monkeypatch.delenv("DIGEST_HOME", raising=False)


def inputs(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for n, source in enumerate(sorted(SEEDS.glob("*.txt")) + DEV_FILES):
        path = folder / f"{n:02d}_{source.name}"
        path.write_bytes(source.read_bytes())
        os.utime(path, (1_700_000_000 + n * 86400,) * 2)  # undated issues: the file's date
        files.append(path)
    copy = folder / "99_copy.txt"
    copy.write_bytes(files[1].read_bytes())
    os.utime(copy, (1_700_000_000,) * 2)
    binary = folder / "50_photo.txt"
    binary.write_bytes(bytes(range(256)) * 16)
    return sorted(files + [copy, binary])


def dump(db: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(db)
    try:
        return {table: conn.execute(f"SELECT {columns} FROM {table} ORDER BY 1").fetchall()
                for table, columns in TABLES.items()}
    finally:
        conn.close()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_parallel_ingest_stores_exactly_what_a_serial_one_does(tmp_path, monkeypatch, method):
    """Workers forked from this process (sharing its ranker) or spawned (each loading its
    own): either way, the serial run's store."""
    monkeypatch.setattr(workers_module, "can_fork", lambda: method == "fork")
    started = []
    real_start = workers_module.Preparer._start_pool
    monkeypatch.setattr(workers_module.Preparer, "_start_pool", lambda self, for_files, *a: (
        started.append(for_files) or real_start(self, for_files, *a)))
    heads = record_head_starts(monkeypatch)
    files = inputs(tmp_path / "in")
    stores = {}
    for workers in (1, 2):
        config = write_config(tmp_path / f"w{workers}")
        results = pipeline.ingest_paths(config, files, workers=workers)
        if workers == 2:
            assert started == [True]
            # forked: the head start took every file (the binary one too) and parsed some
            assert heads == ([(len(files), heads[0][1])] if method == "fork" else [])
            assert method == "spawn" or heads[0][1] > 0
        stores[workers] = (dump(Path(config.paths.state) / "digest.db"),
                           [(r.path.name, r.status, r.issue_id, r.articles) for r in results])
    serial, parallel = stores[1], stores[2]
    assert parallel[1] == serial[1]
    statuses = [status for _, status, _, _ in serial[1]]
    assert statuses.count("skipped") == 1 and statuses.count("failed") == 1
    assert statuses.count("stored") == len(files) - 2
    assert sum(len(rows) for rows in serial[0].values()) > 100  # something real to compare
    for table in TABLES:
        assert parallel[0][table] == serial[0][table], table



def record_head_starts(monkeypatch) -> list[tuple[int, int]]:
    """(files given, files parsed) of each head start from now on."""
    heads: list[tuple[int, int]] = []
    real = workers_module.Preparer.start_with_head

    def recorded(self, paths):
        parsed = real(self, paths)
        heads.append((len(paths), len(parsed)))
        return parsed

    monkeypatch.setattr(workers_module.Preparer, "start_with_head", recorded)
    return heads


def _sends_two_then_dies(paths, results, stop):
    for index, path in enumerate(paths[:2]):
        results.send((index, workers_module.parse_file(path)))
    os.kill(os.getpid(), signal.SIGKILL)


def _dies_at_once(paths, results, stop):
    os.kill(os.getpid(), signal.SIGKILL)


def _sends_a_file_it_did_not_parse(paths, results, stop):
    # One file, then what no head start sends: garbage, and an index out of range.
    results.send((0, workers_module.parse_file(paths[0])))
    results.send((1, "not a result"))
    results.send((len(paths) + 5, workers_module.parse_file(paths[1])))
    results.close()


@pytest.mark.parametrize("head", [_sends_two_then_dies, _dies_at_once,
                                  _sends_a_file_it_did_not_parse])
def test_a_head_start_that_fails_changes_nothing_but_the_time(tmp_path, monkeypatch, head):
    """Whatever the head start did not deliver, the pool does whole: a head start killed
    after two files, or at once, stores exactly what a serial run stores."""
    files = inputs(tmp_path / "in")
    serial_config = write_config(tmp_path / "serial")
    serial = pipeline.ingest_paths(serial_config, files, workers=1)
    heads = record_head_starts(monkeypatch)
    monkeypatch.setattr(workers_module, "can_fork", lambda: True)
    monkeypatch.setattr(workers_module, "_parse_ahead", head)
    config = write_config(tmp_path / "parallel")
    parallel = pipeline.ingest_paths(config, files, workers=2)
    expected = {_sends_two_then_dies: 2, _dies_at_once: 0, _sends_a_file_it_did_not_parse: 1}
    assert heads == [(len(files), expected[head])]
    assert [(r.path.name, r.status, r.issue_id, r.articles) for r in parallel] == [
        (r.path.name, r.status, r.issue_id, r.articles) for r in serial]
    assert dump(Path(config.paths.state) / "digest.db") == dump(
        Path(serial_config.paths.state) / "digest.db")


def test_workers_are_forked_only_while_no_other_thread_runs():
    import threading

    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert not workers_module.can_fork()  # a lock that thread holds would stay held
    finally:
        release.set()
        thread.join()


def test_warming_up_starts_the_workers_before_the_first_file(tmp_path):
    config = write_config(tmp_path / "warm")
    files = inputs(tmp_path / "in")[:2]
    with Preparer(config, 2) as preparer:
        preparer.warm()  # what `digest run` does while the inbox's files settle
        assert preparer._pool is not None  # noqa: SLF001
        results = list(preparer.map(files, lambda path: path))
    assert [prepared.parsed.issue.sha256 for _, prepared in results] == [
        prepare_file(path, pipeline.LazyRanker(config)).parsed.issue.sha256 for path in files]


def test_weeks_built_on_workers_are_the_weeks_built_here(tmp_path):
    """Every page, every saved digest and the index: the same whether the weeks are grouped
    and rendered in this process or by two workers reading the store themselves."""
    config = write_config(tmp_path / "build")
    pipeline.ingest_paths(config, inputs(tmp_path / "in"), workers=1)
    built = {}
    with open_store(config) as store:
        weeks = store.weeks()
        assert len(weeks) >= 3
        for workers in (1, 2):
            out = tmp_path / f"out{workers}"
            with Preparer(config, workers) as preparer:
                result = pipeline.build_weeks(config, weeks, out, store=store,
                                              preparer=preparer)
                assert (preparer._pool is not None) == (workers > 1)  # noqa: SLF001
            saved = store.conn.execute(
                "SELECT week, issue_count, article_count, theme_count, markdown, html, text,"
                " feed_html FROM digests ORDER BY week").fetchall()
            built[workers] = ([tuple(row) for row in saved],
                              {p.name: p.read_bytes() for p in sorted(out.iterdir())},
                              [(d.week, d.markdown, len(d.themes)) for d in result.digests])
    assert built[2] == built[1]
    assert len(built[1][1]) == 2 * len(weeks) + 2  # .md and .html a week, index and feed


def test_a_week_that_stops_the_build_keeps_the_weeks_written_before(tmp_path):
    config = write_config(tmp_path / "stop")
    pipeline.ingest_paths(config, inputs(tmp_path / "in"), workers=1)
    with open_store(config) as store, Preparer(config, 2) as preparer:
        weeks = store.weeks()
        result = pipeline.build_weeks(config, weeks, tmp_path / "out", store=store,
                                      preparer=preparer, should_stop=lambda: True)
        assert [d.week for d in result.digests] == [weeks[0]]
        assert [d.week for d in store.digests()] == [weeks[0]]
    assert "digest-" + str(weeks[0]) in (tmp_path / "out" / "index.html").read_text()


def test_the_inbox_on_workers_archives_what_a_serial_inbox_does(tmp_path):
    files = inputs(tmp_path / "in")
    seen = {}
    for workers in (1, 2):
        config = write_config(tmp_path / f"w{workers}", "[schedule]\nstable_seconds = 0\n")
        for path in files:
            target = Path(config.paths.inbox) / path.name
            target.write_bytes(path.read_bytes())
            os.utime(target, (path.stat().st_mtime,) * 2)
        with open_store(config) as store, Preparer(config, workers) as preparer:
            ingestor = store_ingestor(store, pipeline.LazyRanker(config), preparer)
            tracker = StabilityTracker(0)
            process_inbox(config, tracker, ingestor)  # first sight
            results = process_inbox(config, tracker, ingestor)
        archived = sorted(p.name for p in Path(config.paths.archive).rglob("*.txt"))
        failed = sorted(p.name for p in Path(config.paths.failed).glob("*"))
        seen[workers] = ([(r.name, r.outcome, r.sha256) for r in results], archived, failed,
                         dump(Path(config.paths.state) / "digest.db"))
        assert list(Path(config.paths.inbox).rglob("*.txt")) == []
    assert seen[2] == seen[1]
    outcomes = [outcome for _, outcome, _ in seen[1][0]]
    assert outcomes.count("duplicate") == 1 and outcomes.count("failed") == 1
    assert seen[1][2] == ["50_photo.txt", "50_photo.txt.error.txt"]


def test_a_dead_worker_blames_no_file_and_the_next_scan_takes_them(tmp_path):
    config = write_config(tmp_path / "box", "[schedule]\nstable_seconds = 0\n")
    for path in inputs(tmp_path / "in")[:4]:
        (Path(config.paths.inbox) / path.name).write_bytes(path.read_bytes())
    with open_store(config) as store:
        tracker = StabilityTracker(0)
        with Preparer(config, 2) as preparer:
            ingestor = store_ingestor(store, pipeline.LazyRanker(config), preparer)
            assert process_inbox(config, tracker, ingestor) == []  # first sight
            preparer.submit(SEEDS / "missing.txt")  # starts the pool
            for pid in list(preparer._pool._processes):  # noqa: SLF001 - the test kills them
                os.kill(pid, signal.SIGKILL)
            assert process_inbox(config, tracker, ingestor) == []
        assert not Path(config.paths.failed).exists() or not any(
            Path(config.paths.failed).iterdir())
        claimed = list((Path(config.paths.inbox) / CLAIM_DIR).iterdir())
        left = list(Path(config.paths.inbox).glob("*.txt"))
        assert claimed and len(claimed) + len(left) == 4  # nothing lost, nothing failed
        assert store.issues() == ()
        with Preparer(config, 2) as preparer:
            ingestor = store_ingestor(store, pipeline.LazyRanker(config), preparer)
            results = process_inbox(config, tracker, ingestor)
        assert sorted(r.outcome for r in results) == ["ingested"] * 4
        assert len(store.issues()) == 4


def test_a_dead_worker_in_digest_ingest_is_an_error_not_a_failed_file(tmp_path, monkeypatch):
    files = inputs(tmp_path / "in")[:3]
    config = write_config(tmp_path / "cli")

    def killed(path):
        raise WorkerError("a worker process failed (killed)")

    monkeypatch.setattr(pipeline.Preparer, "submit", lambda self, path: killed(path))
    monkeypatch.setattr(pipeline.Preparer, "submit_parsed", lambda self, parsed: killed(parsed))
    results = pipeline.ingest_paths(config, files, workers=2)
    assert [r.status for r in results] == ["error"] * 3
    assert all("not ingested" in r.message for r in results)


@pytest.mark.parametrize("workers", [1, 2])
def test_stored_files_are_skipped_without_starting_workers(tmp_path, workers):
    files = inputs(tmp_path / "in")[:2]
    config = write_config(tmp_path / "again")
    pipeline.ingest_paths(config, files, workers=1)
    with Preparer(config, workers) as preparer:
        results = list(preparer.map(files, lambda path: None))
        assert preparer._pool is None  # noqa: SLF001
    assert [prepared for _, prepared in results] == [None, None]
    again = pipeline.ingest_paths(config, files, workers=workers)
    assert [r.status for r in again] == ["skipped", "skipped"]


def _children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                found += [int(c) for c in fh.read().split()]
        except FileNotFoundError:  # the thread ended between listing and reading
            continue
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_workers_leave_when_digest_ingest_is_killed(tmp_path):
    """kill -9 of the parent: its workers must not linger, blocked on a result nobody reads."""
    import subprocess
    import sys
    import time

    files = inputs(tmp_path / "in")
    # Enough distinct files that the workers are still at work when looked for (the head
    # start alone parses the seeds before they start).
    for n in range(40):
        for source in sorted(SEEDS.glob("*.txt")):
            copy = tmp_path / "in" / f"copy{n:02d}_{source.name}"
            copy.write_text(source.read_text(encoding="utf-8") + f"\n（第{n}版）\n",
                            encoding="utf-8")
            files.append(copy)
    config = write_config(tmp_path / "k", "[ingest]\nworkers = 2\n")
    env = {k: v for k, v in os.environ.items() if k != "DIGEST_HOME"}
    proc = subprocess.Popen([sys.executable, "-m", "digest.cli", "--config",
                             str(config.source), "ingest", *map(str, files)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
        workers = _children(proc.pid)
    assert len(workers) >= 2, "the workers never started"
    # Forks of `digest ingest` (no thread of its own, tqdm's monitor included), sharing its
    # ranker: not fresh interpreters.
    commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in workers]
    assert not any(b"spawn_main" in command for command in commands), commands
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()
             and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert alive == []


class _AlwaysReady:
    """Prepared results that are all there at once, as when the workers are far ahead of
    the writer: the writer then batches (real files, prepared in this process)."""

    def __init__(self, items):
        self.items = iter(items)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self.items)

    def ready(self) -> bool:
        return True

    def close(self) -> None:
        pass


def test_a_batch_is_handed_on_only_once_committed(tmp_path, monkeypatch):

    config = write_config(tmp_path / "batch")
    files = sorted(SEEDS.glob("*.txt"))
    ranker = pipeline.LazyRanker(config)
    prepared = [(path, prepare_file(path, ranker)) for path in files]
    monkeypatch.setattr(pipeline, "BATCH_FILES", 3)
    db = Path(config.paths.state) / "digest.db"
    sizes = []
    with open_store(config) as store:
        for batch in pipeline.store_in_batches(store, _AlwaysReady(prepared)):
            sizes.append(len(batch))
            other = sqlite3.connect(db)  # another connection sees only what is committed
            stored = {row[0] for row in other.execute("SELECT sha256 FROM issues")}
            other.close()
            assert {w.prepared.parsed.issue.sha256 for w in batch} <= stored
            assert all(isinstance(w.outcome, int) for w in batch)
    assert sizes == [3, 2]


def test_one_dead_worker_does_not_hang_the_survivors_shutdown(tmp_path):
    """One of two workers dies (the OOM killer, say): the pool stops the survivor with SIGTERM
    and waits for it, so a worker that ignored SIGTERM would hang the program at exit. Run in
    a child process: a hang here must fail the test, not the suite."""
    import subprocess
    import sys

    write_config(tmp_path / "box")
    config_path = tmp_path / "box" / "config.toml"
    script = f"""
import os, signal, sys, time
from concurrent.futures import wait
from digest.config import load_config
from digest.workers import Preparer
signal.signal(signal.SIGTERM, lambda signum, frame: None)  # as `digest run` does; forks inherit it
config = load_config({str(config_path)!r})
preparer = Preparer(config, 2)
wait([preparer.submit({str(SEEDS / "missing.txt")!r}) for _ in range(2)])  # both workers up
pids = list(preparer._pool._processes)  # noqa: SLF001
assert len(pids) == 2, pids
os.kill(pids[0], signal.SIGKILL)
second = preparer.submit({str(SEEDS / "missing.txt")!r})
try:
    second.result(timeout=60)
except Exception as exc:
    print(type(exc).__name__)
preparer.drop_pool()
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_workers_killed_while_files_are_submitted_never_hang_the_exit(tmp_path):
    """The pool's workers die (the OOM killer) while more files are submitted: the pool may
    spawn a worker as it breaks, which its own terminate misses. `drop_pool` must stop every
    worker, or the program hangs at exit waiting for one (it did, in this very suite). A
    race, so several rounds, in a child process: a hang fails this test, not the suite."""
    import subprocess
    import sys

    write_config(tmp_path / "box")
    config_path = tmp_path / "box" / "config.toml"
    script = f"""
import os, signal
from digest.config import load_config
from digest.workers import Preparer, WorkerError, prepare_file

def main():
    config = load_config({str(config_path)!r})
    missing = {str(SEEDS / "missing.txt")!r}
    for _ in range(8):
        preparer = Preparer(config, 2)
        futures = [preparer.submit(missing)]
        for pid in list(preparer._pool._processes):  # noqa: SLF001
            os.kill(pid, signal.SIGKILL)
        try:
            for _ in range(4):
                futures.append(preparer.submit(missing))
        except WorkerError:
            pass  # the pool broke under the submit: the caller's case, not a hang
        for future in futures:
            try:
                future.result(timeout=30)
            except Exception as exc:
                assert "Timeout" not in type(exc).__name__, "a future never resolved"
        preparer.drop_pool()
    print("exiting", flush=True)

if __name__ == "__main__":  # spawned workers import this script
    main()
"""
    (tmp_path / "race.py").write_text(script)
    try:
        done = subprocess.run([sys.executable, str(tmp_path / "race.py")], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"hung (printed {exc.stdout!r}): a worker outlived drop_pool")
    assert done.returncode == 0 and done.stdout == "exiting\n", done.stderr[-2000:]
