"""The unattended service: `digest serve` (APScheduler) and `digest run` (the same work once).

One cycle (`run_once`) does, in order: take stable inbox files and ingest them; build every
week that is due and not built (or that gained an issue since it was built); send every due
email. "Due" is decided from our own records, never from the scheduler's memory: APScheduler
drops runs missed while the process was down and advances a job when it starts, not when it
succeeds. So every cycle is a catch-up:

- a week is due once its first digest moment (`schedule.digest_day` at `digest_time`, in
  `digest.timezone`) after it ended has passed; it is built when our ledger of built weeks
  (`service_weeks`) lacks it, or it was built from fewer issues than the store now has;
- its emails are due while the week is within `email.catch_up_weeks` of now and the email
  ledger has no final row for the (week, subscriber) pair, or a retry whose time has come.
  A week's mail carries the stories of that week the subscriber has not had, and, in a
  section of their own, stories of earlier weeks (within the window) that arrived after
  those weeks were mailed: the story ledger says who has had what, so every story reaches
  each subscriber once. A due week without articles still gets its mail if late stories
  are waiting.

`serve` runs a cycle at start-up, then every `schedule.scan_seconds`, and also on the weekly
cron trigger; both jobs share one worker thread, so cycles never overlap. One instance per
state folder (an flock on `<state>/digest.lock`). SIGTERM or SIGINT lets the current step
(one file, one week, one email) finish, then the process exits 0.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import fcntl
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Config, ConfigError, SubscriberConfig
from .ingest import (CLAIM_DIR, ERROR_SUFFIX, InboxOutcome, Ingestor, NotTheFilesFault,
                     StabilityTracker, UnsafeFolder, guard_folder, inbox_candidates, is_ignored,
                     process_inbox, recent_results, record_result, wait_and_process_inbox)
from .ledger import LedgerRow, ledger_rows
from .model import Theme
from .sanitize import shown
from .store import Store, open_store
from .weeks import IsoWeek

if TYPE_CHECKING:
    from . import deliver, pipeline

# The stages (pipeline, deliver, render, themes, decode) are imported by the functions that
# use them: `digest status` lives here and must start in a fraction of a second
# (tests/test_cli_start.py).

log = logging.getLogger(__name__)

LOCK_NAME = "digest.lock"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class AlreadyRunning(Exception):
    """Another digest process holds the state folder."""


# -- one instance per state folder --------------------------------------------------------


# Lock descriptors this process holds. A forked worker (digest/workers.py) would share the
# lock through its copy of the descriptor and keep it after its parent died, until it
# noticed; so a fork closes its copies at once (flock: its parent's lock stays held).
_held_locks: set[int] = set()


def _drop_inherited_locks() -> None:
    for fd in _held_locks:
        try:
            os.close(fd)
        except OSError:
            pass
    _held_locks.clear()


os.register_at_fork(after_in_child=_drop_inherited_locks)


@contextmanager
def instance_lock(config: Config) -> Iterator[Path]:
    """Hold `<state>/digest.lock` for the duration, or raise AlreadyRunning.

    flock is released by the kernel when the process dies, even by kill -9, so a crash never
    leaves a stale lock behind. The file holds the owner's pid for messages and status.
    """
    state = Path(config.paths.state)
    state.mkdir(parents=True, exist_ok=True)
    path = state / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            owner = lock_owner(config)
            raise AlreadyRunning(
                f"another digest process{f' (pid {owner})' if owner else ''} is already "
                f"using the state folder {state}; stop it first, or give this one its own "
                f"[paths].state / $DIGEST_HOME") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        _held_locks.add(fd)
        yield path
    finally:
        _held_locks.discard(fd)
        os.close(fd)  # releases the lock


def lock_owner(config: Config) -> int | None:
    """The pid recorded in the lock file, if that process is alive (for messages only)."""
    try:
        pid = int((Path(config.paths.state) / LOCK_NAME).read_text().strip() or 0)
    except (OSError, ValueError):
        return None
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


# -- when weeks are due -------------------------------------------------------------------


def digest_moment(config: Config, week: IsoWeek) -> dt.datetime:
    """The first configured digest day and time after `week` ended (its Sunday midnight)."""
    hour, minute = (int(part) for part in config.schedule.digest_time.split(":"))
    next_monday = week.sunday + dt.timedelta(days=1)
    day = next_monday + dt.timedelta(days=DAYS.index(config.schedule.digest_day))
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=config.tz)


def is_due(config: Config, week: IsoWeek, now: dt.datetime) -> bool:
    return digest_moment(config, week) <= now


def is_mailable(config: Config, week: IsoWeek, now: dt.datetime) -> bool:
    """Catch-up has a horizon: a fresh install fed a year of archives must not mail 52
    digests. Weeks older than `email.catch_up_weeks` are built but not mailed."""
    oldest = IsoWeek.current(config.tz, now).monday - dt.timedelta(
        weeks=config.email.catch_up_weeks)
    return is_due(config, week, now) and week.monday >= oldest


def issues_per_week(store: Store) -> dict[IsoWeek, int]:
    """How many stored issues have articles in each week (issues are only ever added)."""
    rows = store.conn.execute(
        "SELECT week, count(DISTINCT issue_id) FROM articles GROUP BY week").fetchall()
    return {IsoWeek.parse(week): count for week, count in rows}


def built_weeks(store: Store) -> dict[IsoWeek, int]:
    """Our ledger of built weeks: week -> how many issues it was built from."""
    rows = store.conn.execute("SELECT week, issue_count FROM service_weeks").fetchall()
    return {IsoWeek.parse(week): count for week, count in rows}


def record_built(store: Store, week: IsoWeek, issues: int, now: dt.datetime) -> None:
    store.conn.execute(
        "INSERT INTO service_weeks (week, issue_count, built_at) VALUES (?,?,?)"
        " ON CONFLICT (week) DO UPDATE SET issue_count = excluded.issue_count,"
        " built_at = excluded.built_at",
        (str(week), issues, now.astimezone(dt.timezone.utc).isoformat(timespec="seconds")))


def weeks_to_build(config: Config, store: Store, now: dt.datetime) -> dict[IsoWeek, int]:
    """Due weeks with articles that were never built, or were built from fewer issues than
    the store now has for them (a late issue); with their current issue counts."""
    built = built_weeks(store)
    return {week: issues for week, issues in sorted(issues_per_week(store).items())
            if is_due(config, week, now) and built.get(week) != issues}


def oldest_mailable(config: Config, now: dt.datetime) -> IsoWeek:
    return IsoWeek.of(IsoWeek.current(config.tz, now).monday - dt.timedelta(
        weeks=config.email.catch_up_weeks))


def weeks_to_mail(config: Config, store: Store, now: dt.datetime) -> list[IsoWeek]:
    """Every due week of the catch-up window, with articles or not: a week without papers
    still carries the late stories of the week before (its composer returns None, and the
    ledger says `empty`, when there is nothing). Weeks before the first stored article have
    nothing to carry, so the window starts there at the earliest."""
    stored = store.weeks()
    if not stored:
        return []
    week, weeks = max(oldest_mailable(config, now), stored[0]), []
    while is_due(config, week, now):
        weeks.append(week)
        week = IsoWeek.of(week.monday + dt.timedelta(days=7))
    return weeks


# -- the stages, wired to the store -------------------------------------------------------


def store_ingestor(store: Store, ranker: pipeline.Summarizer,
                   preparer: pipeline.Preparer | None = None) -> Ingestor:
    """Decode errors propagate (the inbox moves the file to failed/); storing is one
    transaction keyed by sha256 (pipeline.store_decoded). With a `preparer`, files are
    decoded, parsed and ranked by its workers and stored in batches (ingest_claimed)."""
    from . import decode, pipeline

    def ingest(path: Path) -> object:
        return pipeline.store_decoded(store, decode.read_issue_file(path), ranker, path)
    many = None if preparer is None else (
        lambda paths: pipeline.ingest_claimed(store, preparer, paths))
    return Ingestor(is_stored=store.has_file, ingest=ingest, ingest_many=many)


def undelivered(themes: Sequence[Theme], theme_names: Sequence[str], delivered: set[int]
                ) -> tuple[list[Theme], set[int]]:
    """The themes (a subscriber's, none named: all) cut down to stories none of whose
    printings this subscriber has had; and the ids those stories carry. A story of which
    one printing was delivered is not sent again: its other printings are settled with it."""
    chosen, ids = [], set()
    for theme in themes:
        if theme_names and theme.name not in theme_names:
            continue
        stories = []
        for story in theme.stories:
            members = {a.id for a in (story.lead, *story.also_in)}
            if not members & delivered:
                stories.append(story)
            ids |= members - delivered
        if stories:
            chosen.append(dataclasses.replace(theme, stories=tuple(stories)))
    return chosen, ids


def store_composer(config: Config, store: Store, now: dt.datetime) -> deliver.Composer:
    """A week's mail for one subscriber: the week's stories in their themes (none named:
    every theme) that they have not had, and a 补发 section with earlier weeks' stories of
    the catch-up window that arrived after those weeks were mailed to them."""
    from . import deliver
    from .render import mail_links, render_week
    from .themes import group_week

    grouped: dict[IsoWeek, tuple[Theme, ...]] = {}
    built = {IsoWeek.parse(row[0]) for row in store.conn.execute("SELECT week FROM digests")}

    def themes_of(week: IsoWeek) -> tuple[Theme, ...]:
        if week not in grouped:
            grouped[week] = group_week(store.articles_in_week(week), config)
        return grouped[week]

    def compose(week: str, subscriber: SubscriberConfig) -> deliver.Letter | None:
        iso = IsoWeek.parse(week)
        delivered = deliver.delivered_articles(store.conn, subscriber.email)
        # Late stories come only from weeks whose own mail to this subscriber is settled
        # (sent, empty or given up): a week waiting for a retry, or not mailed yet (a dry
        # run, which records nothing), carries its stories itself.
        settled = {r.week for r in ledger_rows(store.conn)
                   if r.subscriber == subscriber.email.lower()
                   and r.status in ("sent", "empty", "gave_up")}
        main, ids = undelivered(themes_of(iso), subscriber.themes, delivered)
        late = []
        for earlier in store.weeks():
            if oldest_mailable(config, now) <= earlier < iso and str(earlier) in settled:
                themes, more = undelivered(themes_of(earlier), subscriber.themes, delivered)
                if themes:
                    late.append((earlier, themes))
                    ids |= more
        if not main and not late:
            return None
        links = mail_links(config, iso, has_page=bool(main) and iso in built)
        rendered = render_week(config, iso, main, late=late, links=links)
        lead = (main[0] if main else late[0][1][0]).stories[0].lead
        return deliver.Letter(week=week, start=iso.monday, end=iso.sunday, text=rendered.text,
                              html=rendered.html, stories=rendered.story_count,
                              headline=lead.title or "", article_ids=tuple(sorted(ids)))
    return compose


# -- one cycle ----------------------------------------------------------------------------


def waiting_bytes(config: Config) -> int | None:
    """How much the inbox holds (claimed files included): a few small files are ranked in
    this process rather than by workers started for them (workers.SMALL_RUN_BYTES)."""
    total = sum(st.st_size for st in inbox_candidates(config).values())
    claimed = Path(config.paths.inbox) / CLAIM_DIR
    try:
        if claimed.is_dir() and not claimed.is_symlink():
            total += sum(p.stat().st_size for p in claimed.iterdir() if p.is_file())
    except OSError:
        return None  # the scan itself reports what is wrong
    return total


@dataclass
class RunReport:
    inbox: list[InboxOutcome] = field(default_factory=list)
    built: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    delivery: deliver.DeliveryReport | None = None
    stopped: bool = False  # a stop was requested before the cycle finished
    article_weeks: set[str] = field(default_factory=set)  # weeks that have articles
    # Mails of the catch-up window waiting for a retry after this cycle: (week, address,
    # next try, last error).
    pending: list[tuple[str, str, dt.datetime | None, str]] = field(default_factory=list)
    no_links: bool = False  # mail went out while [digest].base_url is empty
    # Ingesting stopped on a fault of the program or its config (the file is back in the
    # inbox); building and mailing what is due still went ahead.
    fault: str | None = None


# `digest run` exit statuses, for cron and monitoring (README: "Exit statuses"). A fault (1)
# comes first; otherwise, when several apply, the highest wins; the printed lines say
# everything that happened.
EXIT_OK = 0
EXIT_LOCKED = 1  # another digest process holds the state folder
EXIT_FAULT = 1  # a fault of digest or its config (not of a file) stopped ingesting; first
EXIT_CONFIG = 2  # bad config (also: a missing inbox, a password variable that is not set)
EXIT_FILE_FAILED = 3  # an inbox file could not be read: it is in failed/ with the reason
EXIT_MAIL_PENDING = 4  # a mail failed and waits for a retry
EXIT_MAIL_GAVE_UP = 5  # a mail was given up in this run (5xx, or max_attempts reached)


def exit_status(report: RunReport) -> int:
    if report.fault:
        return EXIT_FAULT
    delivery = report.delivery
    if delivery and delivery.gave_up:
        return EXIT_MAIL_GAVE_UP
    if report.pending:
        return EXIT_MAIL_PENDING
    if any(r.outcome == "failed" for r in report.inbox):
        return EXIT_FILE_FAILED
    return EXIT_OK


def check_folders(config: Config) -> None:
    """Before the service starts: the inbox must be a folder that exists (a typo there would
    make a service that watches nothing, silently); archive, failed and output are created
    when missing; none of them may be a file."""
    paths = config.paths
    for key in ("inbox", "archive", "failed", "output"):
        folder = Path(getattr(paths, key))
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"paths.{key}: {str(folder)!r} is a file, not a folder; point "
                              f"paths.{key} at a folder")
    inbox = Path(paths.inbox)
    if not inbox.is_dir():
        raise ConfigError(f"paths.inbox: folder {str(inbox)!r} does not exist; create it "
                          f"(mkdir -p {inbox}) or fix the path")
    for key in ("archive", "failed", "output"):
        folder = Path(getattr(paths, key))
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"paths.{key}: cannot create {str(folder)!r} "
                              f"({exc.strerror}); create it or fix the path") from None


def check_password(config: Config) -> None:
    """Email that logs in needs its password at start, not as a retry every few minutes."""
    email = config.email
    if email.enabled and email.username and not os.environ.get(email.password_env):
        raise ConfigError(f"email.password_env: email.username is set but the environment "
                          f"variable {email.password_env} is not set or empty; put the SMTP "
                          f"password there (e.g. in the service's EnvironmentFile)")


def check_start(config: Config, *, dry_run: bool = False) -> None:
    check_folders(config)
    if not dry_run:
        check_password(config)


def pending_mail(config: Config, store: Store, now: dt.datetime
                 ) -> list[tuple[str, str, dt.datetime | None, str]]:
    window = {str(w) for w in weeks_to_mail(config, store, now)}
    return [(r.week, r.subscriber, r.next_try, r.last_error or "")
            for r in ledger_rows(store.conn, sorted(window))
            if r.status == "retry"] if window and config.email.enabled else []


# Due weeks are built in runs of this many (on every core), each run's pages written, the
# index and feed rewritten once, and only then recorded as built: a catch-up of a year
# rewrites the index a few times, not once a week, and a crash loses at most one run.
BUILD_RUN_WEEKS = 8


def build_due_weeks(config: Config, store: Store, preparer: pipeline.Preparer,
                    report: RunReport, should_stop: Callable[[], bool],
                    now: Callable[[], dt.datetime]) -> None:
    """Build every due week that is not built (or gained an issue), each once."""
    from . import pipeline

    due = weeks_to_build(config, store, now())
    weeks = list(due)
    if not weeks or should_stop():
        return
    preparer.resize(pipeline.build_workers(config, store, weeks))
    for start in range(0, len(weeks), BUILD_RUN_WEEKS):
        if should_stop():
            break
        result = pipeline.build_weeks(config, weeks[start:start + BUILD_RUN_WEEKS],
                                      store=store, preparer=preparer,
                                      should_stop=should_stop)
        done = {d.week for d in result.digests} | set(result.empty_weeks)
        for week in weeks[start:start + BUILD_RUN_WEEKS]:
            if week in done:  # after its files and the index: a crash rebuilds it
                record_built(store, week, due[week], now())
                report.built.append(str(week))
                log.info("built the digest of %s", week)
        report.written += list(result.written)


def warm_while_waiting(preparer: pipeline.Preparer, seconds: float) -> None:
    """The wait for the inbox's files to settle (`stable_seconds`, 5 s by default), spent
    loading the ranker and starting the workers, which the first file would wait for."""
    import time

    until = time.monotonic() + seconds
    preparer.warm()
    time.sleep(max(0.0, until - time.monotonic()))


def run_once(config: Config, *, tracker: StabilityTracker | None = None,
             ranker: pipeline.Summarizer | None = None, dry_run: bool = False,
             should_stop: Callable[[], bool] = lambda: False,
             now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
             ) -> RunReport:
    """Inbox -> ingest -> build due weeks -> send due emails; each step skipped on stop.

    With a `tracker` (the service) a file is taken once it has been seen unchanged across
    scans; without one (a one-shot run) the run waits out the stability delay once itself.
    """
    from . import deliver, pipeline

    report = RunReport()
    ranker = ranker or pipeline.LazyRanker(config)
    with open_store(config) as store:
        def record(outcome: InboxOutcome) -> None:
            record_result(store.conn, outcome)
            report.inbox.append(outcome)

        # Workers for the inbox (started on the first file to parse), then for building the
        # due weeks, gone before mail is composed. With one worker, `ranker` works here.
        with pipeline.Preparer(config, ranker=ranker,
                               input_bytes=waiting_bytes(config)) as preparer:
            ingestor = store_ingestor(store, ranker, preparer)
            try:
                if tracker is not None:
                    process_inbox(config, tracker, ingestor, on_result=record,
                                  should_stop=should_stop)
                else:
                    wait_and_process_inbox(config, ingestor, on_result=record,
                                           should_stop=should_stop,
                                           sleep=lambda seconds: warm_while_waiting(
                                               preparer, seconds))
            except NotTheFilesFault as exc:
                report.fault = str(exc)
                log.error("%s", exc)
            build_due_weeks(config, store, preparer, report, should_stop, now)
        if not should_stop():
            moment = now()
            report.delivery = deliver.deliver(
                config, store.conn, [str(w) for w in weeks_to_mail(config, store, moment)],
                store_composer(config, store, moment), dry_run=dry_run, now=moment,
                should_stop=should_stop)
            report.no_links = bool(report.delivery.sent) and not config.digest.base_url
        report.article_weeks = {str(w) for w in store.weeks()}
        if not dry_run:
            report.pending = pending_mail(config, store, now())
    report.stopped = should_stop()
    return report


# -- stopping cleanly -----------------------------------------------------------------------


class StopSignal:
    """SIGTERM/SIGINT -> a flag the cycle checks between steps.

    The handler only writes a byte to a pipe (async-signal-safe); a watcher thread reads it
    and does the real work (setting the flag, shutting the scheduler down), because
    taking locks inside a signal handler can deadlock against the interrupted main thread.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.requested = threading.Event()
        self._read, self._write = os.pipe()
        self._previous: dict[int, object] = {}

    def install(self) -> None:
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._on_signal)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        for fd in (self._read, self._write):
            try:
                os.close(fd)
            except OSError:
                pass

    def _on_signal(self, signum: int, frame: object) -> None:
        try:
            os.write(self._write, bytes([signum]))
        except OSError:
            pass

    def wait(self) -> int:
        """Block until a signal arrives; return its number."""
        data = os.read(self._read, 1)
        self.requested.set()
        return data[0] if data else 0

    def is_set(self) -> bool:
        return self.requested.is_set()


