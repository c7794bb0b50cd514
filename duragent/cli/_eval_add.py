"""``duragent eval add RUN_ID --dataset FILE``: a finished run becomes a case of a dataset.

The case is what the run was given and what it did:

- input: the run's original ``RunRequest`` (the first execution's start event, so a run that
  continued as new still gives what the user sent), its ``history`` as earlier turns;
- expected: the run's answer, or a reviewer's correction of it (a ``review_decided`` step with
  action ``edit``), tagged ``corrected``;
- scorers: the run's trajectory (tool calls and handoffs, in order) and its status; for a run
  that paused for a person, the status it paused with and what it did before (an evaluation's
  runs end at their first pause instead of waiting). Not the
  answer's text: a model words it differently every time and answers carry ids and dates
  (``TCK-3F2A``), so ``exact``/``contains`` on it would fail good runs. The expected answer is
  kept for a person, or a ``judge`` scorer, to read.

Writing loses nothing: the new case is appended as text (comments and layout of a hand-written
file survive), the whole file is written to a temporary file beside it, loaded back with
``load_dataset`` (a duplicate id is refused there) and checked to hold the old cases plus this
one, and only then moved over the original, atomically.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from duragent._messages import RunRequest, RunResult, RunStatus
from duragent.cli._common import (
    Address,
    Namespace,
    connect_or_explain,
    console,
    fail,
    run_async,
    settings,
)
from duragent.eval import (
    Case,
    Dataset,
    DatasetError,
    StatusScorer,
    TrajectoryScorer,
    Turn,
    load_dataset,
    trajectory,
)

PAUSES = ("approval_requested", "review_requested")
CORRECTED = "corrected"
"""Tag of a case whose expected answer is a reviewer's correction, not the run's answer."""


async def original_request(client: Client, workflow_id: str) -> RunRequest:
    """The ``RunRequest`` the run was started with, from its first execution's history."""
    first = await _started(client, workflow_id, None)
    first_run = first.first_execution_run_id
    if first_run:
        first = await _started(client, workflow_id, first_run)
    (request,) = await client.data_converter.decode(first.input.payloads, [RunRequest])
    assert isinstance(request, RunRequest)
    return request


async def _started(client: Client, workflow_id: str, run_id: str | None) -> Any:
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    async for event in handle.fetch_history_events(page_size=1):
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            return event.workflow_execution_started_event_attributes
        break
    raise RuntimeError(f"run {workflow_id!r} has no start event in its history")


def build_case(
    request: RunRequest,
    result: RunResult,
    *,
    case_id: str,
    category: str,
    tags: list[str],
    dataset_agent: str | None,
) -> Case:
    """The case a finished run makes (see the module docstring)."""
    turns = [Turn(role=m.role, content=m.content) for m in request.history if m.role in ("user", "assistant") and m.content]  # fmt: skip
    text: str | list[Turn] = [*turns, Turn(role="user", content=request.input)] if turns else request.input  # fmt: skip
    expected = result.output
    tags = list(dict.fromkeys(tags))
    corrections = [s for s in result.steps if s.kind == "review_decided" and s.action == "edit" and s.output]  # fmt: skip
    if corrections:
        expected = corrections[-1].output
        tags = list(dict.fromkeys([*tags, CORRECTED]))
    # An evaluation never waits for a person: its runs end at the first pause. So a run that
    # paused is expected to pause there again, having done what it did before the pause.
    status: RunStatus = result.status
    paused = next((i for i, s in enumerate(result.steps) if s.kind in PAUSES), None)
    if paused is not None:
        kind = result.steps[paused].kind
        status = "awaiting_review" if kind == "review_requested" else "awaiting_approval"
        result = result.model_copy(update={"steps": result.steps[:paused]})
    steps = trajectory(result)
    scorers: list[Any] = [TrajectoryScorer(steps=steps, mode="ordered")] if steps else []
    scorers.append(StatusScorer(status=status))
    return Case(
        id=case_id,
        input=text,
        expected=expected,
        category=category,
        tags=tags,
        scorers=scorers,
        agent=request.agent if request.agent != dataset_agent else None,
    )


def _case_data(case: Case) -> dict[str, Any]:
    data = case.model_dump(mode="json", exclude_defaults=True)
    data["category"] = case.category  # shown even when it is the default
    # ``type`` first, as people write scorers; a trajectory's mode said, not implied.
    data["scorers"] = [
        {"type": s.type, **s.model_dump(mode="json", exclude_defaults=True, exclude={"type"})}
        | ({"mode": s.mode} if isinstance(s, TrajectoryScorer) else {})
        for s in case.scorers
    ]
    return data


_CASES_KEY = re.compile(r"^cases:[ \t]*(#.*)?$", re.MULTILINE)
_ANY_CASES_KEY = re.compile(r"^cases:", re.MULTILINE)
_ITEM = re.compile(r"^([ \t]*)- ", re.MULTILINE)
_TOP_LEVEL_KEY = re.compile(r"^[^\s#-]", re.MULTILINE)
NOT_LAST = (
    "cannot append a case to it as text: its 'cases:' list is not the last thing in the file, "
    "or not written as a block list ('- id: ...'); move 'cases:' to the end and try again"
)


