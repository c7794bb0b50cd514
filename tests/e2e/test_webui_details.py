"""A paused run reads by itself in the real Temporal Web UI: headless Chromium opens the support
example's refund run, paused for a support lead, and the page's Current Details name the step,
the tool, who may decide and the exact JSON to send. A screenshot of the page is kept.

The page is read over the DevTools protocol (``--remote-debugging-pipe``), not with
``--dump-dom``: a running workflow's page keeps a history long-poll open, so a virtual-time
budget never runs out, and the details are rendered in an iframe after the UI queried the worker.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus

from duragent import RunRequest
from duragent.activities.models import ScriptedProvider
from duragent.client import start_run
from duragent.examples.customer_support import db
from duragent.examples.customer_support.app import APPROVAL_SCENARIO, ENTRY_AGENT, app
from duragent.settings import Settings
from duragent.workers import connect
from duragent.workers._devserver import DevServer, free_port
from tests.conftest import new_worker, wait_for_pending
from tests.security.test_webui_codec import chromium

TEXT = (
    "[document.body?.innerText ?? '', ...[...document.querySelectorAll('iframe')]"
    ".map(f => f.contentDocument?.body?.innerText ?? '')].join('\\n')"
)
"""The page's text and that of its (same-origin) iframes: the UI renders details in one."""


class Browser:
    """Headless Chromium driven over the DevTools protocol on fds 3 and 4 (NUL-framed JSON)."""

    def __init__(self, binary: str, profile: Path) -> None:
        child_in, self._out = os.pipe()
        self._in, child_out = os.pipe()

        def pipes() -> None:  # the protocol's fixed descriptors, in the child
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        self.process = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", f"--user-data-dir={profile}", "--remote-debugging-pipe",
             "--window-size=1440,1000", "about:blank"],
            preexec_fn=pipes, close_fds=False,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(child_in)
        os.close(child_out)
        self._buffer = b""
        self._last_id = 0

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                chunk = os.read(self._in, 1 << 16)
                assert chunk, "chromium exited"
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._last_id:
                assert "error" not in reply, reply["error"]
                return dict(reply["result"])

    def read_page(self, url: str, until: str, screenshot: Path, timeout_s: float = 30) -> str:
        """The page's text once it holds ``until`` (or the timeout passed); a PNG saved."""
        target = self.call("Target.createTarget", url=url)["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        deadline, text = time.monotonic() + timeout_s, ""
        while time.monotonic() < deadline and until not in text:
            time.sleep(0.3)
            text = self.call("Runtime.evaluate", session, expression=TEXT)["result"].get(
                "value", ""
            )
        time.sleep(0.5)  # the last paint
        shot = self.call("Page.captureScreenshot", session, format="png")["data"]
        screenshot.write_bytes(base64.b64decode(shot))
        return str(text)

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        os.close(self._in)
        os.close(self._out)


def read_page(binary: str, profile: Path, url: str, until: str, screenshot: Path) -> str:
    browser = Browser(binary, profile)
    try:
        return browser.read_page(url, until, screenshot)
    finally:
        browser.close()


@pytest.fixture
async def ui_server(tmp_path: Path) -> AsyncIterator[DevServer]:
    """A dev server with its Web UI, as `duragent dev` starts it."""
    server = DevServer(home=tmp_path / "server", port=free_port(), ui_port=free_port())
    await server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_the_web_ui_shows_what_a_paused_run_waits_for(
    ui_server: DevServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = chromium()
    monkeypatch.setenv(db.ENV_VAR, str(tmp_path / "support.db"))
    settings = Settings.from_env({}, address=ui_server.address, home=tmp_path / "home")
    client = await connect(settings)
    scripted = {"scripted": ScriptedProvider()}
    # The worker must run while the page loads: the UI asks it for the details (a query).
    async with new_worker(client, app, settings=settings, providers=scripted) as worker:
        handle = await start_run(
            client,
            RunRequest(agent=ENTRY_AGENT, input=APPROVAL_SCENARIO),
            task_queue=worker.task_queue,
        )
        (request,) = await wait_for_pending(handle)
        run_id = (await handle.describe()).run_id
        page = f"{ui_server.ui_url}/namespaces/default/workflows/{handle.id}/{run_id}/user-metadata"
        png = tmp_path / "paused-run.png"
        # In a thread: the worker answering the UI's query runs on this event loop.
        text = await asyncio.to_thread(
            read_page, browser, tmp_path / "profile", page, "To reject", png
        )
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            await handle.terminate("test over")
    print(f"\nscreenshot: {png}")
    start = text.find("Waiting for approval")
    assert start >= 0, f"no Current Details on the page: {text[:3000]}"
    shown = text[start:]
    print(f"Current Details as rendered: {shown}")
    step = request.step_id
    assert f"step {step}" in shown and "refund_order" in shown
    assert "role support_lead (lee)" in shown
    assert "To approve, send Signal approve or Update decide with input:" in shown
    assert f'{{"step_id": "{step}", "approver": "lee"}}' in shown
    assert png.stat().st_size > 10_000, "the screenshot is empty"
