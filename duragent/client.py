"""Starting and following runs from client code.

from duragent.client import start_run
from duragent.settings import Settings
from duragent.workers import connect

client = await connect(Settings.from_env())
handle = await start_run(client, RunRequest(agent="support", input="Where is order 1001?"))
result = await handle.result()        # a RunResult
"""

from __future__ import annotations

import uuid

from temporalio.client import Client, WorkflowHandle

from duragent._messages import RunRequest, RunResult
from duragent._names import TASK_QUEUE, WORKFLOW
from duragent._summary import run_summary


def new_workflow_id(agent: str) -> str:
    """``run-<agent>-<short id>``: readable in the Web UI, unique enough to never collide."""
    return f"run-{agent}-{uuid.uuid4().hex[:10]}"


async def start_run(
    client: Client,
    request: RunRequest,
    *,
    workflow_id: str | None = None,
    task_queue: str = TASK_QUEUE,
) -> WorkflowHandle[object, RunResult]:
    """Start an ``AgentRun`` and return its handle; ``await handle.result()`` gives the RunResult."""
    return await client.start_workflow(
        WORKFLOW,
        request,
        id=workflow_id or new_workflow_id(request.agent),
        task_queue=task_queue,
        result_type=RunResult,
        static_summary=run_summary(request),
        request_eager_start=True,
    )
