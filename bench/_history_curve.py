"""History bytes per run against turns, for duragent's AgentRun, in a child of ``python -m bench``.

Issue 7's first scaling curve: T = 1, 10, 50, 100, 200 turns with 10 KB messages (each tool
output is 10 KB), one run per T, regular activities. History should grow linearly with T (a
model call carries a transcript reference and the new messages only); the target is a 100-call
run under 3 MB. A run that continued as new is counted over its whole chain of executions.
Payloads over 256 KiB (the run's result, past about 100 turns) go to external storage and
count here only as their reference.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from duragent import Agent, App, RunRequest, tool
from duragent.activities.models import ScriptedProvider
from duragent.audit import SQLiteAuditLog
from duragent.client import start_run
from duragent.settings import Settings
from duragent.workers import build_worker, connect

TURNS = (1, 10, 50, 100, 200)
MESSAGE_BYTES = 10_000


def make_app(turns: int, message_bytes: int) -> App:
    @tool(timeout=5, execution="activity")
    def blob(n: int) -> str:
        """Returns the next step's blob."""
        return f"blob-{n + 1} " + "x" * message_bytes

    script: list[dict[str, Any]] = [
        {"on": "tool", "tool": "blob", "when": rf"^blob-{turns - 1} ", "say": "done"},
        {"on": "tool", "tool": "blob", "when": r"^blob-(\d+) ",
         "call": {"tool": "blob", "arguments": {"n": "{1}"}}},
        {"on": "user", "call": {"tool": "blob", "arguments": {"n": 0}}},
    ]  # fmt: skip
    if turns == 1:
        script = [{"on": "user", "say": "done"}]
    agent = Agent(
        name=f"looper{turns}",
        model="scripted/looper",
        tools=["blob"],
        script=script,
        limits={"max_turns": turns + 1},
    )
    return App(agents=[agent], tools=[blob])


async def chain_figures(client: Client, workflow_id: str, run_id: str | None) -> dict[str, int]:
    """Events and bytes over every execution of a run (continue-as-new starts a new one)."""
    events = size = executions = largest = 0
    while run_id is not None:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        events += len(history.events)
        size += sum(event.ByteSize() for event in history.events)
        largest = max([largest, *(event.ByteSize() for event in history.events)])
        executions += 1
        last = history.events[-1]
        run_id = None
        if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return {"events": events, "bytes": size, "executions": executions, "largest_event": largest}


async def curve(address: str, turns_list: list[int], message_bytes: int) -> list[dict[str, Any]]:
    from duragent import logging as dlog

    dlog.configure(level="WARNING")
    points = []
    with TemporaryDirectory(prefix="bench-curve-") as folder:
        home = Path(folder)
        settings = Settings.from_env({}, home=home, address=address)
        client = await connect(settings)
        with SQLiteAuditLog(home / "audit.db") as audit:
            for turns in turns_list:
                app = make_app(turns, message_bytes)
                queue = f"bench-curve-{uuid.uuid4().hex[:8]}"
                worker = build_worker(
                    client, app, settings, audit_log=audit,
                    providers={"scripted": ScriptedProvider()}, task_queue=queue,
                )  # fmt: skip
                async with worker:
                    started = time.perf_counter()
                    handle = await start_run(
                        client, RunRequest(agent=f"looper{turns}", input="go"), task_queue=queue
                    )
                    result = await handle.result()
                    wall = time.perf_counter() - started
                assert result.status == "completed" and result.turns == turns, result.error
                point = {"turns": turns, "wall_ms": round(wall * 1000, 1)}
                point.update(await chain_figures(client, handle.id, handle.result_run_id))
                points.append(point)
    return points


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--turns", default=",".join(map(str, TURNS)))
    parser.add_argument("--message-bytes", type=int, default=MESSAGE_BYTES)
    parser.add_argument("--out", type=Path, required=True)
    ns = parser.parse_args()
    points = asyncio.run(curve(ns.address, [int(t) for t in ns.turns.split(",")], ns.message_bytes))
    ns.out.write_text(json.dumps(points, indent=2))
