"""Running an agent as a child workflow: from a user's own workflow, and for delegation.

    from duragent.workflows import run_agent

    @workflow.defn
    class MyWorkflow:
        @workflow.run
        async def run(self, question: str) -> str:
            result = await run_agent(RunRequest(agent="support", input=question))
            return result.output or ""

The child is an ordinary ``AgentRun``: its own history, guardrails, approvals (decided on the
child's workflow id), budgets and audit trail. It runs on the parent's task queue unless told
otherwise, so a worker built with ``DuragentPlugin`` serves both. Deterministic: workflow-safe.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.workflow import ChildWorkflowHandle, ParentClosePolicy

from duragent._messages import RunRequest, RunResult
from duragent._names import WORKFLOW
from duragent._summary import run_summary


def child_id(agent: str, step: str | None = None) -> str:
    """``<parent id>/<step or agent>``: the child reads as part of its parent in the Web UI,
    and the same call in a replay gets the same id."""
    parent = workflow.info().workflow_id
    return f"{parent}/{step}-{agent}" if step else f"{parent}/{agent}-{workflow.uuid4().hex[:8]}"


async def start_agent(
    request: RunRequest,
    *,
    id: str | None = None,
    task_queue: str | None = None,
    execution_timeout: timedelta | None = None,
    parent_close_policy: ParentClosePolicy = ParentClosePolicy.TERMINATE,
) -> ChildWorkflowHandle[object, RunResult]:
    """Start ``request`` as a child ``AgentRun`` and return its handle (``await`` it for the
    ``RunResult``). Call from inside a workflow only."""
    return await workflow.start_child_workflow(
        WORKFLOW,
        request,
        id=id or child_id(request.agent),
        task_queue=task_queue,
        result_type=RunResult,
        execution_timeout=execution_timeout,
        parent_close_policy=parent_close_policy,
        static_summary=run_summary(request),
    )


async def run_agent(
    request: RunRequest,
    *,
    id: str | None = None,
    task_queue: str | None = None,
    execution_timeout: timedelta | None = None,
) -> RunResult:
    """Run ``request`` as a child ``AgentRun`` to its end and return its ``RunResult`` (an agent
    that ends rejected or over budget returns normally, with that status). Workflow-only."""
    handle = await start_agent(
        request, id=id, task_queue=task_queue, execution_timeout=execution_timeout
    )
    return await handle