# -- digest serve ---------------------------------------------------------------------------


class _ExpectedOverlap(logging.Filter):
    """A scan that comes due while a long cycle still runs is skipped by design (one worker,
    max_instances=1); APScheduler warns about it every time, which would only be noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


def make_scheduler(config: Config, cycle: Callable[[], None]):
    """BlockingScheduler with the inbox job (now, then every scan_seconds) and the weekly
    digest job (cron); one worker thread, so the two never run at the same time."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    schedule = config.schedule
    # A missed run is run once, late, within the grace time (coalesce: never several times).
    job_options = {"coalesce": True, "max_instances": 1,
                   "misfire_grace_time": schedule.misfire_grace_seconds}
    scheduler = BlockingScheduler(
        timezone=config.tz, executors={"default": ThreadPoolExecutor(max_workers=1)})
    scheduler_log = logging.getLogger("apscheduler.scheduler")  # APScheduler's own logger
    if not any(isinstance(f, _ExpectedOverlap) for f in scheduler_log.filters):
        scheduler_log.addFilter(_ExpectedOverlap())
    scheduler.add_job(cycle, IntervalTrigger(seconds=schedule.scan_seconds, timezone=config.tz),
                      id="inbox", name="scan the inbox, build and send what is due",
                      next_run_time=dt.datetime.now(config.tz), **job_options)
    hour, minute = (int(part) for part in schedule.digest_time.split(":"))
    scheduler.add_job(cycle, CronTrigger(day_of_week=schedule.digest_day, hour=hour,
                                         minute=minute, timezone=config.tz),
                      id="weekly", name="weekly digest", **job_options)
    return scheduler


