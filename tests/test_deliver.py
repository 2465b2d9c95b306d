"""Email against a real SMTP server on loopback (aiosmtpd): plain, STARTTLS + AUTH, implicit
TLS, a server that is down and then up, per-subscriber themes, header injection, dry run."""

from __future__ import annotations

import base64
import datetime as dt
import logging

import pytest

from digest import deliver
from digest.deliver import Letter, build_message, deliver as deliver_due
from digest.store import open_store

from .service_support import (SMTP_PASSWORD, SMTP_USER, free_port, make_certificate,
                              start_smtp, write_config)

NOW = dt.datetime(2026, 3, 9, 1, 0, tzinfo=dt.timezone.utc)
WEEK = "2026-W10"
THEMES = {  # theme name -> the stories it has this week
    "经济": ["开发区新签约项目12个", "一季度外贸进出口增长"],
    "教育": ["全区中小学开学第一课"],
    "文化": [],
}
HTML = """<!DOCTYPE html><html><head><style>h1 { color: #b23a48; } p { margin: 0 }</style>
</head><body><h1>{title}</h1>{items}</body></html>"""


def compose(week: str, subscriber) -> Letter | None:
    """A composer over THEMES: only the subscriber's themes (none named: all)."""
    names = subscriber.themes if subscriber is not None else ()
    chosen = [n for n in THEMES if not names or n in names]
    stories = [s for n in chosen for s in THEMES[n]]
    if not stories:
        return None
    text = "\n".join(f"* {s}" for s in stories)
    html = HTML.replace("{title}", "每周要闻摘要").replace(
        "{items}", "".join(f"<p>{s}</p>" for s in stories))
    return Letter(week=week, start=dt.date(2026, 3, 2), end=dt.date(2026, 3, 8), text=text,
                  html=html, stories=len(stories), headline=stories[0])


SUBSCRIBERS = """
[[subscribers]]
email = "all@example.org"
name = "全部 读者"

[[subscribers]]
email = "econ@example.org"
themes = ["经济"]

[[subscribers]]
email = "culture@example.org"
themes = ["文化"]
"""
THEME_RULES = """
[[themes]]
name = "经济"
keywords = ["经济"]

[[themes]]
name = "教育"
keywords = ["教育"]

[[themes]]
name = "文化"
keywords = ["文化"]
"""


def make_config(tmp_path, port: int, email: str = 'security = "none"',
                subscribers: str = SUBSCRIBERS):
    return write_config(tmp_path, f"""
[email]
enabled = true
host = "127.0.0.1"
port = {port}
sender = "digest@example.org"
subject = "{{title}} {{week}}: {{headline}}"
unsubscribe = "mailto:editor@example.org?subject=unsubscribe%20{{email}}"
retry_base_seconds = 60
{email}
{subscribers}
{THEME_RULES}""")


@pytest.fixture
def smtp():
    controllers = []

    def start(*args, **kwargs):
        controller, mailbox = start_smtp(*args, **kwargs)
        controllers.append(controller)
        return controller, mailbox

    yield start
    for controller in controllers:
        controller.stop()


def test_one_multipart_message_per_subscriber_and_their_themes(tmp_path, smtp):
    controller, mailbox = smtp()
    config = make_config(tmp_path, controller.port)
    with open_store(config) as store:
        report = deliver_due(config, store.conn, [WEEK], compose, now=NOW)
        rows = {r.subscriber: r for r in deliver.ledger_rows(store.conn)}
    assert sorted(report.sent) == [(WEEK, "all@example.org"), (WEEK, "econ@example.org")]
    assert report.empty == [(WEEK, "culture@example.org")]  # nothing in 文化 this week
    assert {r.subscriber: r.status for r in rows.values()} == {
        "all@example.org": "sent", "econ@example.org": "sent", "culture@example.org": "empty"}
    by_rcpt = {m.rcpt_tos[0]: m for m in mailbox.received}
    assert sorted(by_rcpt) == ["all@example.org", "econ@example.org"]
    assert all(len(m.rcpt_tos) == 1 and m.mail_from == "digest@example.org"
               for m in mailbox.received)

    econ = by_rcpt["econ@example.org"].message
    assert econ.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in econ.iter_parts()] == ["text/plain", "text/html"]
    text = econ.get_body(("plain",)).get_content()
    html = econ.get_body(("html",)).get_content()
    assert "开发区新签约项目12个" in text and "全区中小学开学第一课" not in text
    assert "<style" not in html and 'style="color: #b23a48;"' in html  # CSS inlined
    assert econ["Subject"] == f"每周要闻摘要 {WEEK}: 开发区新签约项目12个"
    assert econ["List-Unsubscribe"].strip() == (  # a long value is folded onto its own line
        "<mailto:editor@example.org?subject=unsubscribe%20econ@example.org>")
    assert econ["Message-ID"] == rows["econ@example.org"].message_id
    whole = by_rcpt["all@example.org"].message.get_body(("plain",)).get_content()
    assert "全区中小学开学第一课" in whole
    assert by_rcpt["all@example.org"].message["To"].addresses[0].display_name == "全部 读者"


