"""The runs behind ``duragent report``: listed from Temporal's visibility, results fetched.

Visibility lists every ``AgentRun`` execution started in the window; each closed one's
``RunResult`` is read back from its history, a bounded number at a time so a long window does
not flood the frontend. An execution that continued as new is skipped: the last execution of
the chain returns the run's result, with its latency counted from the first one's start.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from duragent._messages import RunResult
from duragent._names import SA_AGENT, WORKFLOW
from duragent.report import Report, RunSample, build_report

FETCH_CONCURRENCY = 16
"""Results read at once."""

_DEFAULT_ID = re.compile(r"run-(?P<agent>[a-z][a-z0-9_-]{0,62})-[0-9a-f]{10}")
"""``duragent.client.new_workflow_id``: ``run-<entry agent>-<10 hex digits>``."""

_STATUS = {
    WorkflowExecutionStatus.RUNNING: "running",
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "canceled",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
}


def visibility_query(since: datetime) -> str:
    """The list filter: ``AgentRun`` executions started after ``since``."""
    moment = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"WorkflowType = '{WORKFLOW}' AND StartTime > '{moment}'"


def entry_agent_from_listing(execution: WorkflowExecution) -> str | None:
    """A run's entry agent before its result is known: from a workflow id of the default form,
    else the ``DuragentAgent`` attribute (the current agent, which a handoff changes)."""
    match = _DEFAULT_ID.fullmatch(execution.id)
    if match:
        return match["agent"]
    return execution.typed_search_attributes.get(SA_AGENT)


async def collect_runs(
    client: Client,
    since: datetime,
    *,
    agent: str | None = None,
    unreadable: list[str] | None = None,
) -> list[RunSample]:
    """Every run started after ``since``, with results for those that completed.

    With ``agent``, runs whose default-form workflow id names another entry agent are left out
    before their results are fetched; ``build_report`` filters the rest by ``agent_path[0]``.
    A completed run whose result this client cannot read (encrypted with a key it lacks, a
    payload in a store it does not share) is left out and named in ``unreadable``: one such run
    must not take the whole report down.
    """
    listed = [execution async for execution in client.list_workflows(visibility_query(since))]
    gate = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def sample(execution: WorkflowExecution) -> RunSample | None:
        status = _STATUS.get(execution.status) if execution.status else None
        if status is None:  # continued as new: its successor carries the run
            return None
        guess = entry_agent_from_listing(execution)
        if agent is not None and _DEFAULT_ID.fullmatch(execution.id) and guess != agent:
            return None
        result = None
        if status == "completed":
            handle = client.get_workflow_handle(
                execution.id, run_id=execution.run_id, result_type=RunResult
            )
            try:
                async with gate:
                    result = await handle.result(follow_runs=False)
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    return None  # its history passed retention since it was listed
                raise
            except Exception as exc:  # the result is there, but cannot be decoded here
                if unreadable is not None:
                    unreadable.append(f"{execution.id}: {type(exc).__name__}: {exc}"[:300])
                return None
        return RunSample(
            workflow_id=execution.id,
            run_id=execution.run_id,
            agent=result.agent_path[0] if result and result.agent_path else guess,
            execution_status=status,
            started_at=execution.start_time,
            closed_at=execution.close_time,
            result=result,
        )

    samples = await asyncio.gather(*(sample(e) for e in listed))
    return sorted((s for s in samples if s is not None), key=lambda s: s.started_at)


async def compute_report(
    client: Client,
    since: datetime,
    *,
    agent: str | None = None,
    until: datetime | None = None,
    unreadable: list[str] | None = None,
) -> tuple[Report, list[RunSample]]:
    """What ``duragent report`` shows: the report and the runs it was computed from."""
    until = until or datetime.now(UTC)
    samples = await collect_runs(client, since, agent=agent, unreadable=unreadable)
    if agent is not None:
        samples = [s for s in samples if s.agent == agent]
    return build_report(samples, since=since, until=until, agent=agent), samples
