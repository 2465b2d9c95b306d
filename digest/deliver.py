"""Email: one message per subscriber and week, sent once, retried with backoff when it fails.

- The message is `multipart/alternative`: the plain-text digest, then the HTML digest with
  its CSS inlined (mail clients drop <style>), so every client shows one of the two.
- Header values that come from content (the digest title, a story's headline, a subscriber's
  name) have every control character and line break collapsed to a space, and the email
  package encodes non-ASCII, so article text can never add a header or a recipient. The
  envelope recipient is always exactly the subscriber's configured address.
- The Message-ID is derived from the week, the subscriber and a hash of the content, so a
  retry of the same digest carries the same id and receiving systems can recognise it.
- Two ledgers are the memory across runs and restarts. `email_ledger`, one row per mail
  (week and subscriber): `sent` and `empty` are final; a failure becomes `retry` with a
  `next_try` that doubles each time, up to `email.max_attempts`, then `gave_up`; an SMTP 5xx
  reply to the message gives up at once. `story_ledger`, one row per article and subscriber,
  written in the same transaction as `sent`: what each reader has received, so a story that
  arrives after its week's mail goes in the next one, and none goes twice. A crash between
  the SMTP server accepting a message and the ledger saying `sent` can repeat that one
  message on the next run, with the same Message-ID if nothing new arrived meanwhile; every
  other path sends each story at most once.
- The SMTP password comes only from the environment variable named by `email.password_env`
  and is removed from any error text before it is logged or stored.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import os
import smtplib
import socket
import sqlite3
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.header import Header
from email.policy import EmailPolicy
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import css_inline

from .config import Config, SubscriberConfig
from .ingest import write_atomically
from .ledger import (LedgerRow, backoff_seconds, delivered_articles, due_sends,  # noqa: F401
                     is_due, ledger_row, ledger_rows, record_deferred, record_empty,
                     record_failure, record_given_up, record_sent)
from .sanitize import clean

log = logging.getLogger(__name__)


class ConnectError(Exception):
    """No SMTP session: the server is unreachable, TLS or the login failed, or the password is
    missing. Every send of the batch would fail the same way (unlike a refused recipient)."""


class PermanentError(Exception):
    """The server answered this message with a 5xx reply: retrying cannot help."""


class SendFailed(smtplib.SMTPException):
    """This message failed for now (a 4xx reply, a dropped session); the text says where."""


class MailPolicy(EmailPolicy):
    """The SMTP policy, except that a non-ASCII Subject is encoded by `email.header.Header`.

    The modern folder puts the space between two words outside the encoded words when it
    breaks the line there ("...?=\r\n  =?utf-8?b?..."), and RFC 2047 decoders drop
    whitespace between encoded words: `…工作 致编辑部` arrives as `…工作致编辑部`. Header
    encodes the spaces inside the words."""

    def _subject(self, name: str, value: object) -> str | None:
        text = str(value)
        if name.lower() != "subject" or text.isascii():
            return None
        encoded = Header(text, "utf-8", header_name=name).encode(linesep=self.linesep)
        return f"{name}: {encoded}{self.linesep}"

    def fold(self, name, value):
        return self._subject(name, value) or super().fold(name, value)

    def fold_binary(self, name, value):
        folded = self._subject(name, value)
        return folded.encode("ascii") if folded else super().fold_binary(name, value)


MAIL_POLICY = MailPolicy(linesep="\r\n")


@dataclass(frozen=True)
class Letter:
    """The digest of one week as one subscriber gets it (already limited to their themes)."""

    week: str  # '2022-W34'
    start: dt.date  # Monday
    end: dt.date  # Sunday
    text: str
    html: str
    stories: int
    headline: str = ""  # the first story's title, offered to the subject template
    # Every article this mail delivers (stories and their other printings): recorded in the
    # story ledger with `sent`, so none of them is mailed to this subscriber again.
    article_ids: tuple[int, ...] = ()


# Builds the letter of a week for one subscriber (their themes, what they have not had yet).
# None: nothing to send.
Composer = Callable[[str, SubscriberConfig], "Letter | None"]


# -- building the message -----------------------------------------------------------------


def header_safe(value: object) -> str:
    """One line of text: control characters and line breaks (CR, LF, U+2028, ...) become
    single spaces, so a value can never end a header and start another."""
    text = "".join(" " if (ord(c) < 32 or ord(c) == 127 or c in "\u0085\u2028\u2029") else c
                   for c in str(value))
    text = clean(text)  # the rest of C1, U+FFFE/FFFF and lone surrogates
    return " ".join(text.split())


def render_subject(template: str, fields: dict[str, object]) -> str:
    """Fill the (validated) subject template with header-safe values."""
    return header_safe(template.format_map({k: header_safe(v) for k, v in fields.items()}))


def inline_css(html: str) -> str:
    """Move <style> rules into style="" attributes; never fetch remote stylesheets.

    CSS variables are resolved (many mail clients ignore var()); @media rules cannot be
    inlined, so they stay in a <style> tag for the clients that read it. Older css-inline
    releases lack those two options and get the plain inliner.
    """
    try:
        inliner = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True,
                                        resolve_css_variables=True)
    except TypeError:
        inliner = css_inline.CSSInliner(load_remote_stylesheets=False)
    return inliner.inline(html)


def sender_domain(address: str) -> str:
    return address.rpartition("@")[2] or "localhost"


def content_hash(letter: Letter) -> str:
    return hashlib.sha256(f"{letter.text}\0{letter.html}".encode()).hexdigest()


def message_id(letter: Letter, subscriber: SubscriberConfig, sender: str) -> str:
    """Deterministic: same week, subscriber and content -> same id (a retry is recognisable)."""
    who = hashlib.sha256(subscriber.email.lower().encode()).hexdigest()[:12]
    return f"<digest.{letter.week}.{who}.{content_hash(letter)[:16]}@{sender_domain(sender)}>"


def unsubscribe_header(config: Config, subscriber: SubscriberConfig) -> str:
    """`<mailto:...>` or `<https://...>` for List-Unsubscribe; {email} is URL-quoted."""
    template = config.email.unsubscribe or (
        f"mailto:{config.email.sender}?subject=unsubscribe%20{{email}}")
    url = template.format_map({"email": quote(subscriber.email, safe="@")})
    return f"<{header_safe(url)}>"


def build_message(config: Config, subscriber: SubscriberConfig, letter: Letter,
                  now: dt.datetime | None = None) -> EmailMessage:
    now = now or dt.datetime.now(dt.timezone.utc)
    msg = EmailMessage(policy=MAIL_POLICY)
    msg["Subject"] = render_subject(config.email.subject, {
        "title": config.digest.title, "week": letter.week, "start": letter.start.isoformat(),
        "end": letter.end.isoformat(), "stories": letter.stories,
        "name": subscriber.name or subscriber.email, "headline": letter.headline})
    msg["From"] = formataddr((header_safe(config.digest.title), config.email.sender))
    msg["To"] = formataddr((header_safe(subscriber.name), subscriber.email))
    msg["Date"] = format_datetime(now.astimezone(dt.timezone.utc))
    msg["Message-ID"] = message_id(letter, subscriber, config.email.sender)
    unsubscribe = unsubscribe_header(config, subscriber)
    msg["List-Unsubscribe"] = unsubscribe
    if unsubscribe.startswith("<https://"):
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    # base64 keeps CJK compact and long HTML lines within SMTP's 998-octet limit.
    msg.set_content(letter.text, cte="base64")
    msg.add_alternative(inline_css(letter.html), subtype="html", cte="base64")
    return msg


# -- sending ------------------------------------------------------------------------------


def redact(text: str, secret: str | None) -> str:
    """Remove a secret, and the base64 forms AUTH uses for it, from an error text."""
    if not secret:
        return text
    for form in {secret, base64.b64encode(secret.encode()).decode()}:
        text = text.replace(form, "***")
    return text


def tls_context(config: Config) -> ssl.SSLContext:
    """Verifying context: certificate chain and host name; `email.ca_file` replaces the
    system's CAs (for a private relay with its own CA)."""
    cafile = str(config.email.ca_file) if config.email.ca_file else None
    return ssl.create_default_context(cafile=cafile)


