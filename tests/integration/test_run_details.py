"""A paused run reads by itself: its Current Details say what it waits for and the exact JSON to
send; that JSON, pasted as it is, decides the step; the approval timer has a summary; refused
``decide`` updates carry a reason for people and no stack trace; secrets never reach the details.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from duragent import Agent, App, RunRequest, RunResult, tool
from duragent._approvals import DECISION_REFUSED, ApprovalOutcome, ApprovalRequest
from duragent.activities.models import ScriptedProvider
from duragent.client import start_run
from duragent.examples.customer_support import db
from duragent.examples.customer_support.app import APPROVAL_SCENARIO, ENTRY_AGENT, app
from tests.conftest import new_worker, wait_for_pending

SCRIPTED = {"scripted": ScriptedProvider()}
PAYLOAD = re.compile(r"^`(\{.*\})`$", re.MULTILINE)


async def details(handle: WorkflowHandle[Any, Any]) -> str:
    """The run's Current Details, as the Web UI asks for them."""
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


def payloads(text: str) -> list[dict[str, Any]]:
    """The JSON objects the details tell a person to send, in order (approve, reject)."""
    return [json.loads(found) for found in PAYLOAD.findall(text)]


@pytest.fixture
async def support(client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Worker:
    monkeypatch.setenv(db.ENV_VAR, str(tmp_path / "support.db"))
    async with new_worker(client, app, providers=SCRIPTED) as worker:
        yield worker  # type: ignore[misc]


@pytest.fixture
async def paused(
    client: Client, support: Worker
) -> AsyncIterator[tuple[WorkflowHandle[Any, RunResult], ApprovalRequest]]:
    """The support example's refund run, paused for a support lead."""
    handle = await start_run(
        client,
        RunRequest(agent=ENTRY_AGENT, input=APPROVAL_SCENARIO),
        task_queue=support.task_queue,
    )
    (request,) = await wait_for_pending(handle)
    yield handle, request
    if (await handle.describe()).status.name == "RUNNING":  # type: ignore[union-attr]
        await handle.terminate("test over")


async def test_paused_run_details_say_what_to_send_and_the_payload_decides(
    paused: tuple[WorkflowHandle[Any, RunResult], ApprovalRequest],
) -> None:
    handle, request = paused
    text = await details(handle)
    print(text)
    step = request.step_id
    assert f"step {step}" in text and "`refund_order`" in text
    assert '"amount": 150' in text and '"order_id": "1006"' in text
    assert "role support_lead (lee)" in text  # who may decide: the role, and who holds it
    assert f"Deadline: {request.expires_at.strftime('%Y-%m-%d %H:%M:%S UTC')}" in text
    assert "Signal `approve` or Update `decide`" in text
    approve, reject = payloads(text)
    assert approve == {"step_id": step, "approver": "lee"}
    assert reject == {"step_id": step, "approver": "lee", "reason": "why"}

    # The timer says what it is for (the UI showed "1 (59m, 59s)").
    history = await handle.fetch_history()
    timers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
    summary = json.loads(timers[-1].user_metadata.summary.data)
    assert summary.startswith(f"approval {step}: refund_order, deadline ")
    # Every local activity has a summary, not just its type.
    markers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    assert markers and all(m.user_metadata.summary.data for m in markers)

    # Pasted as it is, the payload the details show decides the step.
    outcome = await handle.execute_update("decide", approve, result_type=ApprovalOutcome)
    assert outcome.accepted, outcome.reason
    result = await handle.result()
    assert result.status == "completed"
    after = await details(handle)
    assert after.startswith(f"completed after {result.turns} turns")
    assert f"Last decision: {step} approved by lee at " in after and "(via update)" in after


async def test_a_refused_signal_shows_in_the_details(
    paused: tuple[WorkflowHandle[Any, RunResult], ApprovalRequest],
) -> None:
    handle, request = paused
    await handle.signal("approve", {"step_id": "s4", "approver": "lee"})  # the README's old step
    await wait_for_pending(handle)
    text = await details(handle)
    assert "Last decision: refused at " in text and "(via signal, step 's4')" in text
    assert f"unknown step 's4'; steps waiting for a decision: {request.step_id}" in text
    assert f"step {request.step_id}" in text  # and the wait is still described above it


HUGE = "x" * 200_000
REFUSED_UPDATES = [
    ("wrong approver", {"step_id": "{step}", "approver": "sam"}, "'sam' may not decide"),
    ("wrong step", {"step_id": "s4", "approver": "lee"}, "unknown step 's4'"),
    ("step id a number", {"step_id": 5, "approver": "lee"}, "step_id: Input should be a valid"),
    ("missing fields", {}, "step_id: Field required"),
    ("not an object", ["s5", "lee"], "a decision should be an object"),
    ("null", None, "a decision should be an object"),
    ("huge extra field", {"step_id": "{step}", "approver": "lee", "note": HUGE}, "Extra inputs"),
    ("huge field name", {"step_id": "{step}", "approver": "lee", HUGE: 1}, "Extra inputs"),
    ("huge reason", {"step_id": "{step}", "approver": "lee", "reason": HUGE}, "at most 4000"),
    (
        "deeply nested edit",
        {"step_id": "{step}", "approver": "lee", "action": "edit", "arguments": {"a": [[[[[1]]]]]}},
        "edited arguments for 'refund_order' are invalid",
    ),
]


def fill(value: Any, step: str) -> Any:
    if isinstance(value, dict):
        return {k: fill(v, step) for k, v in value.items()}
    return value.replace("{step}", step) if value == "{step}" else value


async def test_refused_updates_give_a_reason_and_no_stack_trace(
    paused: tuple[WorkflowHandle[Any, RunResult], ApprovalRequest],
) -> None:
    handle, request = paused
    for case, payload, message in REFUSED_UPDATES:
        with pytest.raises(WorkflowUpdateFailedError) as info:
            await handle.execute_update("decide", fill(payload, request.step_id))
        cause = info.value.cause
        assert isinstance(cause, ApplicationError), case
        assert cause.type == DECISION_REFUSED and cause.non_retryable, case
        assert message in cause.message, f"{case}: {cause.message}"
        assert len(cause.message) <= 1000, case
        assert cause.failure is not None and cause.failure.stack_trace == "", case
        assert cause.__cause__ is None, case
        assert ".py" not in cause.message and "Traceback" not in cause.message, case
    # Nothing broke: no failed workflow task, the step still waits, and it can be decided.
    history = await handle.fetch_history()
    failed = EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    assert not [e for e in history.events if e.event_type == failed]
    (still,) = await wait_for_pending(handle)
    assert still.step_id == request.step_id
    ok = {"step_id": request.step_id, "approver": "lee"}
    outcome = await handle.execute_update("decide", ok, result_type=ApprovalOutcome)
    assert outcome.accepted
    assert (await handle.result()).status == "completed"


# -- secrets never reach the details ------------------------------------------------------------

VENDOR_KEY = "sk-proj-Zr8Qm2Lx7Vb4Nc1Kd9Hf3Jt6Wy0Pa5Se"
NAMED_KEY = "plain-looking-value-4471"


@tool(risk="external", timeout=10)
def notify(channel: str, note: str, api_key: str) -> str:
    """Post a note to a channel."""
    return "sent"


def secret_app() -> App:
    agent = Agent(
        name="notifier",
        model="scripted/notifier",
        tools=["notify"],
        script=[
            {"on": "tool", "say": "Posted."},
            {
                "call": {
                    "tool": "notify",
                    "arguments": {
                        "channel": "ops",
                        "note": f"rotate {VENDOR_KEY} today",
                        "api_key": NAMED_KEY,
                    },
                }
            },
        ],
        guardrails=[
            {
                "name": "notify_needs_ops",
                "stage": "tool_call",
                "when": {"tool": "notify"},
                "action": "require_approval",
                "approvers": ["ops-lead"],
                "timeout_s": 600,
            }
        ],
    )
    return App(agents=[agent], tools=[notify])


async def test_details_never_show_secrets_in_arguments(client: Client) -> None:
    async with new_worker(client, secret_app(), providers=SCRIPTED) as worker:
        handle = await start_run(
            client, RunRequest(agent="notifier", input="post it"), task_queue=worker.task_queue
        )
        (request,) = await wait_for_pending(handle)
        text = await details(handle)
        await handle.terminate("test over")
    assert f"step {request.step_id}" in text and "`notify`" in text
    assert VENDOR_KEY not in text and NAMED_KEY not in text
    assert '"note": "rotate [redacted] today"' in text and '"api_key": "[redacted]"' in text
    assert payloads(text)[0] == {"step_id": request.step_id, "approver": "ops-lead"}


# -- the README's Web UI example is what the run really waits for ------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"
DEADLINE = re.compile(r"^Deadline: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, then rejected$")


def readme_blocks() -> tuple[str, dict[str, Any]]:
    """The README's Current Details example and the ``decide`` input it tells users to paste."""
    section = README.read_text().split("**From the Web UI.**", 1)[1]
    shown = re.search(r"```text\n(.*?)\n```", section, re.DOTALL)
    pasted = re.search(r"```json\n(.*?)\n```", section, re.DOTALL)
    assert shown and pasted, "the README's Web UI approval example is missing"
    return shown.group(1), json.loads(pasted.group(1))


def as_rendered(details_text: str) -> str:
    """Current Details as the Web UI shows them: Markdown emphasis and code marks dropped."""
    return details_text.replace("**", "").replace("`", "")


async def test_the_readme_approval_example_is_what_the_refund_run_waits_for(
    paused: tuple[WorkflowHandle[Any, RunResult], ApprovalRequest],
) -> None:
    handle, request = paused
    shown, pasted = readme_blocks()
    actual = as_rendered(await details(handle)).splitlines()
    documented = shown.splitlines()
    assert len(actual) == len(documented), "\n".join(actual)
    for real, written in zip(actual, documented, strict=True):
        if DEADLINE.match(real):  # the one line that changes with every run
            assert DEADLINE.match(written), written
        else:
            assert real == written
    assert pasted == {"step_id": request.step_id, "approver": "lee"}
    outcome = await handle.execute_update("decide", pasted, result_type=ApprovalOutcome)
    assert outcome.accepted, outcome.reason
