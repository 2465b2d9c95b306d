"""The inbox: stability, ignore patterns, exactly-once ingest, archive/failed moves, crashes.

Real folders, the real store and the real decode -> parse -> rank -> store pipeline.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from digest import decode, ingest, parse, pipeline
from digest.ingest import (CLAIM_DIR, ERROR_SUFFIX, Ingestor, StabilityTracker, free_path,
                           move_file, process_claimed, process_inbox, safe_name)
from digest.schedule import store_ingestor
from digest.store import open_store

from .conftest import SEEDS
from .service_support import write_config

SEED_FILES = sorted(SEEDS.glob("*.txt"))
NOW = dt.datetime(2026, 3, 9, 1, 0, tzinfo=dt.timezone.utc)  # 09:00 in Asia/Shanghai


class Clock:
    """The tracker's time source, advanced by the test (no sleeping for stability)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def config(tmp_path):
    return write_config(tmp_path, "[schedule]\nstable_seconds = 5\n")


@pytest.fixture
def store(config):
    with open_store(config) as opened:
        yield opened


@pytest.fixture
def ingestor(config, store):
    return store_ingestor(store, pipeline.LazyRanker(config))


def drop(config, name: str, data: bytes) -> Path:
    path = Path(config.paths.inbox) / name
    path.write_bytes(data)
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def scan_until_stable(config, ingestor, clock, tracker) -> list:
    """Two scans stable_seconds apart: the first sees files, the second takes them."""
    process_inbox(config, tracker, ingestor)
    clock.now += config.schedule.stable_seconds
    return process_inbox(config, tracker, ingestor)


def test_ignored_names_are_never_taken(config, ingestor):
    data = SEED_FILES[0].read_bytes()
    for name in ("issue.txt.part", "issue.tmp", "~$issue.txt", ".issue.txt"):
        drop(config, name, data)
    clock = Clock()
    tracker = StabilityTracker(5, clock)
    assert scan_until_stable(config, ingestor, clock, tracker) == []
    clock.now += 3600
    assert process_inbox(config, tracker, ingestor) == []
    assert sorted(p.name for p in Path(config.paths.inbox).iterdir()) == sorted(
        ["issue.txt.part", "issue.tmp", "~$issue.txt", ".issue.txt"])