def smtp_password(config: Config) -> str | None:
    if not config.email.username:
        return None
    password = os.environ.get(config.email.password_env)
    if not password:
        raise ConnectError(f"email.username is set but the environment variable "
                            f"{config.email.password_env} is empty; put the SMTP password "
                            f"there (see email.password_env)")
    return password


class Outbox(Protocol):
    def send(self, msg: EmailMessage, recipient: str, week: str) -> None: ...
    def close(self) -> None: ...


class SmtpOutbox:
    """One SMTP session for a batch, opened on the first message."""

    def __init__(self, config: Config):
        self.config = config
        self._smtp: smtplib.SMTP | None = None
        self._password: str | None = None

    def _connect(self) -> smtplib.SMTP:
        email = self.config.email
        self._password = smtp_password(self.config)
        context = tls_context(self.config)
        try:
            if email.security == "tls":
                smtp = smtplib.SMTP_SSL(email.host, email.port, timeout=email.timeout_seconds,
                                        context=context)
            else:
                smtp = smtplib.SMTP(email.host, email.port, timeout=email.timeout_seconds)
        except (OSError, smtplib.SMTPException) as exc:
            raise ConnectError(self.describe(exc)) from None
        try:
            if email.security == "starttls":
                # Raises if the server does not offer STARTTLS: never falls back to plain text.
                smtp.starttls(context=context)
            if email.username:
                smtp.login(email.username, self._password)
        except (OSError, smtplib.SMTPException) as exc:
            smtp.close()
            raise ConnectError(self.describe(exc)) from None
        return smtp

    def describe(self, exc: BaseException) -> str:
        where = f"{self.config.email.host}:{self.config.email.port}"
        return redact(f"{where}: {type(exc).__name__}: {exc}", self._password)

    def send(self, msg: EmailMessage, recipient: str, week: str) -> None:
        """Send one message. ConnectError: no session could be opened (nothing can be sent
        now); PermanentError: a 5xx reply to this message; any other SMTPException or
        OSError: this message failed for now (a dropped session is reopened next time)."""
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            # Explicit envelope: recipients never come from the headers.
            self._smtp.send_message(msg, from_addr=self.config.email.sender,
                                    to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (0, b""))
            self._reply_error(code, reply, f"recipient {recipient} refused")
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == 421:
                self.close()  # the server is closing the session
            self._reply_error(exc.smtp_code, exc.smtp_error, type(exc).__name__)
        except (smtplib.SMTPServerDisconnected, socket.timeout, OSError) as exc:
            self.close()  # the next message opens a new session
            raise SendFailed(self.describe(exc)) from None

    def _reply_error(self, code: int, reply: bytes | str, what: str) -> None:
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        where = f"{self.config.email.host}:{self.config.email.port}"
        message = redact(f"{where}: {what}: {code} {header_safe(text)}", self._password)
        if 500 <= code < 600:
            raise PermanentError(message)
        raise SendFailed(message)

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None


