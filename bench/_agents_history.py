"""History bytes per run against turns for (e), Temporal's OpenAI Agents integration.

Run with bench/.venv-openai-agents's Python by ``python -m bench --curves history``. The same
T-turn run as scenario (e), each tool output padded to 10 KB. The integration sends the whole
conversation as each model activity's input, so history should grow with the square of the
turns until a payload passes the server's blob size limit (2 MB on the dev server): each T runs
with a deadline, and the curve records where it stops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.openai_agents import ModelActivityParameters, OpenAIAgentsPlugin
from temporalio.worker import Worker

from bench._agents_sdk import FakeModel, FakeProvider
from bench._agents_workflow import AgentsBench, StepActivities
from bench._fake import Fake
from bench._measure import WorkClock
from bench._workload import ANSWER

DEADLINE_S = 120.0


async def _outcome(handle: Any) -> str | None:
    """None if the run answered; else why it stopped: failed, or stuck failing workflow tasks
    (a payload over the limit), or past the deadline. A stuck run is terminated."""
    result = asyncio.ensure_future(handle.result())
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        done, _ = await asyncio.wait({result}, timeout=2.0)
        if done:
            try:
                output = result.result()
            except Exception as exc:
                causes = []
                while exc is not None:
                    causes.append(f"{type(exc).__name__}: {exc}")
                    exc = exc.__cause__  # type: ignore[assignment]
                return " <- ".join(causes)
            return None if output == ANSWER else f"unexpected output {output!r}"
        history = await handle.fetch_history()
        failures = [
            e.workflow_task_failed_event_attributes
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
        ]
        if failures:
            result.cancel()
            await handle.terminate("bench: the run's workflow tasks fail")
            return f"workflow task failed: {failures[-1].failure.message[:200]}"
    result.cancel()
    await handle.terminate("bench deadline")
    return f"no result within {DEADLINE_S:.0f} s"


async def one_run(address: str, turns: int, pad: int) -> dict[str, Any]:
    fake = Fake(turns, WorkClock(), pad=pad)
    plugin = OpenAIAgentsPlugin(
        model_params=ModelActivityParameters(start_to_close_timeout=timedelta(seconds=60)),
        model_provider=FakeProvider(FakeModel(fake)),
    )
    client = await Client.connect(address, plugins=[plugin])
    queue = f"bench-curve-e-{uuid.uuid4().hex[:8]}"
    tools = StepActivities(fake)
    async with Worker(client, task_queue=queue, workflows=[AgentsBench], activities=[tools.step]):
        started = time.perf_counter()
        handle = await client.start_workflow(
            AgentsBench.run, turns, id=f"bench-curve-{uuid.uuid4().hex}", task_queue=queue
        )
        stopped = await _outcome(handle)
        wall = time.perf_counter() - started
        history = await handle.fetch_history()
    model_calls = sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name != "bench.step"
    )
    last = history.events[-1]
    if stopped and last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
        stopped += f" (terminated: {last.workflow_execution_terminated_event_attributes.reason})"
    return {
        "turns": turns,
        "turns_reached": model_calls,
        "wall_ms": round(wall * 1000, 1),
        "events": len(history.events),
        "bytes": sum(e.ByteSize() for e in history.events),
        "executions": 1,
        "largest_event": max(e.ByteSize() for e in history.events),
        "stopped": stopped,
    }


async def curve(address: str, turns_list: list[int], pad: int) -> list[dict[str, Any]]:
    points = []
    for turns in turns_list:
        point = await one_run(address, turns, pad)
        points.append(point)
        if point["stopped"]:
            break
    return points


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--turns", required=True)
    parser.add_argument("--message-bytes", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    ns = parser.parse_args()
    points = asyncio.run(curve(ns.address, [int(t) for t in ns.turns.split(",")], ns.message_bytes))
    ns.out.write_text(json.dumps(points, indent=2))
