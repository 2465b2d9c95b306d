"""The inbox: take files that have stopped changing, ingest each exactly once, never lose one.

The protocol, and why each step is safe against a crash (kill -9) at any point:

1. Scan: only regular files directly in the inbox whose name matches no ignore pattern
   (`*.part`, `*.tmp`, `~$*`, `.*` by default) are candidates. A candidate is *stable* once
   its size and modification time have been seen unchanged for `schedule.stable_seconds`;
   a file that is still being written (or copied slowly) is left alone.
2. Claim: a stable file is renamed into `<inbox>/.processing/`. The rename stays on the
   inbox's file system, so it is atomic: the file is in the inbox or claimed, never neither.
   Claimed files are hidden from the scan (the folder starts with a dot) and are the first
   thing processed after a restart, without waiting again.
3. Ingest: the file's sha256 decides. If the store already holds it (a duplicate, or a crash
   after step 3 committed but before step 4), it is not ingested again. Otherwise it is
   stored in one database transaction keyed by that sha256, so it is stored whole or not at
   all. (With several workers, a batch of files shares one transaction, each file in a
   savepoint of it: still whole or not at all, and step 4 waits for the commit.)
4. Move: to `archive/YYYY/MM/` (month of processing, in the digest time zone), or, if it
   could not be read, to `failed/` with `NAME.error.txt` beside it saying why. A name that
   is taken gets a suffix (`NAME-1.txt`); nothing is overwritten and input is never deleted.

The claim folder, and archive/ or failed/ when they sit inside the inbox, are never followed
through a symbolic link: a link there (`ln -s /some/dir inbox/.processing`) would make every
file of another folder look claimed, and be ingested and moved away. One found stops the
scan with `UnsafeFolder` before anything is read or moved.

Anything that is not the file's fault (the database is unavailable, a disk is full) leaves
the file claimed, to be retried on the next scan, rather than blaming the file.
"""

from __future__ import annotations

import datetime as dt
import errno
import fnmatch
import hashlib
import logging
import os
import shutil
import sqlite3
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .config import Config
from .decode import DecodeError
from .sanitize import shown
from .workers import WorkerError

log = logging.getLogger(__name__)

CLAIM_DIR = ".processing"
SYNC_EVERY = 32  # files moved between fsyncs of their folders (see FolderSync)
ERROR_SUFFIX = ".error.txt"
# Errors that say "the machine is not ready", not "this file is bad": retry, don't fail it.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (sqlite3.OperationalError, MemoryError,
                                                     WorkerError)

Outcome = Literal["ingested", "duplicate", "failed"]


class UnsafeFolder(Exception):
    """A working folder inside the inbox is a symbolic link or not a folder: refuse to use it."""


class NotTheFilesFault(Exception):
    """Ingesting failed for a reason in digest or its config, not in the file; the file is
    back in the inbox and the scan stopped, since the next file would fail the same way."""


@dataclass(frozen=True)
class InboxOutcome:
    """What happened to one inbox file."""

    name: str  # the file's name as it arrived in the inbox
    sha256: str
    outcome: Outcome
    moved_to: Path
    reason: str | None = None  # for failures: why, as written to the .error.txt


# What became of one claimed file, before it is moved: "ingested", "duplicate", or the
# exception that stopped it (transient ones leave it claimed).
Verdict = tuple[Path, str, "str | BaseException"]


@dataclass(frozen=True)
class Ingestor:
    """What the inbox needs from the rest of the pipeline.

    `is_stored(sha256)` tells whether a file with those bytes is already in the store;
    `ingest(path)` decodes, parses, ranks and stores one file in one transaction, raising
    one of `input_errors` (decode.DecodeError) when the file cannot be read. Any other
    exception is a fault of the program or its config, never blamed on the file.
    `ingest_many(paths)`, if given, does the same for many claimed files at once (on every
    core, commits batched): it yields one `Verdict` (path, sha256, verdict) per path, in
    order, and only once the transaction that stored the file has committed, so a file is
    never archived before it is safely stored. Without it, files go one by one.
    """

    is_stored: Callable[[str], bool]
    ingest: Callable[[Path], object]
    input_errors: tuple[type[BaseException], ...] = (DecodeError,)
    ingest_many: Callable[[Iterable[Path]], Iterator[Verdict]] | None = None


