"""The HTML digests in a real headless browser (Debian's chromium).

Chromium is driven over the DevTools protocol through `--remote-debugging-pipe` (JSON
messages on file descriptors 3 and 4, each ended by a NUL byte): standard library only, no
websocket client, no browser download, nothing listening on a port. Each page is loaded
from file://; console errors, uncaught exceptions and browser-side errors (a CSP violation,
a missing resource) are collected while it loads. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from digest import pipeline
from digest.store import open_store
from digest.themes import display_title

from .digest_support import ARTIFACTS, HOSTILE_ISSUE, HOSTILE_TITLE, SEEDS, project_config

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TIMEOUT = 60.0
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}


class BrowserError(Exception):
    pass


class Chromium:
    """A headless chromium and one page, driven over the DevTools pipe."""

    def __init__(self, profile: Path):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Chromium reads commands on fd 3 and writes replies on fd 4. A shell moves our pipe
        # ends there (bash: dash only knows fds 0-9); copied above 10 first, so the moves can
        # never clobber one another.
        theirs = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_browser_r,
                                                                       from_browser_w)]
        for fd in (to_browser_r, from_browser_w):
            os.close(fd)
        command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                   "--no-first-run", "--disable-background-networking",
                   "--disable-component-update", "--disable-sync", "--disable-extensions",
                   "--mute-audio", "--hide-scrollbars", f"--user-data-dir={profile}",
                   "--remote-debugging-pipe", "about:blank"]
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", f'exec "$0" "$@" 3<&{theirs[0]} 4>&{theirs[1]}', *command],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=theirs)
        for fd in theirs:
            os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=self.session)

    def _send(self, message: dict) -> None:
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise BrowserError("chromium stopped answering")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise BrowserError("chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, session: str | None = None, **params) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self._send(message)
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def page(self, method: str, **params) -> dict:
        return self.call(method, session=self.session, **params)

    def wait_for(self, event: str) -> dict:
        deadline = time.monotonic() + TIMEOUT
        for i, seen in enumerate(self.events):
            if seen.get("method") == event:
                return self.events.pop(i)
        while True:
            message = self._receive(deadline)
            if message.get("method") == event:
                return message
            self.events.append(message)

    def open(self, url: str) -> list[str]:
        """Load `url`; return the errors the page produced while loading."""
        self.events.clear()
        self.page("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        self.page("Runtime.evaluate", expression="1", awaitPromise=True)  # flush events
        return self.errors()

    def errors(self) -> list[str]:
        found = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append("exception: " + json.dumps(params["exceptionDetails"])[:300])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error",
                                                                                  "assert"):
                found.append("console: " + json.dumps(params.get("args"))[:300])
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append("log: " + params["entry"].get("text", "")[:300])
        return found

    def evaluate(self, expression: str):
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        params = {"format": "png"}
        if full_page:
            size = self.page("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True, clip={
                "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        data = self.page("Page.captureScreenshot", **params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except BrowserError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (bench/install-chromium.sh installs it)")
    chromium = Chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The seeds plus an issue with a hostile headline, ingested and built."""
    root = tmp_path_factory.mktemp("browser")
    config = project_config(root / "state")
    (root / "in").mkdir()
    (root / "in" / "hostile.txt").write_text(HOSTILE_ISSUE, encoding="utf-8")
    pipeline.ingest_paths(config, [SEEDS, root / "in"])
    pipeline.build_weeks(config, None, config.paths.output)
    with open_store(config) as st:
        weeks = {str(w): st.articles_in_week(w) for w in st.weeks()}
    return config.paths.output, weeks


TITLES_JS = "Array.from(document.querySelectorAll('.article-title'), e => e.textContent)"


def test_every_digest_loads_cleanly_with_each_title_once(browser, built):
    out, weeks = built
    for week, articles in weeks.items():
        page = out / f"digest-{week}.html"
        assert browser.open(page.as_uri()) == [], week
        titles = browser.evaluate(TITLES_JS)
        assert sorted(titles) == sorted(display_title(a) for a in articles), week
        assert len(titles) == len(set(titles)), week
        ids = browser.evaluate("Array.from(document.querySelectorAll('[data-article-id]'),"
                               " e => e.dataset.articleId)")
        assert sorted(map(int, ids)) == sorted(a.id for a in articles), week
        # Readable on a phone: nothing wider than the screen, so no sideways scrolling.
        browser.page("Emulation.setDeviceMetricsOverride", **PHONE)
        overflow = browser.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{week}: page is {overflow}px wider than a phone screen"
        browser.page("Emulation.clearDeviceMetricsOverride")


def test_hostile_headline_renders_as_text(browser, built):
    out, weeks = built
    assert browser.open((out / "digest-2022-W34.html").as_uri()) == []
    assert HOSTILE_TITLE in browser.evaluate(TITLES_JS)
    assert browser.evaluate("document.scripts.length") == 0
    assert browser.evaluate("typeof window.pwned") == "undefined"
    assert browser.evaluate("document.querySelectorAll('article b').length") == 0
    browser.page("Emulation.setDeviceMetricsOverride", **PHONE)
    browser.evaluate("document.getElementById('article-"
                     f"{next(a.id for a in weeks['2022-W34'] if a.title == HOSTILE_TITLE)}')"
                     ".scrollIntoView()")
    browser.screenshot(ARTIFACTS / "digest-2022-W34-hostile.png", full_page=False)
    browser.page("Emulation.clearDeviceMetricsOverride")


def test_screenshots_and_index(browser, built):
    out, _ = built
    assert browser.open((out / "index.html").as_uri()) == []
    links = browser.evaluate("Array.from(document.querySelectorAll('main a[href$=\".html\"]'),"
                             " a => a.getAttribute('href'))")
    assert links == sorted(links, reverse=True) and len(links) == 4  # one per issue week
    browser.page("Emulation.setDeviceMetricsOverride", **{**PHONE, "deviceScaleFactor": 1})
    assert browser.open((out / "digest-2022-W35.html").as_uri()) == []
    shot = browser.screenshot(ARTIFACTS / "digest-2022-W35-phone.png")
    assert shot.stat().st_size > 10_000
    browser.page("Emulation.setDeviceMetricsOverride", width=1200, height=900,
                 deviceScaleFactor=1, mobile=False)
    assert browser.open((out / "digest-2022-W34.html").as_uri()) == []
    assert browser.screenshot(ARTIFACTS / "digest-2022-W34-desktop.png",
                              full_page=False).stat().st_size > 10_000
    browser.page("Emulation.clearDeviceMetricsOverride")


def test_the_harness_sees_errors(browser, tmp_path):
    """A page with a script error and a missing image must be reported: the checks above
    would pass vacuously if error collection were broken."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><title>x</title><img src='missing.png'>"
                    "<script>console.error('boom'); undefinedFunction();</script>",
                    encoding="utf-8")
    errors = browser.open(page.as_uri())
    assert any("boom" in e for e in errors)
    assert any(e.startswith("exception:") for e in errors)
    assert any("missing.png" in e or "ERR_FILE_NOT_FOUND" in e for e in errors), errors
