"""Decode, parse and rank issue files on every core, for one writer to store; and build
(group and render) weeks on every core, for the same writer to save.

`Preparer(config)` turns files into `Prepared` results (the parsed issue and its summaries)
in a pool of worker processes, each with its own Ranker (`[ingest].workers`; 0 = one per
core), and hands them back in the order the files were given, at most `AHEAD` files per
worker in flight so memory stays flat on any number of files. With one worker the same
work runs in this process instead (with the caller's ranker, if it gives one).

A pool of forks starts with a head start (`HeadStart`): while this process loads the ranker
the workers will share (~0.5 s, every other core idle), a fork of it without a ranker
decodes and parses the first files, which the workers then only rank.

`Preparer.map_weeks(weeks, here)` does the same for building weeks (`pipeline.build_week`):
each worker reads its weeks' articles through its own read-only connection (SQLite's WAL
lets it read while the writer writes) and sends back the rendered digest, in the weeks'
order; the caller writes the pages and saves the digests.

Only the caller writes to SQLite (pipeline.py): one writer, no write-lock contention, and
how commits are batched is its business. A worker never writes to the database.

Results are those of a serial run, to the bit: a Ranker's result for an article never
depends on what else it ranked before (digest/rank/), and results come back in the files' order,
so the store, issue ids included, is the same whatever the number of workers.

Whose fault a failure is decides where the file goes:
- a file that cannot be decoded comes back with `failed = "decode"`: the file's fault (the
  inbox moves it to failed/, `digest ingest` reports it failed);
- a parser or ranker that raises on a file comes back with `failed = "stage"`: a fault of
  the program, as everywhere in digest (the inbox hands the file back and stops the scan;
  `digest ingest` reports it as not ingested, not as a bad file);
- a worker that dies (killed, out of memory), a pool that breaks, or a ranker that cannot be
  built raise `WorkerError` and blame no file (the inbox leaves the files claimed, to be
  retried by the next scan).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

from . import decode
from .config import Config
from .model import Article, GroupingWords, ParsedIssue, Summary

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

T = TypeVar("T")
W = TypeVar("W")
R = TypeVar("R")

AHEAD = 2  # files in flight per worker: one being worked on, one waiting for it
_END = object()


class Summarizer(Protocol):
    def summarize_articles(self, articles: list[Article] | tuple[Article, ...]
                           ) -> list[Summary]: ...


class WorkerError(Exception):
    """A worker process died or could not start: the program's or machine's problem, not
    the input's. Files not yet done are left for a later run."""


