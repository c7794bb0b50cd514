"""Client-side run handling shared by ``run``, ``show`` and ``demo``: start, follow, fetch,
and saving the files a run produced."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError

from duragent._messages import RunRequest, RunResult, StepRecord
from duragent._names import QUERY_STEPS
from duragent.cli._common import fail, say
from duragent.cli._render import print_artifacts, step_line
from duragent.client import start_run

POLL_S = 0.2
ARTIFACTS = "artifacts"
"""Where runs' files are saved, under the state folder (``$DURAGENT_HOME``), by default."""
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


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
                say(console, step_line(step))
            seen += len(steps)
            if done:
                result = result_task.result()
                for step in result.steps[seen:]:
                    say(console, step_line(step))
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


@dataclass(frozen=True)
class SavedArtifact:
    """An artifact of a run, and where it was written (``None``: its content was not returned)."""

    name: str
    size: int
    path: Path | None


def _safe_parts(name: str) -> list[str]:
    """``name`` as path parts that cannot leave a folder: no ``..``, no root, no odd characters."""
    parts = [_UNSAFE.sub("_", part).strip(".") for part in name.replace("\\", "/").split("/")]
    return [part for part in parts if part]


def save_artifacts(result: RunResult, folder: Path) -> list[SavedArtifact]:
    """Write the files the run's steps produced under ``folder/<workflow id>/``.

    Artifact names come from sandbox jobs, that is from code a model wrote, so each is reduced
    to safe path parts and the target checked to stay inside the run's folder. A name a later
    step produces again goes under a folder named after that step, so nothing is overwritten.
    An artifact over the policy's ``artifact_bytes`` has no content in the result: it is
    listed, not written.
    """
    run_dir = folder / ("/".join(_safe_parts(result.workflow_id)) or "run")
    root = run_dir.resolve()
    saved: list[SavedArtifact] = []
    used: set[Path] = set()
    for step in result.steps:
        for artifact in step.artifacts:
            if artifact.data_b64 is None:
                saved.append(SavedArtifact(artifact.name, artifact.size, None))
                continue
            relative = Path(*(_safe_parts(artifact.name) or ["artifact"]))
            if relative in used:
                relative = Path(*_safe_parts(step.step_id), relative)
            used.add(relative)
            target = run_dir / relative
            if not target.resolve().is_relative_to(root):
                raise ValueError(f"artifact {artifact.name!r} would be written outside {run_dir}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(artifact.content())
            saved.append(SavedArtifact(artifact.name, artifact.size, target))
    return saved


def save_and_list(console: Console, result: RunResult, folder: Path) -> None:
    """Save the files the run produced, if any, under ``folder`` and print where they are."""
    if not any(step.artifacts for step in result.steps):
        return
    try:
        saved = save_artifacts(result, folder)
    except (OSError, ValueError) as exc:
        fail(f"cannot save the run's files under {folder}: {exc}")
    print_artifacts(console, saved)