def serve(config: Config) -> int:
    """Run until SIGTERM/SIGINT; 0 after a clean stop, 1 if another instance holds the lock.
    Raises ConfigError before starting when a folder or the SMTP password is missing."""
    check_start(config)
    if config.email.enabled and not config.digest.base_url:
        log.warning("[digest].base_url is empty: mail carries no links to the web pages; "
                    "set it to the address where %s is published", config.paths.output)
    try:
        with instance_lock(config):
            serve_until_stopped(config)
    except AlreadyRunning as exc:
        log.error("%s", exc)
        return 1
    return 0


def cycle_runner(config: Config, stop: StopSignal) -> Callable[[], None]:
    """The scheduled job: one run_once, with state kept between cycles (the stability
    tracker, the loaded ranker); a failed cycle is logged and the next one retries."""
    from . import pipeline

    tracker = StabilityTracker(config.schedule.stable_seconds)
    ranker = pipeline.LazyRanker(config)
    busy = threading.Lock()

    def cycle() -> None:
        if stop.is_set():
            return
        with busy:
            try:
                log_report(run_once(config, tracker=tracker, ranker=ranker,
                                    should_stop=stop.is_set))
            except UnsafeFolder as exc:
                log.error("%s; the next cycle retries", exc)
            except Exception:  # noqa: BLE001 - the service must outlive a bad cycle
                log.exception("cycle failed; the next one retries")
    return cycle


