"""The timeline of issue 11, replayed with `digest run --now` against a real SMTP server on
loopback, two subscribers:

- Thursday: an issue with 2 stories; Monday 09:00 the week's digest goes out with them;
- Tuesday: the week's last issue (Sunday's) arrives with 3 more, one datelined the week
  before: the week's page is rebuilt with 5, and the 3 go out in the next Monday's mail, in
  their own section;
- the service is down over a Monday: the issue of that week and a late one of the week
  before go out at the first run after, in one mail;
- a Monday with no paper sends nothing, and no run ever sends a story twice.

Every story of every issue reaches each subscriber in exactly one mail.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from digest import decode, parse

from .conftest import SEEDS
from .service_support import loopback_mail, start_smtp, write_config

pytestmark = pytest.mark.slow

BASE_URL = "https://digest.example.org/weekly/"
SUBJECT = 'subject = "{title} {week}：{headline} 致{name}"\n'
SUBSCRIBERS = ("editor@example.org", "reader@example.org")


def seed_stories() -> list:
    """News stories of the seeds with a title and a byline: text to build issues from."""
    stories: dict[str, object] = {}
    for path in sorted(SEEDS.glob("*.txt")):
        issue = parse.parse_issue(decode.read_issue_file(path))
        for story in issue.articles:  # one printing of each (the seeds repeat a story)
            if story.kind == "news" and story.title and story.byline:
                stories.setdefault(story.title, story)
    return list(stories.values())


def issue_text(masthead: tuple[int, int, int], number: int, stories, datelines) -> str:
    """An issue printed on `masthead` holding `stories`, each datelined (month, day)."""
    year, month, day = masthead
    lines = ["东 昌 时 讯", f"{year}年{month}月{day}日 总第{number}期", ""]
    for story, (m, d) in zip(stories, datelines):
        first, *rest = story.paragraphs
        first = re.sub(r"\d{1,2}月\d{1,2}日", f"{m}月{d}日", first, count=1)
        lines += [story.title, "", first, *rest, story.byline, ""]
    text = "\n".join(lines)
    assert len(parse.parse_text(text).articles) == len(stories)
    return text


class Replay:
    def __init__(self, tmp_path: Path, port: int):
        self.config = write_config(tmp_path, f"""
[digest]
base_url = "{BASE_URL}"

{loopback_mail(port, SUBJECT)}
[[subscribers]]
email = "editor@example.org"
name = "编辑部"

[[subscribers]]
email = "reader@example.org"
""")
        self.inbox = Path(self.config.paths.inbox)
        self.log: list[str] = []

    def drop(self, name: str, text: str) -> None:
        (self.inbox / name).write_text(text, encoding="utf-8")

    def run(self, now: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-m", "digest.cli", "--config", str(self.config.source), "run",
             "--now", now], capture_output=True, text=True, timeout=300,
            env={**os.environ, "DIGEST_HOME": str(self.config.paths.state)})
        self.log.append(f"$ digest run --now '{now}'  -> exit {result.returncode}\n"
                        f"{result.stdout}{result.stderr}")
        assert result.returncode == 0, result.stdout + result.stderr
        return result


def mail_stories(raw: bytes) -> tuple[str, list[str], list[str]]:
    """(week, main story titles, late story titles) from a received message's text part."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    main, _, late = text.partition("== 补发：")
    titles = lambda part: re.findall(r"^\* (.+)$", part, re.MULTILINE)  # noqa: E731
    week = msg["Message-ID"].split(".")[1]
    return week, titles(main), titles(late)


