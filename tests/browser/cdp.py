"""A tiny Chrome DevTools Protocol client: just enough to drive a headless Chromium in tests.

One websocket to the browser; each page is a target attached with ``flatten=True``, so its
commands travel on the same socket tagged with a ``sessionId``. Clicks and typing go
through ``Input.*`` (real mouse and keyboard events), not through ``element.click()``.

    async with await Browser.launch() as browser:
        page = await browser.new_page()
        await page.navigate("http://127.0.0.1:8080/")
        await page.click("#composer-input")
        await page.type("你好")
        await page.press_enter()
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import re
import shutil
import tempfile
import time
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp

__all__ = ["DEFAULT_CHROMIUM", "Browser", "CDPError", "JSError", "Page"]

DEFAULT_CHROMIUM = "/usr/bin/chromium"
COMMAND_TIMEOUT = 30.0
_DEVTOOLS_RE = re.compile(r"DevTools listening on (ws://\S+)")

JSON = dict[str, Any]


class CDPError(Exception):
    """The browser refused a DevTools command."""


class JSError(Exception):
    """JavaScript evaluated in the page threw."""


class Browser:
    """A headless Chromium process and the DevTools websocket to it."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        profile_dir: str,
        http: aiohttp.ClientSession,
        ws: aiohttp.ClientWebSocketResponse,
        stderr_tail: deque[str],
        stderr_task: asyncio.Task[None],
        viewport: tuple[int, int],
    ) -> None:
        self._process = process
        self._profile_dir = profile_dir
        self._http = http
        self._ws = ws
        self._stderr_tail = stderr_tail
        self._stderr_task = stderr_task
        self._viewport = viewport
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[JSON]] = {}
        self._pages: dict[str, Page] = {}  # by session id
        self._closed = False
        self._reader = asyncio.create_task(self._read_loop())

    @classmethod
    async def launch(
        cls,
        executable: str = DEFAULT_CHROMIUM,
        *,
        width: int = 1280,
        height: int = 800,
        startup_timeout: float = 30.0,
    ) -> Browser:
        profile_dir = tempfile.mkdtemp(prefix="xueyong-chromium-")
        args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--lang=zh-CN",
            f"--user-data-dir={profile_dir}",
            "--remote-debugging-port=0",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        process = await asyncio.create_subprocess_exec(
            executable,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stderr is not None
        tail: deque[str] = deque(maxlen=50)
        found: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def drain(stream: asyncio.StreamReader) -> None:
            # Keep reading stderr for the browser's whole life: a full pipe would block it.
            while line := await stream.readline():
                text = line.decode(errors="replace").rstrip()
                tail.append(text)
                match = _DEVTOOLS_RE.search(text)
                if match and not found.done():
                    found.set_result(match.group(1))
            if not found.done():
                found.set_exception(RuntimeError("Chromium exited before DevTools was ready"))

        stderr_task = asyncio.create_task(drain(process.stderr))
        http: aiohttp.ClientSession | None = None
        try:
            ws_url = await asyncio.wait_for(found, startup_timeout)
            http = aiohttp.ClientSession()
            ws = await http.ws_connect(ws_url, max_msg_size=0, autoping=True)
        except BaseException as exc:
            if http is not None:
                await http.close()
            await _end_process(process)
            await stderr_task
            shutil.rmtree(profile_dir, ignore_errors=True)
            if isinstance(exc, Exception):
                detail = "\n".join(tail)
                raise RuntimeError(f"could not start Chromium: {exc!r}\n{detail}") from exc
            raise
        return cls(process, profile_dir, http, ws, tail, stderr_task, (width, height))

    @property
    def stderr_tail(self) -> str:
        """The last lines Chromium wrote to stderr (for failure messages)."""
        return "\n".join(self._stderr_tail)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def send(
        self, method: str, params: JSON | None = None, *, session_id: str | None = None
    ) -> JSON:
        """Send one DevTools command and return its result."""
        if self._closed:
            raise CDPError(f"{method}: the browser is closed")
        message: JSON = {"id": next(self._ids), "method": method, "params": params or {}}
        if session_id is not None:
            message["sessionId"] = session_id
        future: asyncio.Future[JSON] = asyncio.get_running_loop().create_future()
        self._pending[message["id"]] = future
        try:
            await self._ws.send_str(json.dumps(message))
            return await asyncio.wait_for(future, COMMAND_TIMEOUT)
        finally:
            self._pending.pop(message["id"], None)

    async def _read_loop(self) -> None:
        try:
            async for frame in self._ws:
                if frame.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(frame.data)
                if "id" in data:
                    future = self._pending.get(data["id"])
                    if future is None or future.done():
                        continue
                    if "error" in data:
                        error = data["error"]
                        future.set_exception(
                            CDPError(f"{error.get('message')} {error.get('data', '')}")
                        )
                    else:
                        future.set_result(data.get("result", {}))
                elif (page := self._pages.get(data.get("sessionId", ""))) is not None:
                    page._on_event(data["method"], data.get("params", {}))
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(CDPError("the DevTools connection closed"))

    async def new_page(self) -> Page:
        """A new tab, attached, with Page and Runtime events on and the default viewport."""
        created = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send(
            "Target.attachToTarget", {"targetId": created["targetId"], "flatten": True}
        )
        page = Page(self, created["targetId"], attached["sessionId"])
        self._pages[page.session_id] = page
        await page.send("Page.enable")
        await page.send("Runtime.enable")
        await page.set_viewport(*self._viewport)
        return page

    async def close(self) -> None:
        """Close the browser, its socket and its profile; never leaves the process behind."""
        if self._closed:
            return
        with contextlib.suppress(CDPError, TimeoutError, aiohttp.ClientError, ConnectionError):
            await asyncio.wait_for(self.send("Browser.close"), 5)
        self._closed = True
        await self._ws.close()
        await self._http.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await _end_process(self._process)
        await self._stderr_task
        shutil.rmtree(self._profile_dir, ignore_errors=True)


async def _end_process(process: asyncio.subprocess.Process, grace: float = 10.0) -> None:
    if process.returncode is None:
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            process.kill()
            await process.wait()


class Page:
    """One tab. ``evaluate`` and ``wait_for`` take JavaScript expressions."""

    def __init__(self, browser: Browser, target_id: str, session_id: str) -> None:
        self.browser = browser
        self.target_id = target_id
        self.session_id = session_id
        # Uncaught exceptions and console.error() calls of the page, for assertions.
        self.errors: list[str] = []
        self._event_waiters: list[tuple[str, asyncio.Future[JSON]]] = []

    async def send(self, method: str, params: JSON | None = None) -> JSON:
        return await self.browser.send(method, params, session_id=self.session_id)

    def _on_event(self, method: str, params: JSON) -> None:
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            exception = details.get("exception", {})
            self.errors.append(str(exception.get("description") or details.get("text")))
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            args = params.get("args", [])
            self.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in args))
        for waiter in [w for w in self._event_waiters if w[0] == method]:
            self._event_waiters.remove(waiter)
            if not waiter[1].done():
                waiter[1].set_result(params)

    def _expect_event(self, method: str) -> asyncio.Future[JSON]:
        future: asyncio.Future[JSON] = asyncio.get_running_loop().create_future()
        self._event_waiters.append((method, future))
        return future

    async def set_viewport(self, width: int, height: int) -> None:
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    async def navigate(self, url: str, timeout: float = 15.0) -> None:
        """Open ``url`` and wait for its load event."""
        loaded = self._expect_event("Page.loadEventFired")
        result = await self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            loaded.cancel()
            raise CDPError(f"navigation to {url} failed: {result['errorText']}")
        await asyncio.wait_for(loaded, timeout)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises are awaited), as JSON."""
        result = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            description = details.get("exception", {}).get("description") or details.get("text")
            raise JSError(f"{description}\n  in: {expression}")
        return result.get("result", {}).get("value")

    async def wait_for(self, predicate: str, timeout: float = 10.0, interval: float = 0.1) -> Any:
        """Poll a JavaScript expression until its value is truthy; return the value.

        The value comes back as JSON and is tested in Python: a DOM element arrives as
        ``{}`` (false), so test elements with ``!== null``. An expression that throws
        counts as false (the page may still be rendering).
        """
        deadline = time.monotonic() + timeout
        last_error: JSError | None = None
        while True:
            try:
                value = await self.evaluate(predicate)
            except JSError as exc:
                last_error, value = exc, None
            if value:
                return value
            if time.monotonic() >= deadline:
                hint = f" (last error: {last_error})" if last_error else ""
                raise TimeoutError(f"timed out after {timeout}s waiting for: {predicate}{hint}")
            await asyncio.sleep(interval)

    async def click(
        self,
        selector: str | None = None,
        *,
        text: str | None = None,
        within: str | None = None,
        last: bool = False,
        timeout: float = 10.0,
    ) -> None:
        """Click an element with real mouse events at its centre.

        The element is the one matching the CSS ``selector``, or the clickable element
        (button, link, ...) whose text is ``text`` (exactly, else containing it), optionally
        inside the element matching ``within``; ``last`` picks the last match instead of the
        first. Waits until it exists, is enabled and is not covered by something else.
        """
        if (selector is None) == (text is None):
            raise ValueError("give either a selector or text")
        finder = _FIND_ELEMENT % {
            "selector": json.dumps(selector),
            "text": json.dumps(text),
            "within": json.dumps(within),
            "last": json.dumps(last),
        }
        box = await self.wait_for(finder, timeout=timeout)
        x, y = float(box["x"]), float(box["y"])
        await self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
        for kind in ("mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
            )

    async def type(self, text: str) -> None:
        """Type ``text`` into the focused element (as an input method would insert it)."""
        await self.send("Input.insertText", {"text": text})

    async def press_enter(self) -> None:
        key = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}
        await self.send("Input.dispatchKeyEvent", {"type": "keyDown", **key, "text": "\r"})
        await self.send("Input.dispatchKeyEvent", {"type": "keyUp", **key})

    async def screenshot(self, path: str | Path) -> Path:
        """Save a PNG of the viewport."""
        result = await self.send("Page.captureScreenshot", {"format": "png"})
        target = Path(path)
        await asyncio.to_thread(_write_file, target, base64.b64decode(result["data"]))
        return target


def _write_file(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


# Finds the element for Page.click, scrolls it into view and returns its centre, or null
# while it is missing, disabled or covered (wait_for then tries again).
_FIND_ELEMENT = """(() => {
  const selector = %(selector)s, text = %(text)s, within = %(within)s, last = %(last)s;
  const scope = within ? document.querySelector(within) : document;
  if (!scope) return null;
  let found = [];
  if (selector !== null) {
    found = [...scope.querySelectorAll(selector)];
  } else {
    const clickable = [...scope.querySelectorAll(
      'button, a, [role="button"], input[type="submit"], input[type="button"], summary, label'
    )].filter((el) => el.getClientRects().length > 0);
    found = clickable.filter((el) => el.textContent.trim() === text);
    if (found.length === 0) found = clickable.filter((el) => el.textContent.includes(text));
  }
  const el = last ? found[found.length - 1] : found[0];
  if (!el || el.disabled) return null;
  el.scrollIntoView({block: "center", inline: "center"});
  const rect = el.getBoundingClientRect();
  if (rect.width === 0 || rect.height === 0) return null;
  const x = rect.left + rect.width / 2, y = rect.top + rect.height / 2;
  const hit = document.elementFromPoint(x, y);
  if (!hit || !(hit === el || el.contains(hit))) return null;
  return {x, y};
})()"""
