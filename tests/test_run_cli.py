"""`digest run` and `digest ingest` as an operator meets them: loud start-up failures, exit
statuses for cron, the base_url note, log levels, the ingest progress bar and Ctrl-C."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from digest import schedule
from digest.config import ConfigError
from digest.store import open_store

from .conftest import SEEDS
from .service_support import free_port, loopback_mail, start_smtp, write_config

ONE_WEEK_SEED = SEEDS / "001_aa6f3d7060990aff.txt"  # 2022-W35, mailed from 2022-09-05 08:00
AFTER_W35 = dt.datetime(2022, 9, 5, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def digest(config, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "digest.cli", "--config", str(config.source), *args],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "DIGEST_HOME": str(config.paths.state), **kwargs.pop("env", {})},
        **kwargs)


def mail_config(tmp_path: Path, port: int, extra: str = ""):
    return write_config(tmp_path, f"""
{loopback_mail(port, extra, catch_up_weeks=100000)}[[subscribers]]
email = "reader@example.org"
""")


# -- loud start-up failures ---------------------------------------------------------------

def test_a_missing_inbox_is_a_config_error_not_an_idle_service(tmp_path):
    config = write_config(tmp_path)
    Path(config.paths.inbox).rmdir()
    for command in ("run", "serve"):
        result = digest(config, command)
        assert result.returncode == 2, result.stderr
        assert "paths.inbox" in result.stderr and "does not exist" in result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize("key", ["inbox", "archive", "failed", "output"])
def test_a_folder_that_is_a_file_is_a_config_error(tmp_path, key):
    config = write_config(tmp_path)
    folder = Path(getattr(config.paths, key))
    if folder.is_dir():
        folder.rmdir()
    folder.write_text("not a folder")
    with pytest.raises(ConfigError, match=rf"paths\.{key}: .* is a file, not a folder"):
        schedule.check_start(config)


def test_archive_failed_and_output_are_created_when_missing(tmp_path):
    config = write_config(tmp_path)
    schedule.check_folders(config)
    assert all(Path(getattr(config.paths, key)).is_dir()
               for key in ("archive", "failed", "output"))


def test_a_missing_password_variable_is_a_config_error_at_start(tmp_path):
    config = mail_config(tmp_path, free_port(), 'username = "bot"\n'
                                                'password_env = "TEST_UNSET_PASSWORD"\n')
    result = digest(config, "run", env={"TEST_UNSET_PASSWORD": ""})
    assert result.returncode == 2
    assert "TEST_UNSET_PASSWORD" in result.stderr and "email.password_env" in result.stderr
    with pytest.raises(ConfigError):
        schedule.check_start(config)
    schedule.check_start(config, dry_run=True)  # a dry run sends nothing: no password needed


def test_now_must_be_a_time(tmp_path):
    config = write_config(tmp_path)
    result = digest(config, "run", "--now", "next monday")
    assert result.returncode == 2 and "YYYY-MM-DD HH:MM" in result.stderr


# -- exit statuses for cron ---------------------------------------------------------------

def test_run_exits_3_when_a_file_failed_and_q_hides_the_warning(tmp_path):
    config = write_config(tmp_path, "[schedule]\nstable_seconds = 0\n")
    (Path(config.paths.inbox) / "empty.txt").write_bytes(b"")
    result = digest(config, "run")
    assert result.returncode == 3, result.stderr
    assert "failed: empty.txt" in result.stdout and "WARNING" in result.stderr
    (Path(config.paths.inbox) / "empty2.txt").write_bytes(b"")
    quiet = digest(config, "run", "-q")
    assert quiet.returncode == 3 and "WARNING" not in quiet.stderr
    assert "failed: empty2.txt" in quiet.stdout  # the report itself is not a log line
    assert digest(config, "run").returncode == 0  # reported once; `status` keeps showing it


def test_run_exits_4_while_a_mail_waits_for_a_retry_and_5_when_given_up(tmp_path):
    port = free_port()  # nothing listens: the mail waits for a retry
    config = mail_config(tmp_path, port, "max_attempts = 2\nretry_base_seconds = 60\n")
    (Path(config.paths.inbox) / "issue.txt").write_bytes(ONE_WEEK_SEED.read_bytes())
    code, report = schedule.run(config, now=AFTER_W35)
    assert code == schedule.EXIT_MAIL_PENDING and report.pending
    assert any(line.startswith("not sent: 2022-W35 to reader@example.org")
               for line in schedule.report_lines(report))
    # Before the retry is due nothing is tried, and the run still says so.
    code, report = schedule.run(config, now=AFTER_W35 + dt.timedelta(seconds=30))
    assert code == schedule.EXIT_MAIL_PENDING
    assert any(line.startswith("pending retry: 2022-W35") for line in
               schedule.report_lines(report))
    code, report = schedule.run(config, now=AFTER_W35 + dt.timedelta(minutes=5))
    assert code == schedule.EXIT_MAIL_GAVE_UP  # the second attempt was the last
    assert any(line.startswith("given up: 2022-W35") for line in schedule.report_lines(report))


def test_a_5xx_reply_gives_up_at_once_with_the_servers_reason(tmp_path):
    from .test_deliver import Picky, picky_server

    controller = picky_server(Picky({"reader@example.org": "550 5.1.1 no such mailbox"}))
    try:
        config = mail_config(tmp_path, controller.port)
        (Path(config.paths.inbox) / "issue.txt").write_bytes(ONE_WEEK_SEED.read_bytes())
        code, report = schedule.run(config, now=AFTER_W35)
    finally:
        controller.stop()
    assert code == schedule.EXIT_MAIL_GAVE_UP
    [line] = [line for line in schedule.report_lines(report) if line.startswith("given up")]
    assert "550 5.1.1 no such mailbox" in line


# -- links and the base_url note ----------------------------------------------------------

def test_without_base_url_the_mail_has_no_dead_links_and_run_says_so_once(tmp_path):
    controller, mailbox = start_smtp()
    try:
        config = mail_config(tmp_path, controller.port)
        (Path(config.paths.inbox) / "issue.txt").write_bytes(ONE_WEEK_SEED.read_bytes())
        result = digest(config, "run", "--now", "2022-09-05 09:00", "-v")
    finally:
        controller.stop()
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("[digest].base_url is empty") == 1
    assert "INFO" in result.stderr and "digest.deliver" in result.stderr  # -v: INFO logs
    [mail] = mailbox.received
    html = mail.message.get_body(("html",)).get_content()
    assert all(link.startswith("#") for link in re.findall(r'href="([^"]*)"', html))
    # Separators are text, so they survive the CSS inliner (no ::before content).
    assert re.search(r"（电头日期）</span> · <span", html)
    assert "::before" not in html


# -- digest ingest for people -------------------------------------------------------------

def test_ingest_shows_progress_on_a_terminal_and_a_summary(tmp_path):
    config = write_config(tmp_path)
    master, slave = pty.openpty()
    # A terminal 100 columns wide (a fresh pty has none, and tqdm draws nothing in zero).
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "digest.cli", "--config", str(config.source), "ingest",
         str(SEEDS)], stdout=subprocess.PIPE, stderr=slave,
        env={**os.environ, "DIGEST_HOME": str(config.paths.state)})
    os.close(slave)
    terminal = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        terminal += chunk
    stdout = process.communicate(timeout=300)[0].decode()
    os.close(master)
    assert process.returncode == 0
    assert re.search(rb"\d+/5 \[", terminal), terminal  # tqdm's bar: "3/5 [00:01<...]"
    assert stdout.strip().endswith("s)") and "5 stored, 0 skipped, 0 failed (48 articles" in stdout
    piped = digest(config, "ingest", str(SEEDS))  # not a terminal: no bar
    assert "[" not in piped.stderr and "0 stored, 5 skipped, 0 failed" in piped.stdout


def test_ctrl_c_stops_ingest_with_a_summary_of_what_was_stored(tmp_path):
    config = write_config(tmp_path)
    folder = tmp_path / "many"
    folder.mkdir()
    data = ONE_WEEK_SEED.read_bytes()
    for i in range(300):  # other bytes each: 300 issues to store
        (folder / f"issue-{i:03d}.txt").write_bytes(data + b"\n" * (i + 1))
    process = subprocess.Popen(
        [sys.executable, "-m", "digest.cli", "--config", str(config.source), "ingest",
         str(folder)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "DIGEST_HOME": str(config.paths.state), "PYTHONUNBUFFERED": "1"})
    first = process.stdout.readline()
    assert "stored" in first
    process.send_signal(signal.SIGINT)
    rest, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    match = re.search(r"interrupted: (\d+) stored, 0 skipped, 0 failed .* before stopping; "
                      r"(\d+) of 300 files not done", stderr)
    assert match, stderr
    stored, left = int(match.group(1)), int(match.group(2))
    assert "Traceback" not in stderr
    with open_store(config) as store:
        assert len(store.issues()) == stored  # what it says is what is in the database
    assert 1 <= stored < 300 and stored + left == 300
