"""What a user sees from the CLI and client code outside a terminal, against a real dev server.

- ``show --audit`` piped to a file: a record is one line (rich laid it out in 80 columns and
  folded reasons into fragments); ``show --format json`` is one parseable document.
- ``run --wait`` with no worker: says within seconds that nobody polls the task queue and how
  to start a worker, keeps waiting, and completes once one comes.
- The README's "Starting runs from code" snippet, run as written: 10 of 10 exits are clean
  (it aborted at interpreter exit 3 times in 10, temporalio/sdk-python#300).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from duragent.examples.customer_support.app import APPROVAL_SCENARIO
from duragent.workers._devserver import free_port
from tests.e2e.test_cli import DURAGENT, ROOT, env_for, stop, wait_for

REASON = (
    "refund approved after checking the photos of the damaged chair against the carrier's "
    "delivery report and the customer's order history"
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    """``duragent dev --no-worker``: the address, an environment without COLUMNS, the log."""
    port, ui_port = free_port(), free_port()
    env = env_for(tmp_path)
    env.pop("COLUMNS")  # as in a pipe to a file or a CI log: rich falls back to 80 columns
    env["TEMPORAL_ADDRESS"] = f"127.0.0.1:{port}"
    log = tmp_path / "dev.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [DURAGENT, "dev", "--no-worker", "--port", str(port), "--ui-port", str(ui_port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            wait_for(lambda: "Ctrl-C" in log.read_text(), 60, "duragent dev --no-worker")
            yield env["TEMPORAL_ADDRESS"], env, tmp_path
        finally:
            stop(process)


@contextmanager
def worker(env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """``duragent worker`` serving the example app until the block ends."""
    log = tmp_path / "worker.log"
    with log.open("a") as out:
        process = subprocess.Popen(
            [DURAGENT, "worker"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True
        )
        try:
            wait_for(lambda: "serving" in log.read_text(), 60, "duragent worker")
            yield process
        finally:
            stop(process)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DURAGENT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_run_wait_says_no_worker_polls_then_completes_when_one_comes(
    server: tuple[str, dict[str, str], Path],
) -> None:
    _, env, tmp_path = server
    started = time.monotonic()
    waiting = subprocess.Popen(
        [DURAGENT, "run", "support", "Where is my order 1001?", "--wait"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert waiting.stderr is not None
    try:
        line = waiting.stderr.readline()  # blocks until the hint (or the process ends)
        took = time.monotonic() - started
        assert "no worker polls task queue 'duragent'" in line, line
        assert "duragent worker --app" in line and "duragent dev" in line
        assert took < 20, f"the hint came after {took:.0f} s"
        assert waiting.poll() is None, "run --wait gave up instead of waiting"

        with worker(env, tmp_path):
            out, err = waiting.communicate(timeout=60)
    finally:
        stop(waiting)
    assert waiting.returncode == 0, err
    assert "completed" in out


def test_show_piped_keeps_each_record_on_one_line_and_format_json_parses(
    server: tuple[str, dict[str, str], Path],
) -> None:
    _, env, tmp_path = server
    with worker(env, tmp_path):
        started = cli(env, "run", "support", APPROVAL_SCENARIO)
        workflow_id = re.search(r"started (\S+)", started.stdout)[1]  # type: ignore[index]

        def pending() -> list[dict[str, Any]]:
            lines = cli(env, "approvals", "--json").stdout.splitlines()
            return [r for r in map(json.loads, lines) if r["workflow_id"] == workflow_id]

        wait_for(lambda: bool(pending()), 60, "the refund to wait for approval")
        step = pending()[0]["step_id"]
        decided = cli(env, "approve", workflow_id, step, "--by", "lee", "--reason", REASON)
        assert decided.returncode == 0, decided.stderr

        def finished() -> dict[str, Any]:
            return json.loads(cli(env, "show", workflow_id, "--format", "json").stdout)

        wait_for(lambda: finished()["temporal_status"] == "COMPLETED", 60, "the run to finish")

    document = finished()
    assert list(document) == [
        "workflow_id", "temporal_status", "status", "result", "progress", "steps", "audit",
    ]  # fmt: skip
    assert document["status"] == "completed" and document["result"]["status"] == "completed"
    assert [s["step_id"] for s in document["steps"]] == [
        s["step_id"] for s in document["result"]["steps"]
    ]
    audit = json.loads(cli(env, "show", workflow_id, "--audit", "--format", "json").stdout)
    records = audit["audit"]
    assert any(r["entry"]["step"].get("reason") == REASON for r in records)

    piped = cli(env, "show", workflow_id, "--audit")  # stdout is a pipe, COLUMNS unset
    assert piped.returncode == 0, piped.stderr
    rows = [line for line in piped.stdout.splitlines() if line.startswith("│")]
    assert len(rows) == len(records), "a record was folded over several lines:\n" + piped.stdout
    assert any(REASON in row for row in rows), piped.stdout
    for record, row in zip(records, rows, strict=True):
        assert re.match(rf"│ {record['seq']} +│", row), row

    # The result table and the steps too: the run's output whole on its line.
    shown = cli(env, "show", workflow_id)
    output = document["result"]["output"]
    assert any(output in line for line in shown.stdout.splitlines()), shown.stdout


def readme_snippet() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Starting runs from code") :]
    return re.search(r"```python\n(.*?)```", section, re.S)[1]  # type: ignore[index]


def test_readme_snippet_exits_cleanly_every_time(server: tuple[str, dict[str, str], Path]) -> None:
    _, env, tmp_path = server
    script = tmp_path / "starter.py"
    script.write_text(readme_snippet())
    with worker(env, tmp_path):
        outcomes = [
            subprocess.run(
                [str(Path(DURAGENT).parent / "python"), str(script)],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            for _ in range(10)
        ]
    codes = [o.returncode for o in outcomes]
    assert codes == [0] * 10, [o.stderr[-500:] for o in outcomes if o.returncode]
    assert not any("Fatal Python error" in o.stderr for o in outcomes)
    assert all(o.stdout.startswith("completed") for o in outcomes), outcomes[0].stdout
