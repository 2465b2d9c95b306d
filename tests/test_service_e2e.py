"""`digest serve` as a real subprocess: a file written slowly into the inbox becomes a digest
file and exactly one email on a real SMTP server; SIGTERM exits 0; a restart sends nothing
again; a second instance on the same state folder is refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import SEEDS
from .service_support import start_smtp, write_config

pytestmark = pytest.mark.slow

ONE_WEEK_SEED = SEEDS / "001_aa6f3d7060990aff.txt"  # every article in 2022-W35
OTHER_SEED = SEEDS / "004_a00776a20fa094f5.txt"  # 2022-W34 (printed 2022-08-23)
DEADLINE = 180  # seconds; generous, only to fail instead of hanging


def wait_for(condition, what: str, deadline: float = DEADLINE, process=None):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            pytest.fail(f"digest serve exited ({process.returncode}) while waiting for {what}")
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


class Service:
    """`digest serve` in a subprocess, its stderr in a log file."""

    def __init__(self, config, log: Path):
        self.config = config
        self.log = log
        self.process: subprocess.Popen | None = None

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "digest.cli", "--config", str(self.config.source), *args]

    @property
    def env(self) -> dict:
        return {**os.environ, "DIGEST_HOME": str(self.config.paths.state),
                "PYTHONUNBUFFERED": "1"}

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.command("serve"), env=self.env,
                                            stdout=log, stderr=log)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=DEADLINE)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def write_slowly(path: Path, data: bytes, pause: float) -> None:
    """Half the bytes, a pause shorter than stable_seconds, then the rest."""
    with open(path, "wb") as fh:
        fh.write(data[: len(data) // 2])
        fh.flush()
        time.sleep(pause)
        fh.write(data[len(data) // 2:])


def test_serve_end_to_end(tmp_path):
    controller, mailbox = start_smtp()
    config = write_config(tmp_path, f"""
[schedule]
scan_seconds = 1
stable_seconds = 3

[email]
enabled = true
host = "127.0.0.1"
port = {controller.port}
security = "none"
sender = "digest@example.org"
catch_up_weeks = 100000   # the seed issues are from 2022

[[subscribers]]
email = "reader@example.org"
""")
    service = Service(config, tmp_path / "serve.log")
    out = Path(config.paths.output)
    try:
        service.start()
        wait_for(lambda: "serving:" in service.log_text(), "the service to start",
                 process=service.process)

        second = subprocess.run(service.command("serve"), env=service.env,
                                capture_output=True, text=True, timeout=DEADLINE)
        assert second.returncode == 1
        assert "already using the state folder" in second.stderr

        data = ONE_WEEK_SEED.read_bytes()
        write_slowly(Path(config.paths.inbox) / "东昌时讯.txt", data, pause=1.5)
        digest_file = out / "digest-2022-W35.html"
        wait_for(lambda: digest_file.is_file(), "the digest file", process=service.process)
        wait_for(lambda: mailbox.received, "the email", process=service.process)
        archived = list(Path(config.paths.archive).rglob("东昌时讯.txt"))
        assert [p.read_bytes() for p in archived] == [data]  # taken whole, never half
        assert "东昌时讯.txt: ingested" in service.log_text()
        assert service.log_text().count(": ingested") == 1

        time.sleep(4)  # a few more scans: still one email
        assert len(mailbox.received) == 1
        [mail] = mailbox.received
        assert mail.rcpt_tos == ["reader@example.org"]
        assert "2022-W35" in mail.message["Subject"]
        assert mail.message.get_content_type() == "multipart/alternative"

        assert service.terminate() == 0
        assert "finishing the current step" in service.log_text()

        # Restart: the ledger remembers. A new file proves cycles ran after the restart.
        service.start()
        other = OTHER_SEED.read_bytes()
        (Path(config.paths.inbox) / "later.txt").write_bytes(other)
        wait_for(lambda: (out / "digest-2022-W34.html").is_file(), "the second file's digest",
                 process=service.process)
        wait_for(lambda: len(mailbox.received) >= 2, "the second file's email",
                 process=service.process)
        time.sleep(3)
        weeks = sorted(m.message["Message-ID"].split(".")[1] for m in mailbox.received)
        assert weeks == ["2022-W34", "2022-W35"]  # W35 was not sent again
        assert service.terminate() == 0

        status = subprocess.run(service.command("status"), env=service.env,
                                capture_output=True, text=True, timeout=DEADLINE)
        assert status.returncode == 0, status.stderr
        assert "service: not running" in status.stdout
        assert "2022-W35  built" in status.stdout and "1 sent" in status.stdout
    finally:
        service.kill()
        controller.stop()
        print(service.log_text() if service.log.exists() else "(no log)")  # shown on failure
