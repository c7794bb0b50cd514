"""The Web UI shows an encrypted run's input decoded through `duragent codec-server`, and only
through it: headless Chromium renders the run's page from a dev server started as `duragent dev`
starts it, with the UI's codec endpoint set (`--ui-codec-endpoint`, the token in its path)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from duragent.workers._devserver import DevServer, free_port
from tests.conftest import require_tool
from tests.security.test_codec_server import (
    CANARY,
    EncryptedRun,
    run_encrypted,
    start_codec_server,
    stop,
)


def chromium() -> str:
    """The chromium binary; a missing one skips, except under CI, which installs it."""
    return require_tool(
        "chromium",
        "chromium-browser",
        missing="chromium is not installed: apt-get install chromium",
    )


def render(browser: str, url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran (and fetched from the codec server)."""
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", f"--user-data-dir={profile}", "--virtual-time-budget=5000",
         "--dump-dom", url],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture
async def ui_server(tmp_path: Path) -> AsyncIterator[tuple[DevServer, int]]:
    """A dev server whose UI decodes through a codec server on ``port`` (not started yet)."""
    token = "tok-" + os.urandom(12).hex()
    (tmp_path / "codec-token").write_text(token + "\n")
    port = free_port()
    server = DevServer(
        home=tmp_path / "server",
        port=free_port(),
        ui_port=free_port(),
        ui_codec_endpoint=f"http://127.0.0.1:{port}/{token}",
    )
    await server.start()
    try:
        yield server, port
    finally:
        server.stop()


async def test_the_web_ui_shows_the_input_only_through_the_codec_server(
    ui_server: tuple[DevServer, int], tmp_path: Path
) -> None:
    browser = chromium()
    server, codec_port = ui_server
    run: EncryptedRun = await run_encrypted(server.address, tmp_path)
    page = f"{server.ui_url}/namespaces/default/workflows/{run.workflow_id}/{run.run_id}/history"

    without = render(browser, page, tmp_path / "profile-1")
    assert run.workflow_id in without and "AgentRun" in without  # the page did render the run
    assert "Codec Server could not connect" in without
    assert CANARY not in without

    codec = start_codec_server(run.keys, tmp_path, [server.ui_url], port=codec_port)
    try:
        with_codec = render(browser, page, tmp_path / "profile-2")
    finally:
        stop(codec.process)
    assert CANARY in with_codec, "the Web UI did not show the decoded input"
    assert "1Z999AA10123456784" in with_codec  # and the decoded result
