"""Starting ``EvalRun`` workflows, finding them again, and following them to their results.

An evaluation is a workflow, so the CLI only watches it: Ctrl-C or a killed terminal leaves it
running, and ``duragent eval --resume`` attaches again. Several ``--model``s start one workflow
each, sharing an *eval id* (the group): each records it in its memo, with its place in the
order the user gave, so a resume finds the same side-by-side comparison.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, FailureError, TerminatedError
from temporalio.service import RPCError, RPCStatusCode

from duragent._names import EVAL_WORKFLOW, QUERY_PROGRESS
from duragent.errors import DuragentError
from duragent.eval import EvalProgress, EvalRequest, EvalResult

POLL_S = 0.5
MEMO_GROUP = "duragent_eval"
"""Memo key: ``{"group": <eval id>, "index": <place among the --model flags>}``."""
OWN_MODELS = "agents' models"
"""How a run on the agents' own models is labelled where models stand side by side."""
_SLUG = re.compile(r"[^a-z0-9]+")

EvalHandle = WorkflowHandle[Any, EvalResult]


def slug(text: str, limit: int = 40) -> str:
    """``text`` as a lower-case, dash-separated piece of a workflow id or folder name."""
    return _SLUG.sub("-", text.lower()).strip("-")[:limit].strip("-") or "x"


def new_eval_id(dataset: str) -> str:
    """``eval-<dataset slug>-<8 hex>``: readable in the Web UI, unique enough."""
    return f"eval-{slug(dataset)}-{uuid.uuid4().hex[:8]}"


def model_label(request: EvalRequest) -> str:
    model = request.model
    return f"{model.provider}/{model.name}" if model else OWN_MODELS


@dataclass(frozen=True)
class Evaluation:
    """One evaluation as the CLI follows it: its id, and a workflow per model."""

    group: str
    handles: list[EvalHandle]
    totals: list[int | None]
    """Attempts each workflow will run, when known before its first progress answer."""


async def start(client: Client, requests: list[EvalRequest], *, task_queue: str) -> Evaluation:
    """Start one ``EvalRun`` per request (one per model), sharing one eval id."""
    group = new_eval_id(requests[0].dataset.name)
    handles: list[EvalHandle] = []
    for index, request in enumerate(requests):
        workflow_id = group if len(requests) == 1 else f"{group}-{slug(model_label(request))}"
        handle = await client.start_workflow(
            EVAL_WORKFLOW,
            request,
            id=workflow_id,
            task_queue=task_queue,
            result_type=EvalResult,
            memo={MEMO_GROUP: {"group": group, "index": index}},
        )
        handles.append(handle)
    totals: list[int | None] = [len(r.dataset.cases) * r.repeat for r in requests]
    return Evaluation(group=group, handles=handles, totals=totals)


async def find(client: Client, eval_id: str | None, *, say: Console) -> Evaluation:
    """The evaluation ``eval_id`` (a workflow id, or the eval id several models share), or the
    most recently started one in the namespace."""
    if eval_id is None:
        latest = None
        async for execution in client.list_workflows(f'WorkflowType = "{EVAL_WORKFLOW}"', limit=1):
            latest = execution
        if latest is None:
            raise DuragentError(
                "no evaluation in this namespace to resume; start one with "
                "`duragent eval DATASET --agent NAME`"
            )
        memo = (await latest.memo()).get(MEMO_GROUP)
        eval_id = memo["group"] if isinstance(memo, dict) and "group" in memo else latest.id
        say.print(f"resuming the most recent evaluation, [bold]{eval_id}[/] (started {latest.start_time:%Y-%m-%d %H:%M:%S %Z})", soft_wrap=True)  # fmt: skip
    handle: EvalHandle = client.get_workflow_handle(eval_id, result_type=EvalResult)
    try:
        await handle.describe()
        return Evaluation(group=eval_id, handles=[handle], totals=[None])
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
    # A workflow that continued as new is listed once per run: keep one entry per id.
    members: dict[str, int] = {}
    query = f'WorkflowType = "{EVAL_WORKFLOW}" AND WorkflowId STARTS_WITH "{eval_id}-"'
    async for execution in client.list_workflows(query):
        memo = (await execution.memo()).get(MEMO_GROUP)
        if isinstance(memo, dict) and memo.get("group") == eval_id:
            members[execution.id] = int(memo.get("index", 0))
    if not members:
        raise DuragentError(
            f"no evaluation {eval_id!r} in namespace {client.namespace!r}; "
            "`duragent eval --resume` picks the most recent one"
        )
    ordered = sorted(members, key=lambda wid: members[wid])
    return Evaluation(
        group=eval_id,
        handles=[client.get_workflow_handle(wid, result_type=EvalResult) for wid in ordered],
        totals=[None] * len(members),
    )


