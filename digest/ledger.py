"""The two ledgers of mail (see digest/deliver.py): `email_ledger`, one row per week and
subscriber (sent, empty, retry with its next try, gave_up), and `story_ledger`, the articles
each subscriber has received.

Apart from deliver, which sends the mail: `digest status` reads the ledger and must not pay
for the email and TLS modules deliver imports.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Config, SubscriberConfig


@dataclass(frozen=True)
class LedgerRow:
    week: str
    subscriber: str
    status: str
    attempts: int
    next_try: dt.datetime | None
    last_error: str | None
    message_id: str | None
    updated_at: dt.datetime


def _utc(now: dt.datetime) -> str:
    return now.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def ledger_rows(conn: sqlite3.Connection, weeks: Sequence[str] | None = None
                ) -> list[LedgerRow]:
    """The ledger, oldest week first; only `weeks` when given."""
    sql = ("SELECT week, subscriber, status, attempts, next_try, last_error, message_id,"
           " updated_at FROM email_ledger")
    params: list[str] = []
    if weeks is not None:
        params = sorted(set(weeks))
        sql += f" WHERE week IN ({','.join('?' * len(params))})"
    rows = conn.execute(sql + " ORDER BY week, subscriber", params).fetchall()
    return [LedgerRow(r[0], r[1], r[2], r[3], dt.datetime.fromisoformat(r[4]) if r[4] else None,
                      r[5], r[6], dt.datetime.fromisoformat(r[7])) for r in rows]


def ledger_row(conn: sqlite3.Connection, week: str, address: str) -> LedgerRow | None:
    return next((r for r in ledger_rows(conn, [week]) if r.subscriber == address.lower()),
                None)


def _upsert(conn: sqlite3.Connection, week: str, address: str, *, status: str, attempts: int,
            next_try: dt.datetime | None, last_error: str | None, message_id: str | None,
            now: dt.datetime, commit: bool = True) -> None:
    conn.execute(
        "INSERT INTO email_ledger (week, subscriber, status, attempts, next_try, last_error,"
        " message_id, updated_at) VALUES (?,?,?,?,?,?,?,?)"
        " ON CONFLICT (week, subscriber) DO UPDATE SET status = excluded.status,"
        " attempts = excluded.attempts, next_try = excluded.next_try,"
        " last_error = excluded.last_error, message_id = excluded.message_id,"
        " updated_at = excluded.updated_at",
        (week, address.lower(), status, attempts, _utc(next_try) if next_try else None,
         last_error, message_id, _utc(now)))
    if commit and conn.in_transaction:
        conn.commit()


def delivered_articles(conn: sqlite3.Connection, address: str) -> set[int]:
    """The articles this subscriber has received, in any mail."""
    return {row[0] for row in conn.execute(
        "SELECT article_id FROM story_ledger WHERE subscriber = ?", (address.lower(),))}


def backoff_seconds(config: Config, attempts: int) -> int:
    """retry_base, then doubling per failed attempt, capped at retry_max."""
    delay = config.email.retry_base_seconds * 2 ** max(0, attempts - 1)
    return min(delay, config.email.retry_max_seconds)


def record_sent(conn, week: str, address: str, attempts: int, msg_id: str,
                now: dt.datetime, article_ids: Sequence[int] = ()) -> None:
    """The mail is sent and its stories delivered: one transaction, so a story is never
    marked delivered by a mail the ledger does not call sent, nor the other way round."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        _upsert(conn, week, address, status="sent", attempts=attempts, next_try=None,
                last_error=None, message_id=msg_id, now=now, commit=False)
        conn.executemany(
            "INSERT OR IGNORE INTO story_ledger (article_id, subscriber, mail_week, sent_at)"
            " SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM articles WHERE id = ?)",
            [(i, address.lower(), week, _utc(now), i) for i in article_ids])
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def record_empty(conn, week: str, address: str, now: dt.datetime) -> None:
    _upsert(conn, week, address, status="empty", attempts=0, next_try=None, last_error=None,
            message_id=None, now=now)


def record_failure(config: Config, conn, week: str, address: str, attempts: int, error: str,
                   msg_id: str | None, now: dt.datetime) -> LedgerRow:
    if attempts >= config.email.max_attempts:
        status, next_try = "gave_up", None
    else:
        status, next_try = "retry", now + dt.timedelta(seconds=backoff_seconds(config, attempts))
    _upsert(conn, week, address, status=status, attempts=attempts, next_try=next_try,
            last_error=error, message_id=msg_id, now=now)
    return LedgerRow(week, address.lower(), status, attempts, next_try, error, msg_id, now)


def record_given_up(conn, week: str, address: str, attempts: int, error: str,
                    msg_id: str | None, now: dt.datetime) -> LedgerRow:
    _upsert(conn, week, address, status="gave_up", attempts=attempts, next_try=None,
            last_error=error, message_id=msg_id, now=now)
    return LedgerRow(week, address.lower(), "gave_up", attempts, None, error, msg_id, now)


def record_deferred(conn, week: str, address: str, attempts: int, error: str,
                    next_try: dt.datetime, now: dt.datetime) -> None:
    """Not tried because the server could not be reached for another message: due again
    with that one, and no attempt counted against this one."""
    _upsert(conn, week, address, status="retry", attempts=attempts, next_try=next_try,
            last_error=f"not tried: {error}", message_id=None, now=now)


def is_due(row: LedgerRow | None, now: dt.datetime) -> bool:
    if row is None:
        return True
    return row.status == "retry" and (row.next_try is None or row.next_try <= now)


def due_sends(conn: sqlite3.Connection, weeks: Sequence[str],
              subscribers: Sequence[SubscriberConfig],
              now: dt.datetime) -> list[tuple[str, SubscriberConfig, int]]:
    """(week, subscriber, attempts so far) for every send that is due now, oldest week first."""
    rows = {(r.week, r.subscriber): r for r in ledger_rows(conn, weeks)}
    due = []
    for week in sorted(weeks):
        for subscriber in subscribers:
            row = rows.get((week, subscriber.email.lower()))
            if is_due(row, now):
                due.append((week, subscriber, row.attempts if row else 0))
    return due
