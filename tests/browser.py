"""A real headless Chromium driven over the Chrome DevTools Protocol, for the report's browser test.

    with Chromium() as browser:
        page = browser.open(Path("report.html").as_uri())
        page.errors      # console errors, uncaught exceptions, failed loads
        page.requests    # every URL the page asked for (file:, data:, or anything else)
        page.evaluate("document.querySelectorAll('svg').length")
        page.screenshot()  # PNG bytes

Chromium comes from the system (Debian package `chromium`). Run as root it needs --no-sandbox; the
profile is a temporary directory and every background fetch Chromium itself would make is switched off,
so the test touches no network. Waiting is on the protocol's events, with a deadline, never on sleeps.
"""
from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from websockets.sync.client import connect

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
         "--mute-audio", "--hide-scrollbars", "--remote-debugging-port=0", "--remote-allow-origins=*"]
DEADLINE = 60.0  # seconds for any one step: generous for a loaded CI machine; a hang fails, not waits


def executable() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


class Chromium:
    def __init__(self, width: int = 1200, height: int = 1600):
        self.width, self.height = width, height

    def __enter__(self) -> "Chromium":
        exe = executable()
        if exe is None:
            raise RuntimeError("no chromium on PATH (apt-get install -y chromium)")
        self._profile = tempfile.mkdtemp(prefix="pifu-chromium-")
        self._proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={self._profile}", f"--window-size={self.width},{self.height}",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        url = self._devtools_url()
        self._stack = contextlib.ExitStack()
        self._ws = self._stack.enter_context(connect(url, max_size=None, open_timeout=DEADLINE))
        self._ids = itertools.count(1)
        return self

    def _devtools_url(self) -> str:
        # Chromium prints "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/<id>" once ready.
        seen = []
        for line in self._proc.stderr:
            seen.append(line)
            m = re.search(r"DevTools listening on (ws://\S+)", line)
            if m:
                return m.group(1)
        raise RuntimeError("chromium exited before DevTools listened: " + "".join(seen[-20:]))

    def __exit__(self, *exc) -> None:
        try:
            self._stack.close()
        finally:
            self._proc.kill()
            self._proc.wait()
            self._proc.stderr.close()
            shutil.rmtree(self._profile, ignore_errors=True)

    # ------------------------------------------------------------ protocol
    def send(self, method: str, params: dict | None = None, session: str | None = None,
             events: list | None = None) -> dict:
        """Send a command, return its result; events that arrive meanwhile go to `events`."""
        msg_id = next(self._ids)
        msg = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self._ws.send(json.dumps(msg))
        end = time.monotonic() + DEADLINE
        while True:
            reply = json.loads(self._ws.recv(timeout=max(0.1, end - time.monotonic())))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if events is not None and "method" in reply:
                events.append(reply)

    def wait_for(self, method: str, events: list) -> dict:
        for e in events:
            if e["method"] == method:
                return e
        end = time.monotonic() + DEADLINE
        while True:
            e = json.loads(self._ws.recv(timeout=max(0.1, end - time.monotonic())))
            if "method" in e:
                events.append(e)
                if e["method"] == method:
                    return e

    def open(self, url: str) -> "Page":
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=session, events=page.events)
        self.send("Emulation.setDeviceMetricsOverride", {"width": self.width, "height": self.height,
                                                         "deviceScaleFactor": 1, "mobile": False},
                  session=session, events=page.events)
        page.events.clear()
        self.send("Page.navigate", {"url": url}, session=session, events=page.events)
        self.wait_for("Page.loadEventFired", page.events)
        # A round trip after the load: console messages logged during it have arrived by then.
        page.evaluate("1")
        return page


class Page:
    def __init__(self, browser: Chromium, session: str):
        self.browser, self.session, self.events = browser, session, []

    def evaluate(self, expression: str):
        result = self.browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                                   session=self.session, events=self.events)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, full_page: bool = False) -> bytes:
        params = {"format": "png", "captureBeyondViewport": full_page}
        data = self.browser.send("Page.captureScreenshot", params, session=self.session, events=self.events)["data"]
        return base64.b64decode(data)

    @property
    def errors(self) -> list[str]:
        """Console errors and warnings-as-errors, uncaught exceptions, and loads that failed."""
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                out.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
            elif e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console.error: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
            elif e["method"] == "Network.loadingFailed":
                out.append(f"load failed: {p.get('errorText')}")
        return out

    @property
    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"]


def png_stats(png: bytes) -> tuple[int, int, float]:
    """(width × height, distinct colours, share of pixels that are not white) of a PNG."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    w, h = image.size
    colours = image.getcolors(maxcolors=w * h)
    white = next((n for n, c in colours if c == (255, 255, 255)), 0)
    return w * h, len(colours), 1 - white / (w * h)


if __name__ == "__main__":  # manual check: python tests/browser.py FILE.html
    import sys

    with Chromium() as b:
        p = b.open(os.path.abspath(sys.argv[1]) if "://" in sys.argv[1] else "file://" + os.path.abspath(sys.argv[1]))
        print("errors:", p.errors)
        print("requests:", p.requests)
        print("png:", png_stats(p.screenshot()))