def appended_yaml(text: str, case: Case, *, comment: str) -> str:
    """``text`` (a YAML dataset whose block list of cases ends the file) with ``case`` added at
    its end. Raise ``ValueError`` when the list does not end the file."""
    key = _CASES_KEY.search(text)
    if key:
        item = _ITEM.search(text, key.end())
        indent = item.group(1) if item else "  "
        rest = text[key.end() :]
    elif _ANY_CASES_KEY.search(text):  # cases: [...] in flow style
        raise ValueError(NOT_LAST)
    else:  # a bare list of cases
        indent, rest = "", text
    if _TOP_LEVEL_KEY.search(rest):
        raise ValueError(NOT_LAST)
    block = yaml.safe_dump([_case_data(case)], sort_keys=False, allow_unicode=True, width=100)
    lines = [f"{indent}# {comment}", *(f"{indent}{line}" if line else line for line in block.splitlines())]  # fmt: skip
    head = text if text.endswith("\n") or not text else text + "\n"
    return head + "\n" + "\n".join(lines) + "\n"


def new_yaml(name: str, agent: str, case: Case, *, comment: str) -> str:
    header = yaml.safe_dump({"name": name, "agent": agent}, sort_keys=False)
    return appended_yaml(header + "cases:\n", case, comment=comment)


def appended_jsonl(text: str, case: Case) -> str:
    head = text if text.endswith("\n") or not text else text + "\n"
    return head + json.dumps(_case_data(case), ensure_ascii=False) + "\n"


def new_jsonl(name: str, agent: str, case: Case) -> str:
    return appended_jsonl(json.dumps({"dataset": {"name": name, "agent": agent}}) + "\n", case)


def write_case(path: Path, case: Case, *, agent: str, comment: str) -> Dataset:
    """Append ``case`` to the dataset at ``path`` (made when missing) without losing anything;
    return the dataset as it now loads. Raise ``DatasetError`` and leave the file as it was
    when the result would not load, or would not be the old cases plus this one."""
    label = str(path)
    jsonl = path.suffix.lower() == ".jsonl"
    if path.suffix.lower() not in (".yaml", ".yml", ".jsonl"):
        raise DatasetError("a dataset is a .yaml, .yml or .jsonl file", file=label)
    before: Dataset | None = None
    if path.exists():
        before = load_dataset(path)  # a file that does not load now is not ours to touch
        text = path.read_text(encoding="utf-8")
        try:
            updated = appended_jsonl(text, case) if jsonl else appended_yaml(text, case, comment=comment)  # fmt: skip
        except ValueError as exc:
            raise DatasetError(str(exc), file=label) from None
    else:
        updated = new_jsonl(path.stem, agent, case) if jsonl else new_yaml(path.stem, agent, case, comment=comment)  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(updated)
        try:
            after = load_dataset(temporary)
        except DatasetError as exc:
            raise DatasetError(str(exc).replace(temporary, label)) from None
        old = before.cases if before else []
        if after.cases[: len(old)] != old or after.cases[len(old) :] != [case]:
            raise DatasetError(NOT_LAST, file=label)
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
        return after
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


@run_async
async def add(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="A finished run's workflow id")],
    dataset: Annotated[
        Path, typer.Option(help="The dataset to add the case to (made if missing)", metavar="FILE")
    ],
    category: Annotated[str, typer.Option(help="The case's category")] = "production",
    case_id: Annotated[
        str | None, typer.Option("--id", help="The case's id (default: the run's id)")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option(help="A tag for the case; repeatable")] = None,
    address: Address = None,
    namespace: Namespace = None,
) -> None:
    """Turn a finished run into a case of a dataset: its input (and earlier turns), its answer
    (or a reviewer's correction) as expected, scored on its trajectory and status."""
    s = settings(address, namespace)
    existing = None
    if dataset.exists():
        try:
            existing = load_dataset(dataset)
        except DatasetError as exc:
            fail(str(exc))
    client = await connect_or_explain(s)
    handle = client.get_workflow_handle(run_id, result_type=RunResult)
    try:
        description = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            fail(f"no run {run_id!r} in namespace {s.namespace!r}")
        raise
    status = description.status
    if status in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW):
        fail(f"run {run_id!r} is still running; add it once it has finished (`duragent show {run_id}`)")  # fmt: skip
    if status != WorkflowExecutionStatus.COMPLETED:
        name = status.name.lower() if status else "unknown"
        fail(f"run {run_id!r} ended {name} without a result; only a finished run makes a case")
    result = await handle.result()
    request = await original_request(client, run_id)
    case = build_case(
        request,
        result,
        case_id=case_id or run_id,
        category=category,
        tags=tag or [],
        dataset_agent=existing.agent if existing else request.agent,
    )
    where = "a reviewer's correction" if CORRECTED in case.tags else "the run's answer"
    comment = f"from run {run_id}; expected is {where}"
    try:
        after = write_case(dataset, case, agent=request.agent, comment=comment)
    except DatasetError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {dataset}: {exc.strerror or exc}")
    status_scorer = case.scorers[-1]
    assert isinstance(status_scorer, StatusScorer)
    trajectory_scorer = case.scorers[0] if len(case.scorers) > 1 else None
    steps = ", ".join(trajectory_scorer.steps) if isinstance(trajectory_scorer, TrajectoryScorer) else "no tool calls"  # fmt: skip
    console.print(
        f"added case [bold]{case.id}[/] ({case.category}) to {dataset}: {len(after.cases)} case(s); "
        f"scored on status {status_scorer.status} and trajectory {steps}; expected is {where}",
        soft_wrap=True,
    )