def serve_until_stopped(config: Config) -> None:
    from apscheduler.events import EVENT_SCHEDULER_STARTED

    stop = StopSignal()
    stop.install()
    try:
        scheduler = make_scheduler(config, cycle_runner(config, stop))

        def shut_down_on_signal() -> None:
            signum = stop.wait()
            log.info("%s received: finishing the current step, then stopping",
                     signal.Signals(signum).name if signum else "stop")
            scheduler.shutdown(wait=True)  # returns once a running cycle has finished

        watcher = threading.Thread(target=shut_down_on_signal, name="stop-watcher",
                                   daemon=True)
        # Started once the scheduler runs (shutdown needs a running scheduler); a signal that
        # came earlier waits in the pipe meanwhile.
        scheduler.add_listener(lambda event: watcher.start(), EVENT_SCHEDULER_STARTED)
        log.info("serving: inbox %s every %ss, weekly digest %s %s %s", config.paths.inbox,
                 config.schedule.scan_seconds, config.schedule.digest_day,
                 config.schedule.digest_time, config.digest.timezone)
        scheduler.start()
        watcher.join()  # the main loop may return before shutdown has waited for the cycle
        log.info("stopped")
    finally:
        stop.restore()


def run(config: Config, *, dry_run: bool = False, now: dt.datetime | None = None
        ) -> tuple[int, RunReport | None]:
    """`digest run`: one cycle under the lock; SIGTERM/SIGINT stop between steps. `now`
    replays a moment (`--now`); the status is one of the EXIT_* codes. Raises ConfigError
    before taking anything when a folder or the SMTP password is missing."""
    check_start(config, dry_run=dry_run)
    clock = (lambda: now) if now is not None else (
        lambda: dt.datetime.now(dt.timezone.utc))
    try:
        with instance_lock(config):
            stop = threading.Event()
            previous = {s: signal.signal(s, lambda signum, frame: stop.set())
                        for s in StopSignal.SIGNALS}
            try:
                report = run_once(config, dry_run=dry_run, should_stop=stop.is_set,
                                  now=clock)
            finally:
                for signum, handler in previous.items():
                    signal.signal(signum, handler)
    except AlreadyRunning as exc:
        log.error("%s", exc)
        return EXIT_LOCKED, None
    log_report(report)
    return exit_status(report), report


