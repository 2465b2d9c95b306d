"""One cycle of the service (inbox -> store -> build -> mail), catch-up from our own ledger,
the instance lock, the scheduler's jobs and `digest status`; real store, real SMTP."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from digest import deliver, schedule
from digest.schedule import AlreadyRunning, digest_moment, instance_lock, is_due, run_once
from digest.store import open_store
from digest.config import DEFAULT_THEMES
from digest.weeks import IsoWeek

from .conftest import SEEDS
from .service_support import loopback_mail, start_smtp, write_config

SHANGHAI = ZoneInfo("Asia/Shanghai")
SEED_FILES = sorted(SEEDS.glob("*.txt"))
# The seeds' issues fall in 2022-W30 (two), W34, W35 and W48 (疫情防控, 安全生产 and more).
MONDAY_AFTER_W48 = dt.datetime(2022, 12, 5, 9, 0, tzinfo=SHANGHAI)
THEMES_TOML = "".join(
    f'\n[[themes]]\nname = "{t.name}"\nkeywords = {list(t.keywords)!r}\n'
    f'exclude = {list(t.exclude)!r}\n'.replace("'", '"') for t in DEFAULT_THEMES)


def service_config(tmp_path: Path, port: int, extra_email: str = ""):
    return write_config(tmp_path, f"""
{loopback_mail(port, extra_email, catch_up_weeks=2)}
[[subscribers]]
email = "all@example.org"

[[subscribers]]
email = "pandemic@example.org"
themes = ["疫情防控"]