class EmlOutbox:
    """--dry-run: each message becomes `<output>/eml/<week>/<address>.eml`; nothing is sent."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.written: list[Path] = []

    def send(self, msg: EmailMessage, recipient: str, week: str) -> None:
        path = self.folder / safe_part(week) / f"{safe_part(recipient)}.eml"
        write_atomically(path, msg.as_string())
        self.written.append(path)

    def close(self) -> None:
        pass


def safe_part(text: str) -> str:
    """A file-name part from an address or week: no separators, no leading dot."""
    cleaned = "".join(c if c.isalnum() or c in "@-_+." else "_" for c in text)
    return cleaned.lstrip(".") or "_"


# -- a delivery run -----------------------------------------------------------------------


@dataclass
class DeliveryReport:
    sent: list[tuple[str, str]]
    empty: list[tuple[str, str]]
    failed: list[tuple[str, str, str]]  # week, address, error (to be retried)
    written: list[Path]
    gave_up: list[tuple[str, str, str]] = field(default_factory=list)  # week, address, error
    deferred: list[tuple[str, str]] = field(default_factory=list)  # not tried: server down
    stories: dict[tuple[str, str], int] = field(default_factory=dict)  # sent -> story count


def deliver(config: Config, conn: sqlite3.Connection, weeks: Sequence[str],
            compose: Composer, *, dry_run: bool = False, now: dt.datetime | None = None,
            should_stop: Callable[[], bool] = lambda: False,
            outbox: Outbox | None = None) -> DeliveryReport:
    """Send every due (week, subscriber) message of `weeks` and record each outcome.

    Messages go oldest week first, so what one mail delivers is known when the next one is
    composed. A failure costs an attempt of that message only: a dropped session is reopened
    for the next one; a server that cannot be reached at all stops the batch and the rest
    are deferred (due again with the failed one, no attempt counted). A dry run writes .eml
    files for what a real run would send now and leaves the ledgers alone.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    report = DeliveryReport([], [], [], [])
    if not dry_run and not config.email.enabled:
        return report
    due = due_sends(conn, weeks, config.subscribers, now)
    if not due:
        return report
    if outbox is None:
        outbox = EmlOutbox(Path(config.paths.output) / "eml") if dry_run else SmtpOutbox(config)
    try:
        for position, (week, subscriber, attempts) in enumerate(due):
            if should_stop():
                break
            try:
                letter = compose(week, subscriber)
            except Exception as exc:  # noqa: BLE001 - one bad week must not block the rest
                log.exception("cannot compose the digest of %s", week)
                _fail(config, conn, report, week, subscriber.email, attempts + 1,
                      f"composing the digest failed: {type(exc).__name__}: {exc}", None, now,
                      dry_run)
                continue
            if letter is None or letter.stories == 0:
                if not dry_run:
                    record_empty(conn, week, subscriber.email, now)
                report.empty.append((week, subscriber.email))
                continue
            msg = build_message(config, subscriber, letter, now)
            try:
                outbox.send(msg, subscriber.email, week)
            except ConnectError as exc:
                row = _fail(config, conn, report, week, subscriber.email, attempts + 1,
                            str(exc), msg["Message-ID"], now, dry_run)
                _defer(config, conn, report, due[position + 1:], str(exc), row, now, dry_run)
                break
            except PermanentError as exc:
                report.gave_up.append((week, subscriber.email, str(exc)))
                if not dry_run:
                    record_given_up(conn, week, subscriber.email, attempts + 1, str(exc),
                                    msg["Message-ID"], now)
                log.error("%s: digest %s refused, given up: %s", subscriber.email, week, exc)
                continue
            except (smtplib.SMTPException, OSError) as exc:
                _fail(config, conn, report, week, subscriber.email, attempts + 1,
                      outbox_error(outbox, exc), msg["Message-ID"], now, dry_run)
                continue
            if not dry_run:
                record_sent(conn, week, subscriber.email, attempts + 1, msg["Message-ID"], now,
                            letter.article_ids)
            report.sent.append((week, subscriber.email))
            report.stories[(week, subscriber.email)] = letter.stories
            log.info("%s: digest %s %s", subscriber.email, week,
                     "written" if dry_run else "sent")
    finally:
        outbox.close()
        if isinstance(outbox, EmlOutbox):
            report.written = list(outbox.written)
    return report