def report_lines(report: RunReport) -> list[str]:
    """What `digest run` prints: one line per file, week and email, then a total."""
    lines = [f"{r.outcome}: {shown(r.name)} -> {shown(r.moved_to)}"
             + (f" ({shown(r.reason)})" if r.reason else "") for r in report.inbox]
    lines += [f"built: {week}" for week in report.built]
    delivery = report.delivery
    if delivery:
        lines += [f"sent: {week} to {address} ({delivery.stories.get((week, address), 0)} "
                  f"stories)" for week, address in delivery.sent if not delivery.written]
        lines += [f"wrote: {path}" for path in delivery.written]
        gave_up = {(week, address) for week, address, _ in delivery.gave_up}
        lines += [f"not sent: {week} to {address}: {error}"
                  for week, address, error in delivery.failed if (week, address) not in gave_up]
        lines += [f"given up: {week} to {address}: {error}"
                  for week, address, error in delivery.gave_up]
        lines += [f"not tried: {week} to {address} (the server could not be reached)"
                  for week, address in delivery.deferred]
        lines += [f"nothing for: {address} in {week} (no story in their themes)"
                  for week, address in delivery.empty if week in report.article_weeks]
    just_failed = {(week, address) for week, address, _ in (delivery.failed if delivery else [])}
    lines += [f"pending retry: {week} to {address}"
              + (f", next try {when:%Y-%m-%d %H:%M} UTC" if when else "")
              for week, address, when, _ in report.pending if (week, address) not in just_failed]
    if report.no_links:
        lines.append("note: [digest].base_url is empty, so the mail has no links to the web "
                     "pages; set it to the address where the output folder is published")
    if report.fault:
        lines.append(f"error: {report.fault}")
    if report.stopped:
        lines.append("stopped early on request; the next run continues")
    return lines