class StageFault(Exception):
    """Parsing or ranking this file raised: a fault of the program, not of the file.
    `reason` is one line: the exception and where it was raised."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Prepared:
    """One file decoded, parsed and ranked, or why it could not be."""

    path: Path
    parsed: ParsedIssue | None = None
    summaries: tuple[Summary, ...] = ()
    words: GroupingWords | None = None
    encoding: str | None = None
    mtime: dt.datetime | None = None
    # Set when the file is at fault: "decode" (not readable as text: `error` is the
    # decoder's reason) or "stage" (the parser or ranker raised on it: the program's fault).
    failed: Literal["decode", "stage"] | None = None
    error: str = ""
    seconds: float = field(default=0.0, compare=False)  # worker time, for benchmarks

    def exception(self) -> Exception | None:
        """The failure as the serial path would raise it (DecodeError or StageFault)."""
        if self.failed == "decode":
            return decode.DecodeError(self.path.name, self.error)
        if self.failed == "stage":
            return StageFault(self.error)
        return None


def describe(exc: BaseException) -> str:
    """The exception and the line that raised it, for an error report."""
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = f" (at {Path(where[0].filename).name}:{where[0].lineno})" if where else ""
    return f"{type(exc).__name__}: {exc}{at}"


def rank_and_cut(ranker: Summarizer, articles) -> tuple[list[Summary], GroupingWords | None]:
    """The articles' summaries, and their grouping words when the ranker cuts them (a
    Ranker does, from the same cut; a stand-in that does not leaves them to the build,
    which cuts what the store lacks)."""
    both = getattr(ranker, "summarize_with_words", None)
    if both is not None:
        return both(articles)
    return list(ranker.summarize_articles(articles)), None


def prepare_file(path: Path, ranker: Summarizer) -> Prepared:
    """Decode, parse and rank one file. Raises only when the machine gives out (memory)."""
    return rank_parsed(parse_file(path), ranker)


def parse_file(path: Path) -> Prepared:
    """Decode and parse one file, not ranked yet (`rank_parsed` does that): the part a
    process without a ranker can do. Raises only when the machine gives out (memory)."""
    from . import parse  # here: `digest status` imports this module and never parses

    start = time.perf_counter()
    try:
        decoded = decode.read_issue_file(path)
    except decode.DecodeError as exc:
        return Prepared(path, failed="decode", error=exc.reason)
    try:
        parsed = parse.parse_issue(decoded)
    except (MemoryError, RecursionError):
        raise  # the machine's limits, not the file: let the caller retry later
    except Exception as exc:  # noqa: BLE001 - reported with the file, judged by the caller
        return Prepared(path, failed="stage", error=describe(exc))
    # The store needs neither the set-aside lines nor line numbers, nor does the ranker:
    # don't ship them from process to process.
    parsed = ParsedIssue(issue=parsed.issue, non_article=(), articles=tuple(
        dataclasses.replace(a, source_lines=()) for a in parsed.articles))
    return Prepared(path, parsed, encoding=decoded.encoding, mtime=decoded.mtime,
                    seconds=time.perf_counter() - start)


def rank_parsed(prepared: Prepared, ranker: Summarizer) -> Prepared:
    """A parsed file with its summaries (and grouping words); a failed one as it is."""
    if prepared.failed or prepared.parsed is None:
        return prepared
    start = time.perf_counter()
    try:
        summaries, words = rank_and_cut(ranker, prepared.parsed.articles)
    except (MemoryError, RecursionError):
        raise
    except Exception as exc:  # noqa: BLE001 - reported with the file, judged by the caller
        return Prepared(prepared.path, failed="stage", error=describe(exc))
    return dataclasses.replace(prepared, summaries=tuple(summaries), words=words,
                               seconds=prepared.seconds + time.perf_counter() - start)


# With `[ingest].workers = 0` (one per core), a run with less than this to read is done in
# the main process: starting a worker (interpreter, imports, tokenizer: ~2.5 s of CPU) costs
# more than it saves on a few issues (the dev papers' issues are ~200 KB each).
SMALL_RUN_BYTES = 4 << 20


def worker_count(config: Config, input_bytes: int | None = None) -> int:
    """`[ingest].workers`, 0 meaning one per core this process may run on (or 1 for less
    than SMALL_RUN_BYTES of input, when the caller knows how much there is)."""
    if config.ingest.workers > 0:
        return config.ingest.workers
    if input_bytes is not None and input_bytes < SMALL_RUN_BYTES:
        return 1
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def can_fork() -> bool:
    """Whether workers may be forks of this process: only while it runs no other thread. A
    thread (the service's scheduler, a test's SMTP server) could hold a lock at the moment
    of the fork, and the child's copy of that lock would stay locked for ever; then workers
    are spawned instead (fresh interpreters). With fork, the pool starts every worker at its
    first submit, before its own manager thread (CPython's ProcessPoolExecutor), and a
    worker leaves by os._exit, never closing the SQLite connection it inherited."""
    import multiprocessing

    return (threading.active_count() == 1
            and "fork" in multiprocessing.get_all_start_methods())


# Ranked once by the parent before it forks workers: the first ranking reads the compiled
# loops from numba's cache (~0.1 s), which each worker would otherwise do again.
WARM_UP_TEXT = "新华社北京4月28日电 国家统计局今天发布数据。专家认为，经济运行总体平稳。"


# -- in the worker processes ----------------------------------------------------------------

_config: Config | None = None
_ranker: Summarizer | None = None
_inherited: Summarizer | None = None  # set in the parent only while it forks its workers
_reader = None  # the worker's read-only Store, for building weeks
_templates = None  # its jinja2 environment


def _start_worker(config: Config, parent: int) -> None:
    """Runs first in each worker; a fork takes the parent's ranker (`_inherited`: shared
    copy-on-write, not loaded again). Ctrl-C reaches the whole process group, and the parent
    decides what it means (finish the files in flight), so workers ignore SIGINT. SIGTERM
    keeps its default: the pool stops a surviving worker with it when another one died, and
    a worker that ignored it would hang that shutdown for ever (a service sends SIGTERM to
    the parent only: `KillMode=mixed`, see the README)."""
    global _config, _ranker
    _child_signals()
    _config, _ranker = config, _inherited
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True,
                     name="parent-watch").start()
    from multiprocessing import util

    util.Finalize(None, _keep_learnt, exitpriority=10)  # run as the worker leaves


def _keep_learnt() -> None:
    """A fork leaves by os._exit, without the atexit hook that keeps what its ranker's
    lexicon learnt since it last kept it, for the next run (digest/rank/lexicon.py): that
    hook is run here, as the worker leaves or drops its ranker."""
    lexicon = getattr(getattr(_ranker, "engine", None), "lexicon", None)
    keep_new = getattr(lexicon, "_keep_new", None)
    if callable(keep_new):
        keep_new()


def _child_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A fork inherits the parent's handlers (`digest run` turns SIGTERM into a stop flag):
    # the default again, so that the pool can stop a worker.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _exit_with_parent(parent: int) -> None:
    """A parent killed outright (kill -9) cannot stop its workers, and a worker blocked on
    sending a result nobody reads would wait forever: leave once the parent is gone."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _worker_ranker() -> Summarizer:
    global _ranker
    if _ranker is None:  # built on first use; an error here is raised to the parent
        from .rank import Ranker

        assert _config is not None
        _ranker = Ranker(_config)
    return _ranker


