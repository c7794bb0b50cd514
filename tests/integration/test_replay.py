"""Determinism: recorded histories replay against the current workflow code without errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from duragent import RunRequest
from duragent.activities.models import ScriptedProvider
from duragent.client import start_run
from duragent.workers import sandbox_runner
from duragent.workflows import AgentRun
from tests.conftest import new_worker

HISTORIES = sorted((Path(__file__).parents[1] / "histories").glob("*.json"))


def replayer(*, strict: bool = False) -> Replayer:
    return Replayer(
        workflows=[AgentRun],
        data_converter=pydantic_data_converter,
        workflow_runner=sandbox_runner(strict=strict),
    )


def test_committed_histories_exist() -> None:
    assert len(HISTORIES) >= 2, "record them with: .venv/bin/python -m tests.histories.record"


@pytest.mark.parametrize("strict", [False, True], ids=["worker-sandbox", "strict-sandbox"])
@pytest.mark.parametrize("path", HISTORIES, ids=[p.name for p in HISTORIES])
async def test_committed_history_replays(path: Path, strict: bool) -> None:
    """Strict: the workflow code re-imported into the sandbox, whose restrictions then catch a
    clock read or a random number in it (the worker passes that code through, for speed)."""
    history = WorkflowHistory.from_json(path.stem, path.read_text())  # noqa: ASYNC240 - small file
    result = await replayer(strict=strict).replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"


async def test_fresh_history_of_the_example_replays(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DURAGENT_EXAMPLE_DB", str(tmp_path / "support.db"))
    from duragent.examples.customer_support.app import app

    async with new_worker(client, app, providers={"scripted": ScriptedProvider()}) as worker:
        handle = await start_run(
            client,
            RunRequest(agent="support", input="Where is my order 1001?"),
            task_queue=worker.task_queue,
        )
        await handle.result()
    history = await handle.fetch_history()
    for strict in (False, True):
        result = await replayer(strict=strict).replay_workflow(
            history, raise_on_replay_failure=False
        )
        assert result.replay_failure is None, (strict, result.replay_failure)