def log_report(report: RunReport) -> None:
    delivery = report.delivery
    if not (report.inbox or report.built or (delivery and (delivery.sent or delivery.failed
                                                           or delivery.written))):
        return
    counts = {outcome: sum(1 for r in report.inbox if r.outcome == outcome)
              for outcome in ("ingested", "duplicate", "failed")}
    log.info("cycle: %d ingested, %d duplicate, %d failed; built %s; mail: %d %s, "
             "%d failed, %d empty", counts["ingested"], counts["duplicate"], counts["failed"],
             ", ".join(report.built) or "nothing", len(delivery.sent) if delivery else 0,
             "written" if delivery and delivery.written else "sent",
             len(delivery.failed) if delivery else 0, len(delivery.empty) if delivery else 0)


# -- digest status --------------------------------------------------------------------------


def _local(moment: dt.datetime | str | None, config: Config) -> str:
    if moment is None:
        return "-"
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    return moment.astimezone(config.tz).strftime("%Y-%m-%d %H:%M")


def status_lines(config: Config, now: dt.datetime | None = None) -> list[str]:
    """What `digest status` prints: service, inbox, last ingests, weeks, mail, failures."""
    now = now or dt.datetime.now(dt.timezone.utc)
    owner = lock_owner(config)
    lines = [f"service: {'running (pid %d)' % owner if owner else 'not running'}"
             f"  state {config.paths.state}"]
    lines += _inbox_lines(config)
    with open_store(config) as store:
        lines += _ingest_lines(config, store)
        lines += _week_lines(config, store, now)
    lines += _failure_lines(config)
    return lines


