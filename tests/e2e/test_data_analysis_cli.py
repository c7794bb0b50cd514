"""The data-analysis example as a user runs it: `duragent dev --app ...`, `run --wait`, `show`,
`demo --exit`; the chart lands on disk and its path is printed.

Real processes (the dev server, a main and a sandbox worker) on free ports; the sandbox jobs
run in bubblewrap, so the tests skip where it cannot run (and fail in CI, where it must).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from duragent.activities.sandbox import BwrapBackend
from tests.e2e.test_cli import DURAGENT, ROOT, env_for, free_port, port_open, stop, wait_for

APP = "duragent.examples.data_analysis.app:app"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SAVED = re.compile(r"^saved out/(sales_q\d_2026\.png) \([\d,]+ bytes\) to (.+)$", re.MULTILINE)


@pytest.fixture(autouse=True)
def _bwrap() -> None:
    why = BwrapBackend().available()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run sandbox jobs in bubblewrap: {why}")
        pytest.skip(why)


def fresh_env(tmp_path: Path) -> dict[str, str]:
    """As on a fresh clone: state under an empty DURAGENT_HOME, no sales database yet."""
    env = env_for(tmp_path)
    env.pop("DURAGENT_EXAMPLE_SALES_DB", None)
    return env


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port, ui_port = free_port(), free_port()
    env = fresh_env(tmp_path)
    log_path = tmp_path / "dev.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [DURAGENT, "dev", "--app", APP, "--port", str(port), "--ui-port", str(ui_port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wait_for(lambda: "sandbox worker serving" in log_path.read_text(), 60, "duragent dev")
            assert "bwrap" in log_path.read_text()
            yield f"127.0.0.1:{port}", env
        finally:
            stop(process)


def duragent(
    *args: str, env: dict[str, str], timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DURAGENT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_run_wait_saves_the_chart_and_prints_its_path(
    dev: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    address, env = dev
    done = duragent(
        "run", "analyst", "Analyze and visualize Q1 sales", "--wait", "--address", address, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "analyst → query → processing → visualization" in done.stdout
    assert "Q1 2026 revenue: $" in done.stdout
    (found,) = SAVED.findall(done.stdout)
    name, printed = found
    workflow_id = re.search(r"run (run-analyst-[0-9a-f]{10})", done.stdout).group(1)  # type: ignore[union-attr]
    chart = Path(printed)
    assert chart == tmp_path / "home" / "artifacts" / workflow_id / "out" / name
    assert chart.read_bytes()[:8] == PNG_MAGIC and chart.stat().st_size > 10_000
    assert (tmp_path / "home" / "sales.db").is_file(), "the database was made on first use"

    # `show` saves the same chart again, where it is told to.
    elsewhere = tmp_path / "charts"
    shown = duragent(
        "show", workflow_id, "--artifacts-dir", str(elsewhere), "--address", address, env=env
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    copy = elsewhere / workflow_id / "out" / name
    assert SAVED.findall(shown.stdout) == [(name, str(copy))]
    assert copy.read_bytes() == chart.read_bytes()


def test_demo_renders_a_chart_per_quarter(tmp_path: Path) -> None:
    port, ui_port = free_port(), free_port()
    done = duragent(
        "demo", "--app", APP, "--exit", "--port", str(port), "--ui-port", str(ui_port),
        env=fresh_env(tmp_path),
        timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "demo summary" in done.stdout
    charts = SAVED.findall(done.stdout)
    assert [name for name, _ in charts] == ["sales_q1_2026.png", "sales_q2_2026.png"]
    for _, path in charts:
        assert Path(path).read_bytes()[:8] == PNG_MAGIC
        assert Path(path).is_relative_to(tmp_path / "home" / "artifacts")
    assert "no orders in that period" in done.stdout
    assert not port_open(port), "the demo's dev server must stop on exit"


def test_the_evaluation_set_passes(dev: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    """The example's evaluation set, as its header says to run it: every case correct."""
    address, env = dev
    done = duragent(
        "eval", "examples/data_analysis/eval.yaml", "--concurrency", "4",
        "--out", str(tmp_path / "report"), "--address", address,
        env={**env, "COLUMNS": "200", "NO_COLOR": "1"}, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (
        "data_analysis: agent analyst, 100.0% correct over 18 run(s) of 18 case(s)" in done.stdout
    )
    for category in ("analysis", "visualization", "no_data", "comparison"):
        assert category in done.stdout
    assert (tmp_path / "report" / "junit.xml").is_file()
