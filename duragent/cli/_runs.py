"""Client-side run handling shared by ``run``, ``show`` and ``demo``: start, follow, fetch."""

from __future__ import annotations

import asyncio

from rich.console import Console
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError

from duragent._messages import RunRequest, RunResult, StepRecord
from duragent._names import QUERY_STEPS
from duragent.cli._render import step_line
from duragent.client import start_run

POLL_S = 0.2


async def follow(console: Console, handle: WorkflowHandle[object, RunResult]) -> RunResult:
    """Print each step as the run takes it; return the result when it ends."""
    seen = 0
    result_task = asyncio.ensure_future(handle.result())
    try:
        while True:
            done = result_task.done()
            try:
                steps: list[StepRecord] = await handle.query(
                    QUERY_STEPS, seen, result_type=list[StepRecord]
                )
            except RPCError:
                steps = []  # no worker has picked the run up yet, or it just closed
            for step in steps:
                console.print(step_line(step))
            seen += len(steps)
            if done:
                result = result_task.result()
                for step in result.steps[seen:]:
                    console.print(step_line(step))
                return result
            await asyncio.wait({result_task}, timeout=POLL_S)
    finally:
        if not result_task.done():
            result_task.cancel()


async def start(
    client: Client, request: RunRequest, *, task_queue: str
) -> WorkflowHandle[object, RunResult]:
    return await start_run(client, request, task_queue=task_queue)


async def fetch(client: Client, workflow_id: str) -> tuple[str, RunResult | None]:
    """The run's Temporal status name and, once it has closed successfully, its result."""
    handle = client.get_workflow_handle(workflow_id, result_type=RunResult)
    description = await handle.describe()
    status = description.status
    if status == WorkflowExecutionStatus.COMPLETED:
        return status.name, await handle.result()
    return (status.name if status else "UNKNOWN"), None