def _entry_kind(entry: os.DirEntry) -> str:
    if entry.is_symlink():
        return "symbolic link, never followed"
    if entry.is_dir(follow_symlinks=False):
        return "folder"
    return "not a regular file (FIFO, socket or device)"


def _inbox_lines(config: Config) -> list[str]:
    """Every name in the inbox is accounted for: waiting, being processed, ignored, or not
    taken (links, FIFOs, folders), each shown escaped so a name cannot forge a line."""
    inbox = Path(config.paths.inbox)
    waiting = sorted(inbox_candidates(config))
    claimed: list[str] = []
    refused: list[str] = []
    try:
        guard_folder(config, inbox / CLAIM_DIR)
        if (inbox / CLAIM_DIR).is_dir():
            claimed = sorted(p.name for p in (inbox / CLAIM_DIR).iterdir())
    except UnsafeFolder as exc:
        refused.append(str(exc))
    ignored: list[str] = []
    other: list[tuple[str, str]] = []
    try:
        entries = sorted(os.scandir(inbox), key=lambda e: e.name) if inbox.is_dir() else []
    except OSError:
        entries = []
    working = {inbox / CLAIM_DIR, Path(config.paths.archive), Path(config.paths.failed),
               Path(config.paths.output)}
    for entry in entries:
        if Path(entry.path) in working and not entry.is_symlink():
            continue
        if is_ignored(entry.name, config.schedule.ignore):
            ignored.append(entry.name)
        elif entry.name not in waiting:
            try:
                other.append((entry.name, _entry_kind(entry)))
            except OSError:
                continue
    lines = [f"inbox: {shown(inbox)}: {len(waiting)} waiting, {len(claimed)} being processed, "
             f"{len(ignored)} ignored, {len(other)} not taken"]
    lines += [f"  refused: {reason}" for reason in refused]
    lines += [f"  waiting: {shown(name)}" for name in waiting[:20]]
    lines += [f"  processing: {shown(name)}" for name in claimed[:20]]
    lines += [f"  ignored: {shown(name)}" for name in ignored[:20]]
    lines += [f"  not taken: {shown(name)} ({kind})" for name, kind in other[:20]]
    return lines


