"""Sandboxed tools end to end: a run's tool call routed to a sandbox worker, its job run under
the agent's policy by a real backend, artifacts and violations recorded in the run."""

from __future__ import annotations

import base64
import os
import uuid
from typing import Any

import pytest
from temporalio.client import Client

from duragent import Agent, App, RunRequest, RunResult, tool
from duragent._sandbox import SandboxJob
from duragent.activities.sandbox import Backend, BwrapBackend, SubprocessBackend
from duragent.client import start_run
from duragent.settings import Settings
from duragent.workers import build_sandbox_worker
from tests.conftest import new_worker

PLOT = """
import json
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
data = json.load(open("input.json"))
plt.bar(list(data), list(data.values()))
plt.savefig("out/chart.png")
print("total", sum(data.values()))
"""


@tool(sandboxed=True, timeout=60)
def run_python(code: str, data: dict[str, Any]) -> SandboxJob:
    """Run Python code in the sandbox with ``data`` in input.json; files in out/ come back."""
    return SandboxJob(python=code, data=data)


def app_for(name: str, code: str, **sandbox: Any) -> App:
    analyst = Agent(
        name=name,
        model="scripted/analyst",
        tools=["run_python"],
        sandbox=sandbox,
        script=[
            {"on": "tool", "tool": "run_python", "say": "Ran it: {result.stdout}"},
            {"call": {"tool": "run_python", "arguments": {"code": code, "data": {"a": 3, "b": 4}}}},
        ],
    )
    return App(name=name, agents=[analyst], tools=[run_python])


def bwrap() -> Backend:
    backend = BwrapBackend()
    why = backend.available()
    if why is not None:
        if os.environ.get("CI"):  # CI installs bubblewrap: never skip there
            pytest.fail(why)
        pytest.skip(why)
    return backend


async def run_with(client: Client, app: App, backend: Backend) -> RunResult:
    queue = f"sandbox-{uuid.uuid4().hex[:8]}"
    settings = Settings(sandbox_task_queue=queue)
    sandbox = build_sandbox_worker(client, app, settings, backend=backend, task_queue=queue)
    async with sandbox, new_worker(client, app, settings=settings) as worker:
        handle = await start_run(
            client,
            RunRequest(agent=next(iter(app.agents)), input="go"),
            task_queue=worker.task_queue,
        )
        return await handle.result()


async def test_a_sandboxed_tool_returns_its_chart_and_output(client: Client) -> None:
    result = await run_with(client, app_for("plot", PLOT), bwrap())

    assert result.status == "completed", result.error
    (step,) = [s for s in result.steps if s.kind == "tool"]
    assert step.sandbox is not None
    assert (step.sandbox.backend, step.sandbox.isolation, step.sandbox.exit_code) == (
        "bwrap",
        "strong",
        0,
    )
    assert step.sandbox.startup_ms > 0 and step.sandbox.run_ms > 0
    (chart,) = step.artifacts
    assert chart.name == "out/chart.png" and chart.media_type == "image/png"
    assert base64.b64decode(chart.data_b64 or "")[:8] == b"\x89PNG\r\n\x1a\n"
    assert "total 7" in (result.output or "")


async def test_a_broken_limit_is_a_recorded_violation_not_a_failure(client: Client) -> None:
    spin = "while True:\n    pass\n"
    result = await run_with(client, app_for("spin", spin, cpu_s=1, wall_s=10), bwrap())

    assert result.status == "completed", result.error  # the model was told, the run went on
    (step,) = [s for s in result.steps if s.kind == "tool_error"]
    assert step.detail == "sandbox_violation"
    assert step.sandbox is not None and step.sandbox.violation is not None
    assert step.sandbox.violation.limit == "cpu_time"
    assert result.errors == {"sandbox_violation": 1}


async def test_a_weak_backend_refuses_an_agent_that_requires_isolation(client: Client) -> None:
    result = await run_with(client, app_for("weak", "print(1)"), SubprocessBackend())

    (step,) = [s for s in result.steps if s.kind == "tool_error"]
    assert step.detail == "sandbox_unavailable"
    assert "requires strong isolation" in (step.output or "")
    assert "bubblewrap" in (step.output or "")