def _work(path: Path) -> Prepared:
    return prepare_file(path, _worker_ranker())


def _rank(prepared: Prepared) -> Prepared:
    """A file the head start parsed (`HeadStart`): only ranked here."""
    return rank_parsed(prepared, _worker_ranker())


def _parse_ahead(paths: list[Path], results, stop) -> None:
    """The head start's process (a fork with no ranker): parse `paths` in order, sending
    each as done, until told to stop. Anything it does not send the pool does whole, so a
    failure here is simply a file not sent."""
    _child_signals()
    try:
        for index, path in enumerate(paths):
            if stop.is_set():
                break
            results.send((index, parse_file(path)))
    except Exception:  # noqa: BLE001, S110 - the pool does the file again, and says why
        pass
    finally:
        results.close()


def _ready(_: object) -> None:
    """Nothing: submitted to start the pool (`Preparer.warm`)."""


def _build(week):  # IsoWeek -> RenderedDigest | None
    """Group and render one week from the store, read through the worker's own connection
    (opened once; read-only, so it can never take the writer's lock)."""
    global _reader, _templates, _ranker
    from . import pipeline
    from .render import template_environment
    from .store import open_reader

    assert _config is not None
    if _reader is None:
        _keep_learnt()
        _ranker = None  # the files are done: let its lexicon go before grouping needs room
        _reader = open_reader(_config)
        _templates = template_environment(_config)
    return pipeline.build_week(_reader, _config, week, _templates)


# -- in the parent --------------------------------------------------------------------------


# How much the head start takes on: more than it can parse while the ranker loads (~0.5 s;
# it parses ~10 MB/s), so it never idles, and little enough that its issues, all in flight
# at once, weigh nothing next to the ranker.
HEAD_START_FILES = 64
HEAD_START_BYTES = 8 << 20


class HeadStart:
    """The first files decoded and parsed by a fork of this process while this process
    loads the ranker for the pool (numba, the tokenizer and its tables: ~0.5 s, during
    which every other core would idle); the pool then only ranks what it parsed. The fork
    has no ranker, so the pool's workers, forked after it, still share the one loaded
    here. What it did not send (stopped before, killed, a file that raised) the pool does
    whole: only the time depends on it, never a result."""

    def __init__(self, paths: list[Path]):
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self._stop = context.Event()
        receiver, sender = context.Pipe(duplex=False)
        self._process = context.Process(target=_parse_ahead, args=(paths, sender, self._stop),
                                        name="digest-head-start", daemon=True)
        self._process.start()
        sender.close()
        self.parsed: dict[int, Prepared] = {}
        self._count = len(paths)
        # Taken as they come, so that the fork never waits on a full pipe. The thread ends
        # with the fork's pipe, in `finish`, before the pool forks (see `can_fork`).
        self._reader = threading.Thread(target=self._receive, args=(receiver,),
                                        name="head-start-reader", daemon=True)
        self._reader.start()

    def _receive(self, receiver) -> None:
        try:
            while True:
                index, prepared = receiver.recv()
                if isinstance(prepared, Prepared) and 0 <= index < self._count:
                    self.parsed[index] = prepared
        except Exception:  # noqa: BLE001, S110 - EOF, or a fork killed mid-send: done
            pass
        finally:
            receiver.close()

    def finish(self) -> dict[int, Prepared]:
        """Stop after the file in hand, and wait for it: the files parsed, by their index in
        the paths given."""
        self._stop.set()
        self._reader.join()
        self._process.join()
        return self.parsed