class Unreadable(Exception):
    """A claimed file that cannot even be opened or hashed (e.g. no read permission)."""

    def __init__(self, exc: OSError):
        self.reason = f"cannot be read ({exc.strerror or exc})"
        super().__init__(self.reason)


# -- names and moves ----------------------------------------------------------------------


def is_ignored(name: str, patterns: Iterable[str]) -> bool:
    """Temp, partial and hidden files are someone else's work in progress."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def safe_name(name: str) -> str:
    """A plain file name that cannot point outside the folder it is joined to."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].replace("\x00", "")
    if base in ("", ".", ".."):
        return "unnamed"
    return base


def guard_folder(config: Config, folder: Path) -> None:
    """Refuse `folder` if, below the inbox, any part of it is a symbolic link or a file.

    Folders outside the inbox are the admin's to place (a configured path may well go
    through a link); inside it, a link can only have been put there to lead files out.
    """
    inbox = Path(config.paths.inbox)
    try:
        parts = Path(folder).relative_to(inbox).parts
    except ValueError:
        return
    current = inbox
    for part in parts:
        current = current / part
        if current.is_symlink():
            try:
                target = f" (to {shown(os.readlink(current))})"
            except OSError:
                target = ""
            raise UnsafeFolder(
                f"{shown(current)} is a symbolic link{target}; digest never follows links out "
                f"of the inbox: remove the link (a real folder is created when needed)")
        if current.exists() and not current.is_dir():
            raise UnsafeFolder(f"{shown(current)} is not a folder; move it away so digest can "
                               f"create its working folder there")


def working_folders(config: Config) -> list[Path]:
    """The folders the inbox protocol writes into that may sit inside the inbox."""
    paths = config.paths
    return [Path(paths.inbox) / CLAIM_DIR, Path(paths.archive), Path(paths.failed),
            Path(paths.output)]


def guard_working_folders(config: Config) -> None:
    for folder in working_folders(config):
        guard_folder(config, folder)