def test_a_sent_digest_is_never_sent_again(tmp_path, smtp):
    controller, mailbox = smtp()
    config = make_config(tmp_path, controller.port)
    with open_store(config) as store:
        deliver_due(config, store.conn, [WEEK], compose, now=NOW)
        first = len(mailbox.received)
    with open_store(config) as store:  # a restart: a new connection, the same ledger
        later = NOW + dt.timedelta(days=3)
        report = deliver_due(config, store.conn, [WEEK], compose, now=later)
    assert first == 2 and len(mailbox.received) == 2
    assert report.sent == [] and report.failed == []


def test_message_id_is_deterministic(tmp_path):
    config = make_config(tmp_path, 25)
    letter = compose(WEEK, None)
    subscriber = config.subscribers[0]
    one = build_message(config, subscriber, letter, NOW)
    two = build_message(config, subscriber, letter, NOW + dt.timedelta(hours=5))
    other = build_message(config, config.subscribers[1], letter, NOW)
    assert one["Message-ID"] == two["Message-ID"] != other["Message-ID"]
    assert one["Message-ID"].endswith("@example.org>") and WEEK in one["Message-ID"]


def test_starttls_with_auth_verifies_the_certificate(tmp_path, smtp, monkeypatch):
    cert = make_certificate(tmp_path / "tls")
    controller, mailbox = smtp(starttls=cert, auth=True)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    config = make_config(tmp_path / "site", controller.port, f"""
security = "starttls"
username = "{SMTP_USER}"
password_env = "TEST_SMTP_PASSWORD"
ca_file = "{cert.cert}"
""")
    with open_store(config) as store:
        report = deliver_due(config, store.conn, [WEEK], compose, now=NOW)
    assert len(report.sent) == 2 and report.failed == []
    assert {m.login for m in mailbox.received} == {SMTP_USER.encode()}


def test_starttls_refuses_a_certificate_it_cannot_verify(tmp_path, smtp, monkeypatch, caplog):
    cert = make_certificate(tmp_path / "tls")
    controller, mailbox = smtp(starttls=cert, auth=True)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    config = make_config(tmp_path / "site", controller.port, f"""
security = "starttls"
username = "{SMTP_USER}"
password_env = "TEST_SMTP_PASSWORD"
""")  # no ca_file: the self-signed certificate is not trusted
    with caplog.at_level(logging.DEBUG), open_store(config) as store:
        report = deliver_due(config, store.conn, [WEEK], compose, now=NOW)
        rows = deliver.ledger_rows(store.conn)
    assert mailbox.received == [] and report.sent == []
    assert "CERTIFICATE_VERIFY_FAILED" in report.failed[0][2]
    # One attempt counted, for the first message; the others were not tried.
    assert {(r.subscriber, r.status, r.attempts) for r in rows} == {
        ("all@example.org", "retry", 1), ("econ@example.org", "retry", 0),
        ("culture@example.org", "retry", 0)}


def test_implicit_tls(tmp_path, smtp):
    cert = make_certificate(tmp_path / "tls")
    controller, mailbox = smtp(implicit_tls=cert)
    config = make_config(tmp_path / "site", controller.port,
                         f'security = "tls"\nca_file = "{cert.cert}"\n')
    with open_store(config) as store:
        report = deliver_due(config, store.conn, [WEEK], compose, now=NOW)
    assert len(report.sent) == 2 and len(mailbox.received) == 2


