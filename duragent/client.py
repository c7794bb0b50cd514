"""Starting and following runs from client code (also as ``duragent.connect`` etc.)::

    from duragent import RunRequest, Settings, connect, start_run

    client = await connect(Settings.from_env())
    handle = await start_run(client, RunRequest(agent="support", input="Where is order 1001?"))
    result = await handle.result()        # a RunResult

A client process imports no activity and no provider SDK: only the data converter it shares
with the workers (``tests/unit/test_public_api.py`` checks).
"""

from __future__ import annotations

import uuid
from typing import Any, TypeAlias

from temporalio.client import Client, WorkflowHandle

from duragent._messages import RunRequest, RunResult
from duragent._names import TASK_QUEUE, WORKFLOW
from duragent._summary import run_summary
from duragent.workers import connect, ensure_search_attributes

__all__ = ["RunHandle", "connect", "ensure_search_attributes", "new_workflow_id", "start_run"]

RunHandle: TypeAlias = WorkflowHandle[Any, RunResult]
"""What ``start_run`` returns: ``await handle.result()`` for the ``RunResult``; the run's query
``status`` and ``pending_approvals``, its update ``decide`` (an ``ApprovalDecision``)."""


def new_workflow_id(agent: str) -> str:
    """``run-<agent>-<short id>``: readable in the Web UI, unique enough to never collide."""
    return f"run-{agent}-{uuid.uuid4().hex[:10]}"


async def start_run(
    client: Client,
    request: RunRequest,
    *,
    workflow_id: str | None = None,
    task_queue: str = TASK_QUEUE,
) -> RunHandle:
    """Start an ``AgentRun`` and return its handle; ``await handle.result()`` gives the RunResult.

    ``task_queue`` is the queue the workers serve (``Settings.task_queue``; with
    ``DuragentPlugin``, your worker's own queue).
    """
    return await client.start_workflow(
        WORKFLOW,
        request,
        id=workflow_id or new_workflow_id(request.agent),
        task_queue=task_queue,
        result_type=RunResult,
        static_summary=run_summary(request),
        request_eager_start=True,
    )