def test_a_file_is_taken_only_after_it_stops_changing(config, ingestor, store):
    data = SEED_FILES[0].read_bytes()
    path = drop(config, "paper.txt", data[: len(data) // 2])
    clock = Clock()
    tracker = StabilityTracker(5, clock)
    assert process_inbox(config, tracker, ingestor) == []  # first sight starts the clock
    clock.now += 4
    assert process_inbox(config, tracker, ingestor) == []  # not yet 5 s
    with open(path, "ab") as fh:  # the writer resumes: size and mtime change
        fh.write(data[len(data) // 2:])
    clock.now += 4
    assert process_inbox(config, tracker, ingestor) == []  # changed: the clock restarts
    clock.now += 4
    assert process_inbox(config, tracker, ingestor) == []
    clock.now += 1
    [result] = process_inbox(config, tracker, ingestor)
    assert (result.name, result.outcome, result.sha256) == ("paper.txt", "ingested", sha(data))
    assert store.has_file(sha(data)) and len(store.issues()) == 1


def test_same_content_twice_is_ingested_once(config, ingestor, store):
    data = SEED_FILES[1].read_bytes()
    drop(config, "monday.txt", data)
    drop(config, "copy-of-monday.txt", data)
    clock = Clock()
    results = scan_until_stable(config, ingestor, clock, StabilityTracker(5, clock))
    assert sorted(r.outcome for r in results) == ["duplicate", "ingested"]
    assert len(store.issues()) == 1
    archived = files_under(Path(config.paths.archive))
    assert sorted(p.name for p in archived) == ["copy-of-monday.txt", "monday.txt"]
    assert all(p.read_bytes() == data for p in archived)  # input never deleted
    assert files_under(Path(config.paths.inbox)) == []


def test_archive_is_by_month_and_a_taken_name_gets_a_suffix(config, ingestor):
    first, second = SEED_FILES[0].read_bytes(), SEED_FILES[2].read_bytes()
    folder = ingest.archive_folder(config, NOW)
    assert folder == Path(config.paths.archive) / "2026" / "03"
    for data in (first, second):
        path = drop(config, "issue.txt", data)
        claimed = ingest.claim(config, path.name)
        result = process_claimed(config, claimed, ingestor, now=NOW)
        assert result.outcome == "ingested"
    assert sorted(p.name for p in folder.iterdir()) == ["issue-1.txt", "issue.txt"]
    assert (folder / "issue.txt").read_bytes() == first
    assert (folder / "issue-1.txt").read_bytes() == second


@pytest.mark.parametrize("name, data, reason", [
    ("empty.txt", b"", "empty"),
    ("blank.txt", b"\n \n\t\n", "blank"),
    ("photo.txt", bytes(range(256)) * 64, "binary"),
])
def test_an_unreadable_file_moves_to_failed_with_its_reason(config, ingestor, store, name,
                                                            data, reason):
    drop(config, name, data)
    clock = Clock()
    [result] = scan_until_stable(config, ingestor, clock, StabilityTracker(5, clock))
    failed = Path(config.paths.failed)
    assert result.outcome == "failed" and result.moved_to == failed / name
    assert (failed / name).read_bytes() == data
    report = (failed / (name + ERROR_SUFFIX)).read_text(encoding="utf-8")
    assert f"file: {name}" in report and f"sha256: {sha(data)}" in report
    assert reason in report.lower(), report
    assert store.issues() == ()


def test_a_failed_name_that_is_taken_gets_a_suffix(config, ingestor):
    for _ in range(2):
        path = drop(config, "bad.txt", os.urandom(4096))
        process_claimed(config, ingest.claim(config, path.name), ingestor, now=NOW)
    names = sorted(p.name for p in Path(config.paths.failed).iterdir())
    assert names == ["bad-1.txt", "bad-1.txt.error.txt", "bad.txt", "bad.txt.error.txt"]


def test_restart_after_a_crash_between_commit_and_move_archives_without_reingesting(
        config, ingestor, store):
    data = SEED_FILES[3].read_bytes()
    claimed_dir = Path(config.paths.inbox) / CLAIM_DIR
    claimed_dir.mkdir()
    path = claimed_dir / "paper.txt"
    path.write_bytes(data)
    ingestor.ingest(path)  # committed ... and then the process died before moving the file
    issues_before = store.issues()
    [result] = process_inbox(config, StabilityTracker(5, Clock()), ingestor)
    assert result.outcome == "duplicate"
    assert store.issues() == issues_before  # not ingested twice
    assert [p.read_bytes() for p in files_under(Path(config.paths.archive))] == [data]
    assert not any(claimed_dir.iterdir())


def test_restart_after_a_crash_before_commit_ingests_the_claimed_file(config, ingestor, store):
    data = SEED_FILES[4].read_bytes()
    claimed_dir = Path(config.paths.inbox) / CLAIM_DIR
    claimed_dir.mkdir()
    (claimed_dir / "paper.txt").write_bytes(data)  # claimed, then the process died
    [result] = process_inbox(config, StabilityTracker(5, Clock()), ingestor)
    assert result.outcome == "ingested"  # no stability wait: it was stable when claimed
    assert [i.sha256 for i in store.issues()] == [sha(data)]


def test_a_transient_error_leaves_the_file_claimed_for_the_next_scan(config, store):
    def database_away(path: Path) -> None:
        raise sqlite3.OperationalError("database is locked")

    data = SEED_FILES[0].read_bytes()
    drop(config, "paper.txt", data)
    clock = Clock()
    tracker = StabilityTracker(5, clock)
    flaky = Ingestor(is_stored=store.has_file, ingest=database_away)
    assert scan_until_stable(config, flaky, clock, tracker) == []
    assert (Path(config.paths.inbox) / CLAIM_DIR / "paper.txt").read_bytes() == data
    assert files_under(Path(config.paths.failed)) == []
    healthy = store_ingestor(store, pipeline.LazyRanker(config))
    [result] = process_inbox(config, tracker, healthy)
    assert result.outcome == "ingested"


def test_a_stop_request_finishes_the_current_file_and_takes_no_more(config, ingestor):
    for i, seed in enumerate(SEED_FILES[:3]):
        drop(config, f"{i}.txt", seed.read_bytes())
    clock = Clock()
    tracker = StabilityTracker(5, clock)
    process_inbox(config, tracker, ingestor)
    clock.now += 5
    taken: list = []
    results = process_inbox(config, tracker, ingestor, on_result=taken.append,
                            should_stop=lambda: len(taken) >= 1)
    assert len(results) == 1
    assert len(files_under(Path(config.paths.inbox))) == 2


@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\boot.ini", "boot.ini"),
    ("..", "unnamed"),
    ("", "unnamed"),
    ("a\x00b.txt", "ab.txt"),
    ("东昌时讯.txt", "东昌时讯.txt"),
])
def test_names_from_files_cannot_escape_the_folder(tmp_path, name, expected):
    assert safe_name(name) == expected
    assert free_path(tmp_path, name).parent == tmp_path


def test_a_reused_error_slot_of_the_same_file_is_taken_over(config):
    """A crash between writing NAME.error.txt and moving NAME must not strand the report."""
    failed = Path(config.paths.failed)
    failed.mkdir()
    data = b"\x00\x01binary"
    (failed / "bad.txt.error.txt").write_text(
        ingest.error_report("bad.txt", sha(data), "binary", NOW), encoding="utf-8")
    source = drop(config, "bad.txt", data)
    dest = ingest.move_to_failed(config, source, sha(data), "binary", NOW)
    assert dest == failed / "bad.txt"
    other = drop(config, "bad.txt", b"\x00other")
    assert ingest.move_to_failed(config, other, sha(b"\x00other"), "binary", NOW) == (
        failed / "bad-1.txt")


def test_a_move_across_file_systems_copies_then_removes(tmp_path):
    other = Path("/dev/shm")
    if not other.is_dir() or os.stat(other).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs a second file system (/dev/shm) to cross")
    source = tmp_path / "paper.txt"
    source.write_bytes(b"data")
    os.utime(source, (1_600_000_000, 1_600_000_000))
    target_dir = other / f"digest-test-{os.getpid()}-{time.monotonic_ns()}"
    try:
        dest = move_file(source, free_path(target_dir, "paper.txt"))
        assert dest.read_bytes() == b"data" and not source.exists()
        assert dest.stat().st_mtime == 1_600_000_000  # kept: it can date an undated issue
        assert [p.name for p in target_dir.iterdir()] == ["paper.txt"]
    finally:
        for path in target_dir.glob("*"):
            path.unlink()
        target_dir.rmdir() if target_dir.exists() else None


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_no_file_and_ingests_none_twice(tmp_path):
    """`digest run` killed with SIGKILL again and again, then run to the end."""
    config = write_config(tmp_path, "[schedule]\nstable_seconds = 0\n")
    inbox = Path(config.paths.inbox)
    dropped: list[bytes] = []
    for i, seed in enumerate(SEED_FILES):
        data = seed.read_bytes()
        (inbox / f"{i}.txt").write_bytes(data)
        dropped.append(data)
    (inbox / "again.txt").write_bytes(SEED_FILES[0].read_bytes())  # a duplicate
    (inbox / "broken.txt").write_bytes(b"")
    dropped += [SEED_FILES[0].read_bytes(), b""]
    command = [sys.executable, "-m", "digest.cli", "--config", str(config.source), "run"]
    env = {**os.environ, "DIGEST_HOME": str(config.paths.state)}
    rng = random.Random(5)
    for _ in range(8):
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 2.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
    final = subprocess.run(command, env=env, capture_output=True, timeout=300)
    # 3: broken.txt failed in this run (it may have failed in a killed one instead).
    assert final.returncode in (0, 3), final.stderr

    kept = [p.read_bytes() for p in files_under(Path(config.paths.archive))
            + files_under(Path(config.paths.failed)) if not p.name.endswith(ERROR_SUFFIX)]
    assert sorted(map(sha, kept)) == sorted(map(sha, dropped))  # every file, exactly once
    assert [p for p in files_under(inbox) if not p.name.startswith(".")] == []
    with open_store(config) as store:
        issues = store.issues()
        assert sorted(i.sha256 for i in issues) == sorted({sha(d) for d in dropped if d})
        for issue in issues:  # each issue whole: as many articles as a fresh parse finds
            parsed = parse.parse_issue(decode.decode_file_bytes(
                next(d for d in dropped if sha(d) == issue.sha256), issue.source))
            assert issue.article_count == len(parsed.articles)