def test_a_wrong_password_is_never_logged_or_stored(tmp_path, smtp, monkeypatch, caplog):
    cert = make_certificate(tmp_path / "tls")
    controller, mailbox = smtp(starttls=cert, auth=True)
    wrong = "Wr0ng-Secret-Value"
    monkeypatch.setenv("TEST_SMTP_PASSWORD", wrong)
    config = make_config(tmp_path / "site", controller.port, f"""
security = "starttls"
username = "{SMTP_USER}"
password_env = "TEST_SMTP_PASSWORD"
ca_file = "{cert.cert}"
""")
    with caplog.at_level(logging.DEBUG), open_store(config) as store:
        report = deliver_due(config, store.conn, [WEEK], compose, now=NOW)
        stored = [r.last_error or "" for r in deliver.ledger_rows(store.conn)]
    assert mailbox.received == [] and len(report.failed) == 1 and len(report.deferred) == 2
    encoded = base64.b64encode(f"\0{SMTP_USER}\0{wrong}".encode()).decode()
    everything = caplog.text + "".join(stored) + repr(report)
    assert "535" in everything  # the server's refusal is reported ...
    assert wrong not in everything and encoded not in everything  # ... the secret is not


def test_a_missing_password_says_which_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_SMTP_PASSWORD", raising=False)
    config = make_config(tmp_path, free_port(), f'security = "none"\nusername = "{SMTP_USER}"'
                         f'\npassword_env = "TEST_SMTP_PASSWORD"\n')
    with open_store(config) as store:
        report = deliver_due(config, store.conn, [WEEK], compose, now=NOW)
    assert "TEST_SMTP_PASSWORD is empty" in report.failed[0][2]


def test_a_server_that_is_down_then_up_gets_each_digest_once(tmp_path, smtp):
    port = free_port()
    config = make_config(tmp_path, port)
    with open_store(config) as store:
        down = deliver_due(config, store.conn, [WEEK], compose, now=NOW)
        assert down.sent == [] and len(down.failed) == 1  # connection refused ...
        assert len(down.deferred) == 2  # ... and the others wait, no attempt counted
        rows = {r.subscriber: r for r in deliver.ledger_rows(store.conn)}
        assert rows["all@example.org"].status == "retry"
        assert rows["all@example.org"].next_try == NOW + dt.timedelta(seconds=60)

        soon = NOW + dt.timedelta(seconds=30)  # before next_try: nothing is attempted
        assert deliver_due(config, store.conn, [WEEK], compose, now=soon).failed == []

        again = NOW + dt.timedelta(seconds=61)  # still down: the backoff doubles
        deliver_due(config, store.conn, [WEEK], compose, now=again)
        row = deliver.ledger_row(store.conn, WEEK, "all@example.org")
        assert row.attempts == 2 and row.next_try == again + dt.timedelta(seconds=120)

        controller, mailbox = smtp(port)  # the server comes back
        later = again + dt.timedelta(seconds=121)
        up = deliver_due(config, store.conn, [WEEK], compose, now=later)
        assert len(up.sent) == 2 and len(mailbox.received) == 2
        for _ in range(3):  # and never again
            later += dt.timedelta(days=1)
            deliver_due(config, store.conn, [WEEK], compose, now=later)
        assert len(mailbox.received) == 2
        row = deliver.ledger_row(store.conn, WEEK, "all@example.org")
        assert (row.status, row.attempts) == ("sent", 3)


def test_giving_up_after_max_attempts(tmp_path):
    config = make_config(tmp_path, free_port(), 'security = "none"\nmax_attempts = 2\n')
    with open_store(config) as store:
        deliver_due(config, store.conn, [WEEK], compose, now=NOW)
        deliver_due(config, store.conn, [WEEK], compose, now=NOW + dt.timedelta(hours=1))
        rows = {r.subscriber: r for r in deliver.ledger_rows(store.conn)}
        assert (rows["all@example.org"].status, rows["all@example.org"].attempts) == (
            "gave_up", 2)
        assert rows["econ@example.org"].attempts == 0  # never tried: the server was down
        report = deliver_due(config, store.conn, [WEEK], compose, now=NOW + dt.timedelta(days=9))
    assert "all@example.org" not in {address for _, address, _ in report.failed}