def _ingest_lines(config: Config, store: Store) -> list[str]:
    rows = recent_results(store.conn, 10)
    lines = [f"last ingests: {len(store.issues())} issues stored"]
    for row in rows:
        reason = f" ({row['reason']})" if row["reason"] else ""
        lines.append(f"  {_local(row['at'], config)}  {row['outcome']:<9} {shown(row['name'])}"
                     f" -> {shown(row['moved_to'])}{shown(reason)}")
    return lines


def _week_lines(config: Config, store: Store, now: dt.datetime) -> list[str]:
    digests = {d.week: d for d in store.digests()}
    ledger: dict[str, list[LedgerRow]] = {}
    for row in ledger_rows(store.conn):
        ledger.setdefault(row.week, []).append(row)
    weeks = sorted(set(store.weeks()) | set(digests))
    lines = [f"weeks: {len(weeks)} with articles, {len(digests)} built"]
    for week in weeks[-12:]:
        digest = digests.get(week)
        if digest:
            state = f"built {_local(digest.built_at, config)}, {digest.article_count} articles"
        elif is_due(config, week, now):
            state = "due, not built yet"
        else:
            state = f"not due until {_local(digest_moment(config, week), config)}"
        lines.append(f"  {week}  {state}; mail: {_mail_summary(config, week, ledger, now)}")
        for row in ledger.get(str(week), []):
            if row.status in ("retry", "gave_up"):
                when = f"next try {_local(row.next_try, config)}" if row.next_try else "gave up"
                lines.append(f"    {row.subscriber}: {row.status} after {row.attempts} "
                             f"attempt(s), {when}: {shown(row.last_error)}")
    return lines


def _mail_summary(config: Config, week: IsoWeek, ledger: dict, now: dt.datetime) -> str:
    rows = ledger.get(str(week), [])
    if not rows:
        if not config.email.enabled:
            return "email disabled"
        if not is_due(config, week, now):
            return "not due yet"
        if not is_mailable(config, week, now):
            return "not mailed (older than email.catch_up_weeks)"
        return "none yet"
    order = ("sent", "retry", "gave_up", "empty")
    counts = {status: sum(1 for r in rows if r.status == status) for status in order}
    return ", ".join(f"{n} {status}" for status, n in counts.items() if n)


def _failure_lines(config: Config) -> list[str]:
    failed = Path(config.paths.failed)
    reports = sorted(failed.glob(f"*{ERROR_SUFFIX}")) if failed.is_dir() else []
    lines = [f"failures: {len(reports)} file(s) in {failed}"]
    for report in reports[-20:]:
        reason = next((line.removeprefix("reason: ") for line in
                       report.read_text(encoding="utf-8", errors="replace").splitlines()
                       if line.startswith("reason: ")), "?")
        lines.append(f"  {shown(report.name.removesuffix(ERROR_SUFFIX))}: {shown(reason)}")
    return lines
