"""Helpers for the service tests: a config in a temp folder, and a real SMTP server on loopback.

Nothing here fakes the system under test: folders are real, SQLite is real, and the SMTP
server is aiosmtpd speaking real SMTP (with real TLS from a certificate made by openssl).
"""

from __future__ import annotations

import email
import email.policy
import shutil
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from digest.config import Config, load_config

SMTP_USER = "digest-bot"
SMTP_PASSWORD = "s3cret-Pa55-word"


def write_config(folder: Path, extra: str = "", *, state: Path | None = None) -> Config:
    """A config.toml in `folder` with every path inside it; `extra` is appended TOML."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(
        "[paths]\n"
        'inbox = "inbox"\narchive = "archive"\nfailed = "failed"\noutput = "out"\n'
        f'state = "{state or folder / "state"}"\n\n' + extra, encoding="utf-8")
    (folder / "inbox").mkdir(exist_ok=True)
    return load_config(path)


def loopback_mail(port: int, extra: str = "", *, catch_up_weeks: int | None = None) -> str:
    """TOML for a service that takes inbox files at once and mails the loopback server."""
    if catch_up_weeks is not None:
        extra = f"catch_up_weeks = {catch_up_weeks}\n{extra}"
    return f"""[schedule]
stable_seconds = 0

[email]
enabled = true
host = "127.0.0.1"
port = {port}
security = "none"
sender = "digest@example.org"
{extra}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: bytes | None

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)


@dataclass
class Mailbox:
    """The aiosmtpd handler: keeps every message it accepts."""

    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        login = getattr(session.auth_data, "login", None) if session.authenticated else None
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          envelope.original_content or envelope.content,
                                          login))
        return "250 Message accepted for delivery"


def check_password(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == SMTP_USER.encode()
          and auth_data.password == SMTP_PASSWORD.encode())
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_certificate(folder: Path) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost (the client verifies it)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert),
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-addext", "basicConstraints=critical,CA:TRUE"],
        check=True, capture_output=True)
    return Certificate(cert, key)


def start_smtp(port: int | None = None, *, starttls: Certificate | None = None,
               implicit_tls: Certificate | None = None, auth: bool = False
               ) -> tuple[Controller, Mailbox]:
    """A real SMTP server on 127.0.0.1; call .stop() on the controller when done."""
    mailbox = Mailbox()
    kwargs: dict = {}
    if starttls is not None:
        kwargs.update(tls_context=starttls.server_context(), require_starttls=True)
    if implicit_tls is not None:
        kwargs.update(ssl_context=implicit_tls.server_context(),
                      auth_require_tls=False)  # aiosmtpd cannot see implicit TLS (#281)
    if auth:
        kwargs.update(authenticator=check_password, auth_required=True)
    controller = Controller(mailbox, hostname="127.0.0.1", port=port or free_port(), **kwargs)
    controller.start()
    return controller, mailbox