def test_header_injection_from_article_text_stays_in_the_subject(tmp_path, smtp):
    controller, mailbox = smtp()
    config = make_config(tmp_path, controller.port, subscribers="""
[[subscribers]]
email = "reader@example.org"
name = "Reader\\r\\nBcc: name@evil.example"
""")
    evil = "头条\r\nBcc: victim@evil.example\r\nX-Injected: yes\u2028Cc: cc@evil.example\n\nbody"

    def evil_compose(week, subscriber):
        return Letter(week=week, start=dt.date(2026, 3, 2), end=dt.date(2026, 3, 8),
                      text=f"{evil}\n", html=f"<p>{evil}</p>", stories=1, headline=evil)

    with open_store(config) as store:
        report = deliver_due(config, store.conn, [WEEK], evil_compose, now=NOW)
    assert report.sent == [(WEEK, "reader@example.org")]
    [received] = mailbox.received
    assert received.rcpt_tos == ["reader@example.org"]  # the envelope is ours alone
    msg = received.message
    for header in ("Bcc", "Cc", "X-Injected"):
        assert msg[header] is None
    assert msg["Subject"] == (
        f"每周要闻摘要 {WEEK}: 头条 Bcc: victim@evil.example X-Injected: yes Cc: "
        f"cc@evil.example body")
    assert "evil" not in str(msg["To"].addresses[0].addr_spec)
    body = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert evil.replace("\r\n", "\n") in body  # the body keeps the text, harmlessly


def test_dry_run_writes_eml_files_and_leaves_the_ledger(tmp_path):
    config = make_config(tmp_path, free_port())  # nothing listens: a dry run never connects
    with open_store(config) as store:
        report = deliver_due(config, store.conn, [WEEK], compose, dry_run=True, now=NOW)
        assert deliver.ledger_rows(store.conn) == []
    names = sorted(p.relative_to(config.paths.output).as_posix() for p in report.written)
    assert names == [f"eml/{WEEK}/all@example.org.eml", f"eml/{WEEK}/econ@example.org.eml"]
    import email
    import email.policy
    msg = email.message_from_bytes(report.written[0].read_bytes(), policy=email.policy.default)
    assert msg.get_content_type() == "multipart/alternative"


def test_disabled_email_sends_nothing(tmp_path, smtp):
    controller, mailbox = smtp()
    config = make_config(tmp_path, controller.port, subscribers=SUBSCRIBERS)
    config = config.__class__(**{**config.__dict__,
                                 "email": config.email.__class__(
                                     **{**config.email.__dict__, "enabled": False})})
    with open_store(config) as store:
        report = deliver_due(config, store.conn, [WEEK], compose, now=NOW)
    assert report.sent == [] and mailbox.received == []


@pytest.mark.parametrize("value, expected", [
    ("a\r\nb", "a b"), ("a\nBcc: x", "a Bcc: x"), ("a\u2028b\u0085c", "a b c"),
    ("\t tab  and  spaces ", "tab and spaces"), ("nul\x00byte", "nul byte"),
])
def test_header_safe(value, expected):
    assert deliver.header_safe(value) == expected


def test_a_week_that_cannot_be_composed_does_not_block_the_others(tmp_path, smtp):
    controller, mailbox = smtp()
    config = make_config(tmp_path, controller.port)

    def half_broken(week, subscriber):
        if week == "2026-W09":
            raise ValueError("template error")
        return compose(week, subscriber)

    with open_store(config) as store:
        report = deliver_due(config, store.conn, ["2026-W09", WEEK], half_broken, now=NOW)
        row = deliver.ledger_row(store.conn, "2026-W09", "all@example.org")
    assert sorted(report.sent) == [(WEEK, "all@example.org"), (WEEK, "econ@example.org")]
    assert row.status == "retry" and "template error" in row.last_error


def test_a_subscriber_listed_twice_is_a_config_error(tmp_path):
    from digest.config import ConfigError

    with pytest.raises(ConfigError, match=r"subscribers\[1\].email: .* listed twice"):
        make_config(tmp_path, 25, subscribers="""
[[subscribers]]
email = "a@example.org"

[[subscribers]]
email = "A@example.org"
""")


# -- how failures count -------------------------------------------------------------------