[[subscribers]]
email = "safety@example.org"
themes = ["安全生产"]
{THEMES_TOML}""")


def drop_seeds(config, suffix: bytes = b"") -> None:
    for i, seed in enumerate(SEED_FILES):
        (Path(config.paths.inbox) / f"issue-{i}{'-late' if suffix else ''}.txt").write_bytes(
            seed.read_bytes() + suffix)


@pytest.fixture
def smtp():
    controller, mailbox = start_smtp()
    yield controller, mailbox
    controller.stop()


def at(moment: dt.datetime):
    return lambda: moment


def test_a_week_is_due_at_the_first_digest_time_after_it_ends(tmp_path):
    config = write_config(tmp_path)
    week = IsoWeek(2022, 48)  # Monday 28 November to Sunday 4 December
    assert digest_moment(config, week) == dt.datetime(2022, 12, 5, 8, 0, tzinfo=SHANGHAI)
    assert not is_due(config, week, dt.datetime(2022, 12, 5, 7, 59, tzinfo=SHANGHAI))
    assert is_due(config, week, dt.datetime(2022, 12, 5, 8, 0, tzinfo=SHANGHAI))
    assert is_due(config, week, dt.datetime(2022, 12, 5, 0, 0, tzinfo=dt.timezone.utc))
    other = write_config(tmp_path / "wed",
                         '[schedule]\ndigest_day = "wed"\ndigest_time = "18:30"\n')
    assert digest_moment(other, week) == dt.datetime(2022, 12, 7, 18, 30, tzinfo=SHANGHAI)


def test_one_cycle_catches_up_builds_every_due_week_and_mails_recent_ones(tmp_path, smtp):
    controller, mailbox = smtp
    config = service_config(tmp_path, controller.port)
    drop_seeds(config)
    report = run_once(config, now=at(MONDAY_AFTER_W48))

    assert [r.outcome for r in report.inbox] == ["ingested"] * len(SEED_FILES)
    with open_store(config) as store:
        weeks = [str(w) for w in store.weeks()]
        rows = {(r.week, r.subscriber): r.status for r in deliver.ledger_rows(store.conn)}
    assert report.built == weeks and "2022-W48" in weeks  # every ended week is built ...
    for week in weeks:
        assert (Path(config.paths.output) / f"digest-{week}.html").is_file()
    assert rows == {  # ... but only the last catch_up_weeks = 2 are mailed (W47 had no paper)
        ("2022-W47", "all@example.org"): "empty",
        ("2022-W47", "pandemic@example.org"): "empty",
        ("2022-W47", "safety@example.org"): "empty",
        ("2022-W48", "all@example.org"): "sent",
        ("2022-W48", "pandemic@example.org"): "sent",
        ("2022-W48", "safety@example.org"): "sent",
    }
    got = {(m.message["Message-ID"].split(".")[1], m.rcpt_tos[0]): m.message
           for m in mailbox.received}
    assert len(mailbox.received) == 3 == len(got)
    pandemic = got[("2022-W48", "pandemic@example.org")].get_body(("plain",)).get_content()
    everything = got[("2022-W48", "all@example.org")].get_body(("plain",)).get_content()
    assert "疫情防控" in pandemic and "党建与理论学习" not in pandemic  # only their theme
    assert "疫情防控" in everything and "党建与理论学习" in everything

    again = run_once(config, now=at(MONDAY_AFTER_W48 + dt.timedelta(hours=1)))
    assert again.inbox == [] and again.built == [] and again.delivery.sent == []
    assert len(mailbox.received) == 3


def test_a_week_is_not_built_or_mailed_before_its_digest_time(tmp_path, smtp):
    controller, mailbox = smtp
    config = service_config(tmp_path, controller.port)
    drop_seeds(config)
    early = run_once(config, now=at(dt.datetime(2022, 12, 5, 7, 59, tzinfo=SHANGHAI)))
    assert "2022-W48" not in early.built and "2022-W35" in early.built
    assert mailbox.received == []  # W47, the only due week of the window, had no paper
    on_time = run_once(config, now=at(dt.datetime(2022, 12, 5, 8, 0, tzinfo=SHANGHAI)))
    assert on_time.built == ["2022-W48"]
    assert sorted(on_time.delivery.sent) == [("2022-W48", "all@example.org"),
                                             ("2022-W48", "pandemic@example.org"),
                                             ("2022-W48", "safety@example.org")]


def test_a_late_issue_rebuilds_its_week_without_mailing_it_again(tmp_path, smtp):
    controller, mailbox = smtp
    config = service_config(tmp_path, controller.port)
    drop_seeds(config)
    run_once(config, now=at(MONDAY_AFTER_W48))
    sent = len(mailbox.received)
    drop_seeds(config, suffix=b"\n\n")  # other bytes, same stories: new issues, same weeks
    later = run_once(config, now=at(MONDAY_AFTER_W48 + dt.timedelta(days=1)))
    assert [r.outcome for r in later.inbox] == ["ingested"] * len(SEED_FILES)
    assert "2022-W48" in later.built
    assert len(mailbox.received) == sent
    # The reprints are stories the readers already had: the next week's mail has nothing.
    next_monday = run_once(config, now=at(MONDAY_AFTER_W48 + dt.timedelta(days=7)))
    assert next_monday.delivery.sent == [] and len(mailbox.received) == sent


def test_dry_run_writes_eml_files_and_a_real_run_still_sends(tmp_path, smtp):
    controller, mailbox = smtp
    config = service_config(tmp_path, controller.port)
    drop_seeds(config)
    dry = run_once(config, dry_run=True, now=at(MONDAY_AFTER_W48))
    assert mailbox.received == [] and len(dry.delivery.written) == 3
    assert all(p.suffix == ".eml" and p.is_file() for p in dry.delivery.written)
    real = run_once(config, now=at(MONDAY_AFTER_W48))
    assert len(real.delivery.sent) == 3 and len(mailbox.received) == 3


def test_one_instance_per_state_folder(tmp_path):
    config = write_config(tmp_path)
    with instance_lock(config):
        with pytest.raises(AlreadyRunning) as caught:
            with instance_lock(config):
                pass
        message = str(caught.value)
        assert f"pid {os.getpid()}" in message and str(config.paths.state) in message
        result = subprocess.run(
            [sys.executable, "-m", "digest.cli", "--config", str(config.source), "run"],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "DIGEST_HOME": str(config.paths.state)})
        assert result.returncode == 1
        assert "already using the state folder" in result.stderr
    with instance_lock(config):  # released: the next one gets it
        pass


def test_a_forked_worker_does_not_keep_the_instance_lock(tmp_path):
    """Workers may be forks of `digest run` (digest/workers.py): one still alive after its
    parent is gone must not hold the state folder's lock."""
    config = write_config(tmp_path)
    with instance_lock(config):
        ready_r, ready_w = os.pipe()
        go_r, go_w = os.pipe()
        child = os.fork()
        if child == 0:  # the parent's lock is gone from here at once
            os.write(ready_w, b"x")
            os.read(go_r, 1)
            os._exit(0)
        os.read(ready_r, 1)
    try:
        with instance_lock(config):  # the parent let go; the live child holds nothing
            pass
    finally:
        os.write(go_w, b"x")
        os.waitpid(child, 0)
        for fd in (ready_r, ready_w, go_r, go_w):
            os.close(fd)