def free_path(folder: Path, name: str, *, taken_also: Callable[[Path], bool] | None = None
              ) -> Path:
    """`folder/name`, or `folder/stem-N.ext` with the first N that is not taken."""
    name = safe_name(name)
    stem, dot, ext = name.rpartition(".")
    if not stem:  # no extension (or a leading-dot name): the suffix goes at the end
        stem, dot, ext = name, "", ""
    candidate, n = folder / name, 0
    while candidate.exists() or candidate.is_symlink() or (taken_also and taken_also(candidate)):
        n += 1
        candidate = folder / f"{stem}-{n}{dot}{ext}"
    return candidate


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` survive a power cut, not just a crash of this process."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class FolderSync:
    """Folders whose renames are still to be made durable: a run of moves shares one fsync
    per folder (at ~10 ms each, four per file would cost more than ranking it). Deferring
    them is safe: a rename lost to a power cut leaves the file where it was, claimed or in
    the inbox, and the next scan finds it stored (by sha256) and only archives it."""

    def __init__(self) -> None:
        self.folders: set[Path] = set()

    def flush(self) -> None:
        for folder in sorted(self.folders):
            fsync_dir(folder)
        self.folders.clear()


def move_file(src: Path, dest: Path, later: FolderSync | None = None) -> Path:
    """Move `src` to `dest` (a free path) by rename; across file systems by copy then unlink.

    The copy goes to a hidden temporary name first and is renamed into place only once it is
    complete and on disk, so `dest` never holds half a file; `src` is removed only after that.
    With `later`, the folders of a rename are fsynced when it is flushed, not now.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(src, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        temporary = dest.with_name(f".{dest.name}.moving")
        shutil.copy2(src, temporary)  # copy2 keeps the mtime, which dates undated issues
        with open(temporary, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(temporary, dest)
        fsync_dir(dest.parent)
        os.unlink(src)
        fsync_dir(src.parent)
        return dest
    if later is not None:
        later.folders.update((dest.parent, src.parent))
        return dest
    fsync_dir(dest.parent)
    if src.parent != dest.parent:
        fsync_dir(src.parent)
    return dest


def write_atomically(path: Path, text: str) -> None:
    """Write a small text file so that it is either absent or complete, never torn."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temporary, path)
    fsync_dir(path.parent)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- scanning -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Seen:
    size: int
    mtime_ns: int
    since: float  # monotonic time at which this size and mtime were first seen


class StabilityTracker:
    """Remembers each inbox file's size and mtime across scans to tell when it stopped changing.

    Kept in memory on purpose: after a restart a file simply waits one more delay, which is
    cheaper and safer than trusting an observation from before the crash.
    """

    def __init__(self, stable_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.stable_seconds = stable_seconds
        self.clock = clock
        self._seen: dict[str, _Seen] = {}

    def observe(self, files: dict[str, os.stat_result]) -> list[str]:
        """Record this scan; return the names unchanged for at least `stable_seconds`."""
        now = self.clock()
        stable = []
        for name, st in files.items():
            previous = self._seen.get(name)
            if previous is None or (previous.size, previous.mtime_ns) != (st.st_size,
                                                                         st.st_mtime_ns):
                self._seen[name] = _Seen(st.st_size, st.st_mtime_ns, now)
            elif now - previous.since >= self.stable_seconds:
                stable.append(name)
        for gone in set(self._seen) - set(files):
            del self._seen[gone]
        return stable

    def forget(self, name: str) -> None:
        self._seen.pop(name, None)

    def seconds_until_next_stable(self) -> float | None:
        """How long until the newest-changed file we are watching could be stable."""
        if not self._seen:
            return None
        now = self.clock()
        return max(0.0, max(s.since for s in self._seen.values()) + self.stable_seconds - now)


def inbox_candidates(config: Config) -> dict[str, os.stat_result]:
    """Regular files directly in the inbox that no ignore pattern excludes, by name."""
    inbox = Path(config.paths.inbox)
    found: dict[str, os.stat_result] = {}
    try:
        entries = list(os.scandir(inbox))
    except FileNotFoundError:
        return found
    for entry in entries:
        if is_ignored(entry.name, config.schedule.ignore):
            continue
        try:
            # Symlinks are skipped: moving a link would archive the link, not the issue.
            if entry.is_file(follow_symlinks=False):
                found[entry.name] = entry.stat(follow_symlinks=False)
        except OSError:
            continue  # vanished between listing and stat: someone else moved it
    return found


def claimed_files(config: Config) -> list[Path]:
    """Files claimed before a crash or a transient error, oldest claim first."""
    folder = Path(config.paths.inbox) / CLAIM_DIR
    guard_folder(config, folder)
    try:
        files = [p for p in folder.iterdir() if p.is_file() and not p.is_symlink()
                 and not p.name.startswith(".")]
    except FileNotFoundError:
        return []
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))


def claim(config: Config, name: str, later: FolderSync | None = None) -> Path | None:
    """Rename an inbox file into the claim folder; None if it vanished meanwhile."""
    inbox = Path(config.paths.inbox)
    folder = inbox / CLAIM_DIR
    guard_folder(config, folder)
    folder.mkdir(parents=True, exist_ok=True)
    source = inbox / name  # a name as listed by scandir: one path component, never "/"
    try:
        return move_file(source, free_path(folder, name), later)
    except FileNotFoundError:
        return None


# -- processing -----------------------------------------------------------------------------


def archive_folder(config: Config, now: dt.datetime) -> Path:
    local = now.astimezone(config.tz)
    return Path(config.paths.archive) / f"{local.year:04d}" / f"{local.month:02d}"


def error_report(name: str, sha256: str, reason: str, now: dt.datetime) -> str:
    # Escaped: a name or reason holding a newline must not add a line (`reason: ...`) here.
    return (f"file: {shown(name)}\n"
            f"sha256: {sha256}\n"
            f"failed at: {now.astimezone(dt.timezone.utc).isoformat(timespec='seconds')}\n"
            f"reason: {shown(reason)}\n"
            f"\nFix the file (or the cause) and move it back into the inbox to try again.\n")


def _error_file(path: Path) -> Path:
    return path.with_name(path.name + ERROR_SUFFIX)


def _stale_report_for_other_file(sha256: str) -> Callable[[Path], bool]:
    """A slot is taken if an error report sits there, unless it is this file's own report
    (left by a crash between writing the report and moving the file)."""
    def taken(candidate: Path) -> bool:
        report = _error_file(candidate)
        if not report.exists():
            return False
        try:
            return f"sha256: {sha256}\n" not in report.read_text(encoding="utf-8")
        except OSError:
            return True
    return taken


def move_to_failed(config: Config, path: Path, sha256: str, reason: str,
                   now: dt.datetime) -> Path:
    """`failed/NAME` plus `failed/NAME.error.txt`; the report is written first, so a failed
    file is never found without its reason."""
    folder = Path(config.paths.failed)
    guard_folder(config, folder)
    dest = free_path(folder, path.name, taken_also=_stale_report_for_other_file(sha256))
    write_atomically(_error_file(dest), error_report(path.name, sha256, reason, now))
    return move_file(path, dest)


def describe_failure(exc: BaseException) -> str:
    """One line for the error report: the decoder's reason, or the exception and where."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str) and reason:
        return reason
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = f" (at {Path(where[0].filename).name}:{where[0].lineno})" if where else ""
    return f"{type(exc).__name__}: {exc}{at}"


def one_by_one(ingestor: Ingestor, paths: Iterable[Path]) -> Iterator[Verdict]:
    """The verdicts of `ingestor.ingest`, one file and one transaction at a time."""
    for path in paths:
        try:
            sha256 = file_sha256(path)
        except OSError as exc:  # e.g. no read permission: the file's problem, not ours
            yield path, "", Unreadable(exc)
            continue
        if ingestor.is_stored(sha256):
            yield path, sha256, "duplicate"
            continue
        try:
            ingestor.ingest(path)
        except Exception as exc:  # noqa: BLE001 - settle() decides whose fault it is
            yield path, sha256, exc
            continue
        yield path, sha256, "ingested"


def settle(config: Config, path: Path, sha256: str, verdict: str | BaseException,
           now: dt.datetime | None = None, later: FolderSync | None = None,
           input_errors: tuple[type[BaseException], ...] = (DecodeError,)
           ) -> InboxOutcome | None:
    """Move a claimed file out of the claim folder according to its verdict.

    Returns None when a transient error leaves the file claimed for a later retry; raises
    NotTheFilesFault, with the file back in the inbox, for a fault of the program or its
    config (any exception that is not one of `input_errors`).
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    if isinstance(verdict, TRANSIENT_ERRORS):
        log.warning("%s: not ingested this time, will retry (%s)", shown(path.name),
                    shown(verdict))
        return None
    if isinstance(verdict, (Unreadable, *input_errors)):  # the file's problem
        reason = describe_failure(verdict)
        dest = move_to_failed(config, path, sha256, reason, now)
        return InboxOutcome(path.name, sha256, "failed", dest, reason)
    if isinstance(verdict, BaseException):  # ours, not the file's: hand the file back
        back = move_file(path, free_path(Path(config.paths.inbox), path.name))
        raise NotTheFilesFault(
            f"{shown(path.name)}: not ingested because of a fault in digest or its config, "
            f"not in the file ({shown(describe_failure(verdict))}); the file is back in the "
            f"inbox as {shown(back.name)}") from verdict
    guard_folder(config, archive_folder(config, now))
    dest = move_file(path, free_path(archive_folder(config, now), path.name), later)
    return InboxOutcome(path.name, sha256, "duplicate" if verdict == "duplicate"
                        else "ingested", dest)


def process_claimed_many(config: Config, paths: Iterable[Path], ingestor: Ingestor,
                         now: dt.datetime | None = None, later: FolderSync | None = None
                         ) -> Iterator[InboxOutcome | None]:
    """Ingest (or recognise) claimed files and move each out of the claim folder, in order;
    None for a file a transient error leaves claimed."""
    many = ingestor.ingest_many or (lambda files: one_by_one(ingestor, files))
    for path, sha256, verdict in many(paths):
        yield settle(config, path, sha256, verdict, now, later, ingestor.input_errors)


def process_claimed(config: Config, path: Path, ingestor: Ingestor,
                    now: dt.datetime | None = None) -> InboxOutcome | None:
    """Ingest (or recognise) one claimed file and move it out of the claim folder.

    Returns None when a transient error leaves the file claimed for a later retry.
    """
    [outcome] = process_claimed_many(config, [path], ingestor, now)
    return outcome


def process_inbox(config: Config, tracker: StabilityTracker, ingestor: Ingestor, *,
                  on_result: Callable[[InboxOutcome], None] = lambda result: None,
                  should_stop: Callable[[], bool] = lambda: False) -> list[InboxOutcome]:
    """One scan: resume claimed files, then claim and process every stable inbox file.

    Files are handled in arrival order (mtime, then name); `should_stop` is checked before
    each file is claimed, so a shutdown finishes the files already taken and no more.
    """
    results: list[InboxOutcome] = []
    guard_working_folders(config)  # before anything is read or moved
    later = FolderSync()

    def claimed() -> Iterator[Path]:
        # Lazy: a file is claimed only when the ingestor asks for the next one, so a stop
        # request leaves the rest in the inbox (with workers: a few files ahead are taken).
        for path in claimed_files(config):
            if should_stop():
                return
            yield path
        candidates = inbox_candidates(config)
        stable = tracker.observe(candidates)
        for name in sorted(stable, key=lambda n: (candidates[n].st_mtime_ns, n)):
            if should_stop():
                return
            tracker.forget(name)
            path = claim(config, name, later)
            if path is not None:
                yield path

    try:
        for result in process_claimed_many(config, claimed(), ingestor, later=later):
            if result is not None:
                level = logging.WARNING if result.outcome == "failed" else logging.INFO
                log.log(level, "%s: %s -> %s%s", shown(result.name), result.outcome,
                        shown(result.moved_to),
                        f" ({shown(result.reason)})" if result.reason else "")
                results.append(result)
                on_result(result)
            if len(later.folders) and len(results) % SYNC_EVERY == 0:
                later.flush()
    finally:
        later.flush()
    return results


def wait_and_process_inbox(config: Config, ingestor: Ingestor, *,
                           on_result: Callable[[InboxOutcome], None] = lambda result: None,
                           should_stop: Callable[[], bool] = lambda: False,
                           sleep: Callable[[float], None] = time.sleep) -> list[InboxOutcome]:
    """For one-shot runs: look, wait out the stability delay once, look again, process.

    A file still changing after that single wait is left for the next run.
    """
    tracker = StabilityTracker(config.schedule.stable_seconds)
    results = process_inbox(config, tracker, ingestor, on_result=on_result,
                            should_stop=should_stop)
    remaining = tracker.seconds_until_next_stable()
    if remaining is not None and not should_stop():
        sleep(remaining + 0.05)
        results += process_inbox(config, tracker, ingestor, on_result=on_result,
                                 should_stop=should_stop)
    return results


# -- the inbox log --------------------------------------------------------------------------


def record_result(conn: sqlite3.Connection, result: InboxOutcome,
                  now: dt.datetime | None = None) -> None:
    """Log what happened to a file, for `digest status` (the store itself is the truth)."""
    at = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    conn.execute(
        "INSERT INTO inbox_log (at, name, sha256, outcome, moved_to, reason)"
        " VALUES (?,?,?,?,?,?)",
        (at.isoformat(timespec="seconds"), result.name, result.sha256, result.outcome,
         str(result.moved_to), result.reason))
    if conn.in_transaction:  # a connection not in autocommit mode
        conn.commit()


def recent_results(conn: sqlite3.Connection, limit: int = 10) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM inbox_log ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