def test_every_story_reaches_each_subscriber_exactly_once(tmp_path):
    controller, mailbox = start_smtp()
    stories = seed_stories()
    a, b, c, d, e = (stories[0:2], stories[2:5], stories[5:7], stories[7:9], stories[9:10])
    issues = {  # issue -> the titles it carries
        "A": [s.title for s in a], "B": [s.title for s in b], "C": [s.title for s in c],
        "D": [s.title for s in d], "E": [s.title for s in e]}
    assert len({t for ts in issues.values() for t in ts}) == 10
    replay = Replay(tmp_path, controller.port)
    out = Path(replay.config.paths.output)
    try:
        # 2026-W10 is Monday 2 March to Sunday 8 March.
        replay.drop("A.txt", issue_text((2026, 3, 5), 2001, a, [(3, 4), (3, 3)]))
        replay.run("2026-03-05 10:00")
        assert mailbox.received == []  # the week is not over

        first = replay.run("2026-03-09 09:00")
        assert "built: 2026-W10" in first.stdout
        assert len(mailbox.received) == 2

        # Tuesday: Sunday's issue, the week's last, with one story datelined the week before.
        replay.drop("B.txt", issue_text((2026, 3, 8), 2002, b, [(3, 6), (3, 1), (3, 7)]))
        tuesday = replay.run("2026-03-10 10:00")
        assert "built: 2026-W10" in tuesday.stdout  # its week's page is rebuilt ...
        page = (out / "digest-2026-W10.html").read_text(encoding="utf-8")
        assert all(title in page for title in issues["A"] + issues["B"])
        assert "2026年3月1日" in page  # ... each story still shows its own date
        assert len(mailbox.received) == 2  # ... and nothing is mailed yet

        replay.drop("C.txt", issue_text((2026, 3, 12), 2003, c, [(3, 11), (3, 12)]))
        replay.run("2026-03-12 18:00")
        replay.run("2026-03-16 09:00")
        assert len(mailbox.received) == 4

        # Down from Friday 20 March to Tuesday 24 March, over the Monday: W12's issue and a
        # late Saturday issue of W11 wait in the inbox.
        replay.drop("D.txt", issue_text((2026, 3, 19), 2004, d, [(3, 18), (3, 17)]))
        replay.drop("E.txt", issue_text((2026, 3, 14), 2005, e, [(3, 13)]))
        after = replay.run("2026-03-24 10:00")
        assert "built: 2026-W11" in after.stdout and "built: 2026-W12" in after.stdout
        assert len(mailbox.received) == 6

        for now in ("2026-03-30 09:00", "2026-03-30 09:00", "2026-04-06 09:00"):
            replay.run(now)  # a week without paper, a repeated run: nothing more
        assert len(mailbox.received) == 6
    finally:
        controller.stop()
        print("\n".join(replay.log))

    mails: dict[str, list[tuple[str, list[str], list[str]]]] = {s: [] for s in SUBSCRIBERS}
    for received in mailbox.received:
        [rcpt] = received.rcpt_tos
        mails[rcpt].append(mail_stories(received.data))
    print("mail log (week, subscriber, stories):")
    for rcpt, got in mails.items():
        for week, main, late in got:
            print(f"  {week}  {rcpt}  {len(main)} stories: {', '.join(main)}"
                  + (f"; 补发 {len(late)}: {', '.join(late)}" if late else ""))

    for rcpt, got in mails.items():
        by_week = {week: (main, late) for week, main, late in got}
        assert sorted(by_week) == ["2026-W10", "2026-W11", "2026-W12"]
        assert sorted(by_week["2026-W10"][0]) == sorted(issues["A"])
        assert by_week["2026-W10"][1] == []
        assert sorted(by_week["2026-W11"][0]) == sorted(issues["C"])
        assert sorted(by_week["2026-W11"][1]) == sorted(issues["B"])  # late, the next mail
        assert sorted(by_week["2026-W12"][0]) == sorted(issues["D"])
        assert by_week["2026-W12"][1] == issues["E"]
        every = [t for main, late in by_week.values() for t in main + late]
        assert sorted(every) == sorted(t for ts in issues.values() for t in ts)  # once each

    late_mail = next(r for r in mailbox.received if r.rcpt_tos == ["editor@example.org"]
                     and "2026-W11" in r.message["Message-ID"]).message
    html = late_mail.get_body(("html",)).get_content()
    assert "补发：上周迟到的报道" in html
    links = re.findall(r'href="([^"]*)"', html)
    assert links and all(link.startswith(BASE_URL) or link.startswith("#") for link in links)
    assert f'{BASE_URL}digest-2026-W11.html' in links
    assert late_mail["Subject"].endswith(" 致编辑部")