def test_the_scheduler_has_the_inbox_and_weekly_jobs(tmp_path):
    config = write_config(tmp_path, "[schedule]\nscan_seconds = 30\ndigest_day = \"tue\"\n"
                                    "digest_time = \"07:15\"\nmisfire_grace_seconds = 7200\n")
    scheduler = schedule.make_scheduler(config, lambda: None)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert sorted(jobs) == ["inbox", "weekly"]
    for job in jobs.values():
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 7200)
    weekly = jobs["weekly"].trigger
    fields = {f.name: str(f) for f in weekly.fields}
    assert (fields["day_of_week"], fields["hour"], fields["minute"]) == ("tue", "7", "15")
    assert str(weekly.timezone) == "Asia/Shanghai"
    assert jobs["inbox"].trigger.interval == dt.timedelta(seconds=30)


def test_status_shows_inbox_ingests_weeks_mail_and_failures(tmp_path, smtp):
    controller, _ = smtp
    config = service_config(tmp_path, controller.port)
    drop_seeds(config)
    (Path(config.paths.inbox) / "broken.txt").write_bytes(b"")
    run_once(config, now=at(MONDAY_AFTER_W48))
    (Path(config.paths.inbox) / "waiting.txt").write_bytes(b"x")
    (Path(config.paths.inbox) / "upload.part").write_bytes(b"x")
    text = "\n".join(schedule.status_lines(config, now=MONDAY_AFTER_W48))
    assert "service: not running" in text
    assert "1 waiting, 0 being processed, 1 ignored" in text
    assert "failed    broken.txt" in text and "ingested  issue-0.txt" in text
    assert "2022-W48  built" in text and "mail: 3 sent" in text
    assert "failures: 1 file(s)" in text and "broken.txt: the file is empty" in text


def test_header_injection_from_an_article_headline_stays_in_the_subject(tmp_path, smtp):
    """An issue whose headlines carry line separators and header text, through the whole
    pipeline into a subject that shows the lead headline."""
    controller, mailbox = smtp
    config = service_config(tmp_path, controller.port, 'subject = "{week} {headline}"')
    evil = "\u2028Bcc: victim@evil.example\u0085X-Injected: yes\r"
    text = (SEEDS / "001_aa6f3d7060990aff.txt").read_text(encoding="utf-8")
    lines = [line + evil if line.startswith("## ") else line for line in text.split("\n")]
    (Path(config.paths.inbox) / "evil.txt").write_text("\n".join(lines), encoding="utf-8")
    run_once(config, now=at(dt.datetime(2022, 9, 5, 9, 0, tzinfo=SHANGHAI)))

    [received] = mailbox.received  # 2022-W35, to all@ (the others' themes are empty)
    assert received.rcpt_tos == ["all@example.org"]
    msg = received.message
    assert msg["Bcc"] is None and msg["X-Injected"] is None
    subject = str(msg["Subject"])
    assert subject.startswith("2022-W35 ") and "\n" not in subject and "\r" not in subject
    assert "Bcc: victim@evil.example X-Injected: yes" in subject


def test_a_dry_run_shows_each_story_once_across_its_mails(tmp_path, smtp):
    """Nothing is recorded in a dry run, so an earlier week's stories must not reappear in
    a later week's 补发 section as if they had arrived late."""
    import email as email_pkg
    import email.policy as email_policy

    controller, _ = smtp
    config = service_config(tmp_path, controller.port)
    drop_seeds(config)
    dry = run_once(config, dry_run=True,
                   now=at(dt.datetime(2022, 9, 5, 9, 0, tzinfo=SHANGHAI)))  # W34 and W35 due
    mails = [p for p in dry.delivery.written if p.name == "all@example.org.eml"]
    assert sorted(p.parent.name for p in mails) == ["2022-W34", "2022-W35"]
    titles = []
    for path in mails:
        msg = email_pkg.message_from_bytes(path.read_bytes(), policy=email_policy.default)
        text = msg.get_body(("plain",)).get_content()
        assert "补发" not in text
        titles += [line[2:] for line in text.splitlines() if line.startswith("* ")]
    assert len(titles) == len(set(titles)) == 18  # 9 stories each, none twice
