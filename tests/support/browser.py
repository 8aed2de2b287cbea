"""Headless Chromium driven over the Chrome DevTools protocol, for tests that look at a web page.

Debian's ``chromium`` package and the already-locked ``websocket-client`` are all it needs: no
WebDriver, no browser download. The page is read the way a person reads it, as its rendered text
(``innerText``), and clicked where it is drawn (mouse events at the element's centre).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import urllib.request
from pathlib import Path

import websocket

from tests.support.processes import group_alive, wait_for

# WebGL in software (no GPU here) kept the dashboard's main thread busy for tens of seconds,
# long enough for DevTools calls to time out; the dashboard draws nothing a test reads with it.
_FLAGS = ["--headless", "--disable-gpu", "--disable-3d-apis", "--no-first-run", "--no-default-browser-check"]
_CALL_TIMEOUT_S = 60
_BODY_TEXT = "document.body ? document.body.innerText : ''"


def chromium_binary() -> str | None:
    """Debian's ``chromium`` (or a ``chromium-browser``/``google-chrome`` on the PATH), if any."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


class BrowserError(RuntimeError):
    """The browser did not start, a DevTools call failed, or the page never showed what was awaited."""


class HeadlessChromium:
    """One headless Chromium with one tab, started in its own process group and profile folder."""

    def __init__(self, binary: str, profile_dir: Path, width: int = 1400, height: int = 1000):
        profile_dir.mkdir(parents=True, exist_ok=True)
        # Chromium writes the port it picked there once DevTools listens; one from an earlier
        # browser on the same profile would point at a closed port.
        port_file = profile_dir / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)
        flags = [*_FLAGS, f"--user-data-dir={profile_dir}", f"--window-size={width},{height}"]
        if os.geteuid() == 0:
            flags.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
        self._process = subprocess.Popen(
            [binary, *flags, "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._next_id = 0
        try:
            if not wait_for(lambda: port_file.exists() and port_file.read_text().strip(), 30):
                raise BrowserError(f"{binary} did not open its DevTools port within 30 s")
            port = int(port_file.read_text().split()[0])
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
                (page,) = [target for target in json.load(answer) if target["type"] == "page"]
            self._socket = websocket.create_connection(
                page["webSocketDebuggerUrl"], timeout=_CALL_TIMEOUT_S, suppress_origin=True
            )
            self.call(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
        except BaseException:
            self.close()
            raise

    def call(self, method: str, session: str | None = None, /, **params) -> dict:
        """Send one DevTools command (to an attached target's ``session``, else to the tab) and
        return its result; events arriving meanwhile are dropped."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        self._socket.send(json.dumps(message))
        while True:
            message = json.loads(self._socket.recv())
            if message.get("id") != self._next_id:
                continue
            if "error" in message:
                raise BrowserError(f"{method}: {message['error'].get('message', message['error'])}")
            return message["result"]

    def evaluate(self, expression: str, context_id: int | None = None, session: str | None = None):
        """The value of a JavaScript expression in the page (or in the execution context given)."""
        params = {"expression": expression, "returnByValue": True, "awaitPromise": True}
        if context_id is not None:
            params["contextId"] = context_id
        result = self.call("Runtime.evaluate", session, **params)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:80]!r} raised {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        """Navigate the tab to ``url``."""
        answer = self.call("Page.navigate", url=url)
        if answer.get("errorText"):
            raise BrowserError(f"cannot open {url}: {answer['errorText']}")

    def url(self) -> str:
        """The address the tab shows now."""
        return self.evaluate("location.href")

    def text(self) -> str:
        """The page's text as rendered (what a person can read, without the inside of iframes)."""
        return self.evaluate(_BODY_TEXT) or ""

    def wait_for_text(self, *needles: str, seconds: float = 30, read=None) -> str:
        """Poll until every needle is in the text ``read()`` returns (the page's by default)."""
        read = read or self.text
        seen = ""

        def shows_all() -> bool:
            nonlocal seen
            seen = read()
            return all(needle in seen for needle in needles)

        if not wait_for(shows_all, seconds, every=0.5):
            missing = [needle for needle in needles if needle not in seen]
            raise BrowserError(
                f"{self.url()} did not show {missing} within {seconds:.0f} s; it showed:\n{seen[:3000]}"
            )
        return seen

    def click_text(self, text: str, within: str = "body") -> None:
        """Click, as a mouse would, the innermost visible element whose text is ``text``, inside the
        first element that matches the CSS selector ``within`` (the whole page by default)."""
        box = self.evaluate(
            f"""(() => {{
                const scope = document.querySelector({json.dumps(within)});
                const hits = [...(scope ? scope.querySelectorAll('*') : [])].filter(element =>
                    element.innerText && element.innerText.trim() === {json.dumps(text)}
                    && element.getClientRects().length > 0);
                const innermost = hits.filter(element =>
                    !hits.some(other => other !== element && element.contains(other)));
                if (!innermost.length) return null;
                innermost[0].scrollIntoView({{block: 'center', inline: 'center'}});
                const r = innermost[0].getBoundingClientRect();
                return {{x: r.x + r.width / 2, y: r.y + r.height / 2}};
            }})()"""
        )
        if box is None:
            raise BrowserError(
                f"{self.url()}: no visible element with the text {text!r} in {within!r} to click"
            )
        for kind in ("mousePressed", "mouseReleased"):
            self.call(
                "Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], button="left", clickCount=1
            )

    def frame_texts(self) -> list[str]:
        """The rendered text of each iframe's document, sandboxed ones included."""
        return [text or "" for text in self.frame_values(_BODY_TEXT)]

    def frame_values(self, expression: str) -> list:
        """The value of a JavaScript expression in each iframe's document, sandboxed ones included.

        The dashboard shows an HTML visualization in a sandboxed iframe: out of reach of the page's
        own scripts, and drawn by a renderer process of its own (a DevTools target of its own).
        DevTools attaches to that target and evaluates in an isolated world of the frame (its DOM
        and layout, not its scripts' variables).
        """
        values = []
        for target in self.call("Target.getTargets")["targetInfos"]:
            if target["type"] != "iframe":
                continue
            try:
                attached = self.call("Target.attachToTarget", targetId=target["targetId"], flatten=True)
            except BrowserError:
                continue  # the frame went away since the listing (the page redrew it)
            session = attached["sessionId"]
            try:
                world = self.call("Page.createIsolatedWorld", session, frameId=target["targetId"])
                values.append(self.evaluate(expression, world["executionContextId"], session))
            finally:
                self.call("Target.detachFromTarget", sessionId=session)
        return values

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        """Save a PNG of the page (the whole scrollable page when ``full_page``)."""
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=full_page)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        """Close the browser and make sure none of its processes is left."""
        socket = getattr(self, "_socket", None)
        if socket is not None:
            try:
                self.call("Browser.close")
            except Exception:  # noqa: BLE001 - the process group is killed below anyway
                pass
            socket.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        # Chromium's renderer and zygote processes share its process group.
        if group_alive(self._process.pid):
            os.killpg(self._process.pid, signal.SIGKILL)
            wait_for(lambda: not group_alive(self._process.pid), 10)
        if self._process.poll() is None:
            self._process.wait(timeout=10)