class Picky:
    """An aiosmtpd handler with a reply per recipient: 550 (no such user), 451 (try later),
    or a dropped connection in the middle of DATA; everything else is accepted."""

    def __init__(self, replies: dict[str, str], drops: int = 0):
        self.replies = replies
        self.drops = drops  # how many DATA commands to answer by hanging up
        self.accepted: list[str] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.replies:
            return self.replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.drops:
            self.drops -= 1
            server.transport.close()
            return "421 gone"
        self.accepted += envelope.rcpt_tos
        return "250 Message accepted for delivery"


def picky_server(handler):
    from aiosmtpd.controller import Controller

    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller


def test_a_5xx_reply_gives_up_at_once_and_a_4xx_is_retried(tmp_path):
    handler = Picky({"all@example.org": "550 5.1.1 <all@example.org>: no such user here",
                     "econ@example.org": "451 4.3.0 mailbox busy, try later"})
    controller = picky_server(handler)
    try:
        config = make_config(tmp_path, controller.port, 'security = "none"\nmax_attempts = 8\n')
        with open_store(config) as store:
            report = deliver_due(config, store.conn, [WEEK], compose, now=NOW)
            rows = {r.subscriber: r for r in deliver.ledger_rows(store.conn)}
            later = deliver_due(config, store.conn, [WEEK], compose,
                                now=NOW + dt.timedelta(days=1))
    finally:
        controller.stop()
    gave_up = rows["all@example.org"]
    assert (gave_up.status, gave_up.attempts) == ("gave_up", 1)  # not max_attempts times
    assert "550 5.1.1 <all@example.org>: no such user here" in gave_up.last_error
    assert report.gave_up[0][:2] == (WEEK, "all@example.org")
    retry = rows["econ@example.org"]
    assert (retry.status, retry.attempts) == ("retry", 1) and "451 4.3.0" in retry.last_error
    assert [a for _, a, _ in later.failed] == ["econ@example.org"]  # 550 never again


def test_a_dropped_connection_costs_one_attempt_of_one_message(tmp_path):
    handler = Picky({}, drops=1)
    controller = picky_server(handler)
    try:
        config = make_config(tmp_path, controller.port, subscribers="""
[[subscribers]]
email = "one@example.org"

[[subscribers]]
email = "two@example.org"

[[subscribers]]
email = "three@example.org"
""")
        with open_store(config) as store:
            report = deliver_due(config, store.conn, [WEEK], compose, now=NOW)
            rows = {r.subscriber: (r.status, r.attempts) for r in deliver.ledger_rows(store.conn)}
    finally:
        controller.stop()
    assert [a for _, a, _ in report.failed] == ["one@example.org"]
    assert rows == {"one@example.org": ("retry", 1), "two@example.org": ("sent", 1),
                    "three@example.org": ("sent", 1)}
    assert sorted(handler.accepted) == ["three@example.org", "two@example.org"]


def test_the_subject_keeps_the_spaces_between_words(tmp_path, smtp):
    """Python's folder moves a space out of the encoded words where it breaks a long
    Subject, and decoders drop whitespace between encoded words (…工作致编辑部)."""
    controller, mailbox = smtp()
    config = make_config(tmp_path, controller.port, subscribers="""
[[subscribers]]
email = "desk@example.org"
name = "编辑部"
""")
    config = config.__class__(**{**config.__dict__, "email": config.email.__class__(
        **{**config.email.__dict__, "subject": "{title} {week}：{headline} 致{name}"})})
    headline = "凝神聚力 加快推进重点项目建设工作"  # a seed headline

    def one(week, subscriber):
        return Letter(week=week, start=dt.date(2026, 3, 2), end=dt.date(2026, 3, 8),
                      text="x", html="<p>x</p>", stories=1, headline=headline)

    with open_store(config) as store:
        deliver_due(config, store.conn, [WEEK], one, now=NOW)
    [received] = mailbox.received
    expected = f"每周要闻摘要 {WEEK}：{headline} 致编辑部"
    assert received.message["Subject"] == expected
    from email.header import decode_header, make_header
    raw = received.data.decode("ascii").split("\r\n\r\n")[0]
    assert "=?utf-8?" in raw  # encoded, and folded within 78 characters
    assert max(len(line) for line in raw.split("\r\n")) <= 78
    import email as email_pkg
    legacy = email_pkg.message_from_bytes(received.data)["Subject"]
    assert str(make_header(decode_header(legacy))) == expected  # an RFC 2047 decoder too
