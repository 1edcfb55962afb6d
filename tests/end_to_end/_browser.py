"""Headless Chromium driven over the DevTools protocol, for tests of the HTML report.

The browser talks over ``--remote-debugging-pipe`` (file descriptors 3 and 4, messages
ended by NUL), so no port is opened and no client library is needed. :func:`open_page`
loads a file and reports what a reader's browser would have done with it: every console
message, every uncaught exception, every network request and every dialog.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
)


def chromium_path() -> str | None:
    """The Chromium executable: ``$HARNESS_CHROMIUM``, else ``chromium`` or ``chromium-browser`` on PATH."""
    explicit = os.environ.get("HARNESS_CHROMIUM")
    if explicit:
        return explicit
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class BrowserError(RuntimeError):
    """The browser died, answered with an error, or did not answer in time."""


@dataclass
class Page:
    """What happened while a page loaded, and a handle to ask it more."""

    browser: Browser
    session: str
    url: str
    console: list[dict[str, Any]] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        """Console errors and uncaught exceptions, as text."""
        out = [str(m.get("text", m)) for m in self.console if m.get("level") in ("error", "assert")]
        out += [json.dumps(e) for e in self.exceptions]
        return out

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-serialisable values only)."""
        reply = self.browser.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}, self.session
        )
        if "exceptionDetails" in reply:
            raise BrowserError(f"{expression!r} raised {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot(self, path: Path, width: int = 1280, height: int | None = None) -> Path:
        """A PNG of the page at ``width`` pixels: the top ``height`` pixels, or all of it."""

        def viewport(rows: int) -> None:
            metrics = {"width": width, "height": rows, "deviceScaleFactor": 1, "mobile": False}
            self.browser.call("Emulation.setDeviceMetricsOverride", metrics, self.session)

        # Lay the page out at the final width first: its height depends on how lines wrap.
        viewport(height or 800)
        full = int(self.evaluate("Math.ceil(document.documentElement.scrollHeight)"))
        viewport(min(height or full, full))
        reply = self.browser.call("Page.captureScreenshot", {"format": "png"}, self.session, timeout=60)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(reply["data"]))
        return path

    def element_screenshot(self, path: Path, selector: str, width: int = 1280) -> Path:
        """A PNG of the first element ``selector`` matches, the page laid out ``width`` pixels wide."""
        self.screenshot(path, width)
        box = self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
            " return [r.left + scrollX, r.top + scrollY, r.width, r.height]; })()"
        )
        clip = dict(zip(("x", "y", "width", "height"), box, strict=True)) | {"scale": 1}
        reply = self.browser.call("Page.captureScreenshot", {"format": "png", "clip": clip}, self.session, timeout=60)
        path.write_bytes(base64.b64decode(reply["data"]))
        return path


class Browser:
    """One headless Chromium process; close it with :meth:`close` (or use :func:`browser`)."""

    def __init__(self, executable: str, profile: Path) -> None:
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire_pipes() -> None:
            # Chromium reads commands on fd 3 and writes replies on fd 4; dup first so that a
            # pipe end that already is fd 3 or 4 loses its close-on-exec flag too.
            read_end, write_end = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            preexec_fn=wire_pipes,
            close_fds=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    def _send(self, message: dict[str, Any]) -> None:
        os.write(self._to_child, json.dumps(message).encode("utf-8") + b"\0")

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError("no answer from chromium in time")
            ready, _, _ = select.select([self._from_child], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._from_child, 1 << 16)
            if not chunk:
                raise BrowserError(f"chromium exited (code {self.process.poll()})")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def call(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None, timeout: float = 30
    ) -> Any:
        """Send one command and return its result; events that arrive meanwhile are queued."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._send(message)
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    def events(self, timeout: float = 0.0) -> Iterator[dict[str, Any]]:
        """Queued events, then whatever arrives within ``timeout`` seconds."""
        while self._events:
            yield self._events.pop(0)
        deadline = time.monotonic() + timeout
        while True:
            try:
                yield self._receive(deadline)
            except BrowserError:
                if self.process.poll() is not None:
                    raise
                return

    def open(self, url: str, settle: float = 0.5, timeout: float = 60) -> Page:
        """Load ``url`` in a new tab and record everything it did until it loaded and settled."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session, url)
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable", {}, session)
        self.call("Page.navigate", {"url": url}, session)
        deadline = time.monotonic() + timeout
        loaded = False
        while not loaded:
            if time.monotonic() > deadline:
                raise BrowserError(f"{url} did not finish loading in {timeout} s")
            for event in self.events(timeout=deadline - time.monotonic()):
                if event.get("sessionId") == session and self._record(page, event):
                    loaded = True
                    break
        # What the page still does right after load (its script, late requests) counts too.
        for event in self.events(timeout=settle):
            if event.get("sessionId") == session:
                self._record(page, event)
        return page

    def _record(self, page: Page, event: dict[str, Any]) -> bool:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            level = {"warning": "warning", "error": "error", "assert": "assert"}.get(params.get("type", ""), "info")
            page.console.append({"level": level, "text": text})
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            page.console.append({"level": entry.get("level"), "text": entry.get("text"), "url": entry.get("url")})
        elif method == "Runtime.exceptionThrown":
            page.exceptions.append(params.get("exceptionDetails", {}))
        elif method == "Network.requestWillBeSent":
            page.requests.append(params.get("request", {}).get("url", ""))
        elif method == "Page.javascriptDialogOpening":
            page.dialogs.append(params.get("message", ""))
            self.call("Page.handleJavaScriptDialog", {"accept": False}, page.session)
        elif method == "Page.loadEventFired":
            return True
        return False

    def close(self) -> None:
        with suppress(BrowserError, OSError):
            self.call("Browser.close", timeout=5)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_child, self._from_child):
            with suppress(OSError):
                os.close(fd)


@contextmanager
def browser(executable: str | None = None) -> Iterator[Browser]:
    """A fresh headless Chromium with a throwaway profile, closed on exit."""
    path = executable or chromium_path()
    if path is None:
        raise BrowserError("chromium is not installed (apt-get install chromium, or set HARNESS_CHROMIUM)")
    with tempfile.TemporaryDirectory(prefix="harness-chromium-") as profile:
        instance = Browser(path, Path(profile))
        try:
            instance.call("Browser.getVersion", timeout=60)
            yield instance
        finally:
            instance.close()


def artifacts_dir(default: Path) -> Path:
    """Where screenshots go: ``$HARNESS_ARTIFACTS`` (kept by CI), else ``default``."""
    return Path(os.environ.get("HARNESS_ARTIFACTS") or default)


def load(chromium: Browser, path: Path) -> Page:
    page = chromium.open(path.resolve().as_uri())
    assert page.errors == [], page.errors
    assert page.requests == [path.resolve().as_uri()], f"requests besides the file: {page.requests}"
    assert page.dialogs == []
    return page


def each(page: Page, selector: str, expression: str = "e.textContent.trim()") -> list[Any]:
    """``expression`` (of ``e``) for every element ``selector`` matches, in document order."""
    values: list[Any] = page.evaluate(
        f"Array.from(document.querySelectorAll({json.dumps(selector)})).map(e => {expression})"
    )
    return values