def _stats(p: EvalProgress | None) -> str:
    if p is None or not p.done:
        return "waiting for the first case"
    spend = f"${p.cost_usd + p.judge_cost_usd:.4f}"
    judge = f" (judge ${p.judge_cost_usd:.4f})" if p.judge_cost_usd else ""
    return f"{p.accuracy:.1%} correct so far · {spend} spent{judge}"


async def follow(
    evaluation: Evaluation, labels: list[str], *, console: Console
) -> list[EvalResult]:
    """Show a progress bar per workflow (the ``progress`` query, every ``POLL_S``) until every
    one has a result; return them in order. A failed evaluation raises ``DuragentError`` with
    the workflow's own message (``eval_invalid``: the case and field to fix)."""
    handles = evaluation.handles
    results = [asyncio.ensure_future(h.result()) for h in handles]
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("cases"),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
    )
    # Piped (a CI log, a file): a line per tenth of the cases instead of a bar redrawn in place.
    lines = None if console.is_terminal else _Lines(console)
    try:
        with Progress(*columns, console=console, transient=False, disable=lines is not None) as bar:
            tasks = [
                bar.add_task(label, total=total, stats=_stats(None))
                for label, total in zip(labels, evaluation.totals, strict=True)
            ]
            while True:
                for handle, task, result in zip(handles, tasks, results, strict=True):
                    if result.done():
                        continue
                    progress = await _progress(handle)
                    if progress is not None:
                        bar.update(task, total=progress.total, completed=progress.done, stats=_stats(progress))  # fmt: skip
                        if lines is not None:
                            lines.show(handle.id, progress)
                pending = [r for r in results if not r.done()]
                if not pending:
                    break
                await asyncio.wait(pending, timeout=POLL_S)
            for task, result in zip(tasks, results, strict=True):
                if result.exception() is None:
                    outcomes = result.result().outcomes
                    correct = sum(o.verdict == "correct" for o in outcomes)
                    last = EvalProgress(
                        total=len(outcomes),
                        done=len(outcomes),
                        correct=correct,
                        cost_usd=sum(o.cost_usd for o in outcomes),
                        judge_cost_usd=sum(o.judge_cost_usd for o in outcomes),
                    )
                    bar.update(task, total=last.total, completed=last.done, stats=_stats(last))
                    if lines is not None:
                        lines.show(handles[tasks.index(task)].id, last)
    finally:
        for result in results:
            if not result.done():
                result.cancel()
    return [_unwrap(handle, result) for handle, result in zip(handles, results, strict=True)]


class _Lines:
    """Progress as plain lines: one each time a tenth more of an evaluation's cases is done."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._shown: dict[str, int] = {}

    def show(self, workflow_id: str, p: EvalProgress) -> None:
        last = self._shown.get(workflow_id)
        step = max(1, p.total // 10)
        if p.done == last or (last is not None and p.done - last < step and p.done < p.total):
            return
        self._shown[workflow_id] = p.done
        self._console.print(
            f"{workflow_id}: {p.done}/{p.total} cases · {_stats(p)}", soft_wrap=True
        )


async def _progress(handle: EvalHandle) -> EvalProgress | None:
    try:
        return await handle.query(QUERY_PROGRESS, result_type=EvalProgress)
    except (
        Exception
    ):  # RPCError, WorkflowQueryFailedError: no worker has picked it up yet, or it has just closed
        return None


def _unwrap(handle: EvalHandle, result: asyncio.Future[EvalResult]) -> EvalResult:
    exc = result.exception()
    if exc is None:
        return result.result()
    if isinstance(exc, WorkflowFailureError):
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type == "eval_invalid":
            raise DuragentError(cause.message) from None
        if isinstance(cause, TerminatedError):
            raise DuragentError(f"evaluation {handle.id} was terminated") from None
        why = cause.message if isinstance(cause, FailureError) else str(exc)
        raise DuragentError(f"evaluation {handle.id} failed: {why}") from None
    raise exc
