"""Prompts by reference (issue 16): a run records each agent's prompt once, by content address,
and model calls carry the address. A worker that starts mid-run with an empty cache still runs
the prompt the run started with (from the shared store, or from its own app when that app has
not changed), and fails closed when neither holds it. Runs recorded before keep sending the
prompt in every call, on any worker."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle

from duragent import App, RunRequest, RunResult
from duragent._spec import ScriptRule
from duragent.activities.models import ScriptedProvider
from duragent.client import start_run
from duragent.settings import Settings
from tests.conftest import new_worker, wait_for_pending
from tests.integration.governance_app import make_app, refund_order, refunds

SCRIPTED = {"scripted": ScriptedProvider()}
ANSWER = "Refunded 250 on order 7."


@pytest.fixture(autouse=True)
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVERNANCE_TEST_DB", str(tmp_path / "ledger.db"))


def changed_app() -> App:
    """The governance app after a deploy that changed what billing is told."""
    billing = make_app().agent("billing")
    script = [ScriptRule(say="The app has changed."), *billing.script]
    return App(
        agents=[billing.model_copy(update={"script": script, "instructions": "New rules."})],
        tools=[refund_order],
        approvers={"alice": ["lead"]},
    )


async def model_calls(handle: WorkflowHandle[Any, Any]) -> list[dict[str, Any]]:
    """The input of every ``model.call`` the run scheduled, as recorded in its history."""
    history = await handle.fetch_history()
    calls = []
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name == "model.call":
                calls.append(json.loads(scheduled.input.payloads[0].data))
    return calls


async def paused_refund(client: Client, app: App, settings: Settings) -> WorkflowHandle[Any, Any]:
    """A refund run waiting for alice's approval, its first worker stopped."""
    async with new_worker(client, app, providers=SCRIPTED, settings=settings) as worker:
        handle = await start_run(
            client, RunRequest(agent="billing", input="refund 7 of 250"),
            task_queue=worker.task_queue,
        )  # fmt: skip
        await wait_for_pending(handle)
    return handle


async def approve_on_fresh_worker(
    client: Client, handle: WorkflowHandle[Any, Any], app: App, settings: Settings
) -> RunResult:
    """Approve on a new worker (new caches, new stores objects) on the run's task queue."""
    description = await handle.describe()
    async with new_worker(
        client, app, providers=SCRIPTED, settings=settings, task_queue=description.task_queue
    ):
        step = (await wait_for_pending(handle))[0].step_id
        await handle.execute_update("decide", {"step_id": step, "approver": "alice"})
        return await handle.result()


async def test_model_calls_carry_a_reference_not_the_prompt(client: Client, tmp_path: Path) -> None:
    settings = Settings(transcript_store=str(tmp_path / "shared.db"))
    handle = await paused_refund(client, make_app(), settings)
    result = await approve_on_fresh_worker(client, handle, make_app(), settings)
    assert (result.status, result.output) == ("completed", ANSWER)
    calls = await model_calls(handle)
    assert len(calls) == 2
    for call in calls:
        assert call["prompt"]["digest"].startswith("sha256:") and call["prompt"]["script"]
        # Left at their defaults (empty), so not even written (duragent's compact activity JSON).
        assert call.get("instructions", "") == "" and call.get("tools", []) == []
        assert call.get("script", []) == []
    # The audit still names the whole spec the run used.
    assert result.spec_hashes["billing"] == make_app().agent("billing").spec_hash()


async def test_a_fresh_worker_reads_the_prompt_the_run_started_with_from_the_shared_store(
    client: Client, tmp_path: Path
) -> None:
    settings = Settings(transcript_store=str(tmp_path / "shared.db"))
    handle = await paused_refund(client, make_app(), settings)
    # The new worker's app tells billing something else: the run keeps its own prompt.
    result = await approve_on_fresh_worker(client, handle, changed_app(), settings)
    assert (result.status, result.output) == ("completed", ANSWER)
    assert len(refunds()) == 1


async def test_a_fresh_worker_with_its_own_store_uses_its_app_when_unchanged(
    client: Client, tmp_path: Path
) -> None:
    first = Settings(transcript_store=str(tmp_path / "first.db"))
    handle = await paused_refund(client, make_app(), first)
    second = dataclasses.replace(first, transcript_store=str(tmp_path / "second.db"))
    result = await approve_on_fresh_worker(client, handle, make_app(), second)
    assert (result.status, result.output) == ("completed", ANSWER)


async def test_a_worker_that_cannot_find_the_prompt_fails_the_run_closed(
    client: Client, tmp_path: Path
) -> None:
    first = Settings(transcript_store=str(tmp_path / "first.db"))
    handle = await paused_refund(client, make_app(), first)
    second = dataclasses.replace(first, transcript_store=str(tmp_path / "second.db"))
    result = await approve_on_fresh_worker(client, handle, changed_app(), second)
    assert result.status == "failed" and result.output is None
    assert result.error is not None
    assert "spec_missing" in result.error and "DURAGENT_TRANSCRIPT_STORE" in result.error
    assert "The app has changed." not in str(result.model_dump())


async def test_a_run_recorded_whole_keeps_sending_its_prompt_after_the_upgrade(
    client: Client, tmp_path: Path
) -> None:
    """A run started on the old path (specs recorded whole, as before issue 16) is continued
    by a worker that records prompts by reference: its calls still carry the prompt."""
    old = Settings(transcript_store=str(tmp_path / "shared.db"), spec_refs=False)
    handle = await paused_refund(client, make_app(), old)
    new = dataclasses.replace(old, spec_refs=True)
    result = await approve_on_fresh_worker(client, handle, changed_app(), new)
    assert (result.status, result.output) == ("completed", ANSWER)
    calls = await model_calls(handle)
    assert len(calls) == 2
    for call in calls:
        assert call.get("prompt") is None and call["script"] and call["tools"]