def outbox_error(outbox: Outbox, exc: BaseException) -> str:
    if isinstance(exc, SendFailed):
        return str(exc)  # already described by the outbox
    describe = getattr(outbox, "describe", None)
    return describe(exc) if describe else f"{type(exc).__name__}: {exc}"


def _fail(config: Config, conn, report: DeliveryReport, week: str, address: str, attempts: int,
          error: str, msg_id: str | None, now: dt.datetime, dry_run: bool) -> LedgerRow | None:
    report.failed.append((week, address, error))
    if dry_run:
        return None
    row = record_failure(config, conn, week, address, attempts, error, msg_id, now)
    if row.status == "gave_up":
        report.gave_up.append((week, address, error))
    log.warning("%s: digest %s not sent (attempt %d, %s): %s", address, week, attempts,
                f"next try {row.next_try:%Y-%m-%d %H:%M}Z" if row.next_try else "giving up",
                error)
    return row


def _defer(config: Config, conn, report: DeliveryReport, rest, error: str,
           failed: LedgerRow | None, now: dt.datetime, dry_run: bool) -> None:
    next_try = (failed.next_try if failed is not None and failed.next_try is not None
                else now + dt.timedelta(seconds=backoff_seconds(config, 1)))
    for week, subscriber, attempts in rest:
        report.deferred.append((week, subscriber.email))
        if not dry_run:
            record_deferred(conn, week, subscriber.email, attempts, error, next_try, now)