class Preparer:
    """Files in, `Prepared` out, in order; see the module docstring.

    The pool starts on the first file that needs work (a run that only meets known files
    starts none) and is kept until `close()` (the end of a command, or of one cycle of the
    service, so an idle service holds no workers). After a `WorkerError` the broken pool is
    dropped and the next call starts a new one.
    """

    def __init__(self, config: Config, workers: int | None = None,
                 ranker: Summarizer | None = None, input_bytes: int | None = None):
        self.config = config
        self.workers = workers or worker_count(config, input_bytes)
        self._ranker = ranker  # for work in this process (one worker); built when needed
        self._pool: ProcessPoolExecutor | None = None
        self._to_inherit: Summarizer | None = None  # for the workers the next submit forks

    def __enter__(self) -> Preparer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def map(self, items: Iterable[T], path_of: Callable[[T], Path | None]) -> Ordered[T]:
        """For each item, in order: (item, its file prepared), or (item, None) when
        `path_of(item)` is None (nothing to do, e.g. a file already stored). Items are taken
        from `items` only as the workers have room, so a lazy iterable (claiming inbox
        files one by one) is consumed a few files ahead of the results."""
        return Ordered(self, iter(items), path_of)

    def resize(self, workers: int) -> None:
        """Use `workers` processes from now on, if none are running yet (a pool already
        started is kept: starting another would cost more than it saves)."""
        if self._pool is None:
            self.workers = max(1, workers)

    def ranker(self) -> Summarizer:
        """The ranker for work done in this process, built on first use."""
        if self._ranker is None:
            try:
                from .rank import Ranker

                self._ranker = Ranker(self.config)
            except Exception as exc:  # noqa: BLE001 - the program's problem, not a file's
                raise WorkerError(f"the ranker cannot be loaded ({describe(exc)})") from exc
        return self._ranker

    def warm(self) -> None:
        """Get ready for files now (a one-shot run waits for the inbox's files to settle:
        time enough to load the ranker and start the workers) rather than on the first
        file. A failure here is left for that file's submit to report."""
        try:
            if self.workers > 1:
                self._submit(_ready, None)
            else:
                loaded = getattr(self.ranker(), "loaded", None)
                if callable(loaded):
                    loaded()
        except Exception as exc:  # noqa: BLE001 - raised again where it is handled
            import logging

            logging.getLogger(__name__).debug("warming up: %s", describe(exc))

    def submit(self, path: Path) -> Future:
        return self._submit(_work, path)

    def submit_parsed(self, prepared: Prepared) -> Future:
        """Rank a file parsed already (by the head start)."""
        return self._submit(_rank, prepared)

    def can_head_start(self) -> bool:
        return self._pool is None and self.workers > 1 and can_fork()

    def start_with_head(self, paths: list[Path]) -> dict[int, Prepared]:
        """Start the pool for files, the first `paths` parsed meanwhile by a `HeadStart`:
        those parsed, by their index in `paths` (the rest are to be submitted whole)."""
        try:
            head: HeadStart | None = HeadStart(paths)
        except OSError:  # no fork to spare (memory, process limit): the pool does it all
            head = None
        try:
            ranker = self.shared_ranker()
        finally:
            # Its reader thread ends here, before the pool forks.
            parsed = head.finish() if head is not None else {}
        self._pool, self._to_inherit = self._start_pool(True, ranker)
        return parsed

    def _submit(self, function: Callable, argument: object) -> Future:
        # Imported here, as `parse` is below: `digest status` imports this module, never a pool.
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        global _inherited
        if self._pool is None:
            self._pool, self._to_inherit = self._start_pool(function is not _build)
        _inherited = self._to_inherit
        try:
            # With fork, this first submit forks every worker, each taking `_inherited`
            # with it; this process then lets go of it (only the workers rank). Frozen,
            # the objects they share are left out of their garbage collections, which
            # would otherwise write to (so copy) every page holding one: 40 ms of each
            # worker's first file.
            import gc

            forks = not getattr(self._pool, "_processes", None)  # none started yet
            if forks:
                gc.freeze()
            try:
                return self._pool.submit(function, argument)
            finally:
                if forks:
                    gc.unfreeze()
        except (BrokenProcessPool, RuntimeError, OSError, ValueError) as exc:
            # ValueError: a worker spawned while the pool breaks, its pipes already closed
            self.drop_pool()
            raise WorkerError(f"the worker processes cannot be started ({describe(exc)})"
                              ) from exc
        finally:
            _inherited = self._to_inherit = None

    def map_weeks(self, weeks: Iterable[W], here: Callable[[W], R]) -> Iterator[tuple[W, R]]:
        """For each week, in order: (week, its digest built by `pipeline.build_week`). With
        one worker, `here(week)` builds it in this process. An exception raised while
        building comes back as raised (a fault of the program); a worker that dies raises
        WorkerError. Stopping early (closing the iterator) cancels the weeks not started."""
        if self.workers <= 1:
            for week in weeks:
                yield week, here(week)
            return
        pending: deque[tuple[W, Future]] = deque()
        source = iter(weeks)
        try:
            while True:
                while len(pending) < self.workers * AHEAD:
                    week = next(source, _END)
                    if week is _END:
                        break
                    pending.append((week, self._submit(_build, week)))
                if not pending:
                    return
                week, future = pending.popleft()
                try:
                    result = future.result()
                except Exception as exc:
                    from concurrent.futures.process import BrokenProcessPool

                    if not isinstance(exc, BrokenProcessPool):
                        raise  # the build's own error, raised as in this process
                    self.drop_pool()
                    raise WorkerError(f"a worker process failed ({describe(exc)}); the weeks "
                                      f"not built yet are left for the next run") from exc
                yield week, result
        finally:
            for _, future in pending:
                future.cancel()

    def _start_pool(self, for_files: bool, loaded: Summarizer | None = None
                    ) -> tuple[ProcessPoolExecutor, Summarizer | None]:
        """A pool of forks of this process when that is safe (see `can_fork`), with the
        ranker they are to share (for files): forks start in milliseconds and share,
        copy-on-write, a ranker loaded and warmed once, here, instead of each starting an
        interpreter and loading its own (~1.3 s of CPU a worker, more from an empty state,
        whose caches each would build). Otherwise spawned: fresh interpreters."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ranker = None
        if can_fork():
            method = "fork"
            if for_files:
                ranker = loaded or self.shared_ranker()
        else:
            method = "spawn"
        return ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context(method),
            initializer=_start_worker, initargs=(self.config, os.getpid())), ranker

    def shared_ranker(self) -> Summarizer:
        """A Ranker of this config, loaded and warmed here (its compiled loops read from
        numba's cache) for forked workers to inherit ready, with the parser's modules: the
        caller's if it is loaded already, else a new one, dropped here once the workers
        have it. A worker's results never depend on which (digest/rank/)."""
        from .rank import Ranker

        try:
            ranker = getattr(self._ranker, "_ranker", self._ranker)  # a LazyRanker's
            if not isinstance(ranker, Ranker):
                ranker = Ranker(self.config)
            ranker.summarize(WARM_UP_TEXT)
            ranker.preload()
            from . import parse  # noqa: F401 - loaded once here for the forks, as the ranker
        except Exception as exc:  # noqa: BLE001 - the program's problem, not a file's
            raise WorkerError(f"the ranker cannot be loaded ({describe(exc)})") from exc
        return ranker

    def drop_pool(self) -> None:
        """Stop a pool that failed: kill its workers, then wait for its manager thread.

        A plain `shutdown(wait=False)` is not enough on CPython 3.11-3.13: a worker spawned
        by a submit while the pool was breaking is missed by the pool's own terminate, and
        the pool's manager thread then waits for it for ever, so the program hangs at exit
        (seen in the test suite). Killing every worker the pool knows (what 3.14's
        `kill_workers()` does) lets that thread finish; nothing is lost, as the files not
        done are left for the next run (WorkerError)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # Taken first: shutdown() forgets both.
        processes = list((getattr(pool, "_processes", None) or {}).values())
        manager = getattr(pool, "_executor_manager_thread", None)
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            try:
                process.kill()
            except (OSError, ValueError):  # already reaped, or closed
                pass
        if manager is not None:
            manager.join(timeout=60)


class Ordered(Iterator[tuple[T, "Prepared | None"]]):
    """`Preparer.map`'s results, in order; `ready()` says whether the next one is there
    without waiting (a writer commits what it holds rather than wait with the lock)."""

    def __init__(self, preparer: Preparer, source: Iterator[T],
                 path_of: Callable[[T], Path | None]):
        self.preparer = preparer
        self.source = source
        self.path_of = path_of
        self.queue: deque[tuple[T, Future | None]] = deque()
        self.in_flight = 0
        self.exhausted = False
        self.here = preparer.workers <= 1

    def ready(self) -> bool:
        if self.here or not self.queue:
            return False  # the next result would be computed (or claimed) only now
        future = self.queue[0][1]
        return future is None or future.done()

    def __next__(self) -> tuple[T, Prepared | None]:
        if self.here:
            item = next(self.source)
            path = self.path_of(item)
            if path is None:
                return item, None
            try:
                return item, prepare_file(path, self.preparer.ranker())
            except (MemoryError, RecursionError) as exc:
                raise WorkerError(f"out of resources ({describe(exc)}); the files not done "
                                  f"yet are left for the next run") from exc
        self._fill()
        if not self.queue:
            raise StopIteration
        item, future = self.queue.popleft()
        if future is None:
            return item, None
        self.in_flight -= 1
        try:
            return item, future.result()
        except Exception as exc:  # noqa: BLE001 - prepare_file raises only for these
            # A dead worker (BrokenProcessPool), no memory, a ranker that cannot be built:
            # never the file's fault.
            self.close()
            self.preparer.drop_pool()
            raise WorkerError(f"a worker process failed ({describe(exc)}); the files not "
                              f"done yet are left for the next run") from exc

    def _fill(self) -> None:
        if not self.exhausted and self.preparer.can_head_start():
            self._start_with_head()
        limit = self.preparer.workers * AHEAD
        while not self.exhausted and self.in_flight < limit:
            item = next(self.source, _END)
            if item is _END:
                self.exhausted = True
                return
            path = self.path_of(item)
            future = self.preparer.submit(path) if path is not None else None
            self.in_flight += future is not None
            self.queue.append((item, future))

    def _start_with_head(self) -> None:
        """Take the first files (up to HEAD_START_FILES and HEAD_START_BYTES) for a head
        start while the pool starts, then queue them: ranked only if parsed, whole if not."""
        from concurrent.futures import Future

        taken: list[tuple[T, Path | None]] = []
        size = 0
        while len(taken) < HEAD_START_FILES and size < HEAD_START_BYTES:
            item = next(self.source, _END)
            if item is _END:
                self.exhausted = True
                break
            path = self.path_of(item)
            taken.append((item, path))
            if path is not None:
                size += file_size(path)
        paths = [path for _, path in taken if path is not None]
        parsed = self.preparer.start_with_head(paths) if paths else {}
        index = 0
        for item, path in taken:
            future: Future | None = None
            if path is not None:
                done = parsed.get(index)
                index += 1
                if done is None:
                    future = self.preparer.submit(path)
                elif done.failed:
                    future = Future()
                    future.set_result(done)
                else:
                    future = self.preparer.submit_parsed(done)
                self.in_flight += 1
            self.queue.append((item, future))

    def close(self) -> None:
        """Cancel what was submitted and not taken (a consumer that stops early)."""
        while self.queue:
            _, future = self.queue.popleft()
            if future is not None:
                future.cancel()
        self.in_flight = 0


def file_size(path: Path) -> int:
    """The file's size, 0 if it cannot be read: reading it says why, later."""
    try:
        return path.stat().st_size
    except OSError:
        return 0
