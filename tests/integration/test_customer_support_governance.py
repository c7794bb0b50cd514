"""The customer-support example's governance on a real dev server: approvals, review, redaction.

What a user would notice is checked on its side effects: while a refund or a password reset
waits for a support lead, the SQLite tables hold nothing; after the approval, exactly one row.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.worker import Worker

from duragent import Message, RunRequest, RunResult
from duragent._approvals import ApprovalOutcome, ApprovalRequest
from duragent.activities.models import ScriptedProvider
from duragent.client import start_run
from duragent.examples.customer_support import db, starter
from duragent.examples.customer_support.app import (
    APPROVAL_SCENARIO,
    DEMO_APPROVER,
    ENTRY_AGENT,
    PASSWORD_RESET_SCENARIO,
    REVIEW_SCENARIO,
    app,
)
from tests.conftest import BIN, new_worker, wait_for_pending

CARD = "4111 1111 1111 1111"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The worker runs in this process, so its tools see this variable.
    path = tmp_path / "support.db"
    monkeypatch.setenv(db.ENV_VAR, str(path))
    return path


@pytest.fixture
async def worker(client: Client, database: Path) -> AsyncIterator[Worker]:
    async with new_worker(client, app, providers={"scripted": ScriptedProvider()}) as w:
        yield w


async def start(client: Client, worker: Worker, text: str) -> WorkflowHandle[Any, RunResult]:
    return await start_run(
        client, RunRequest(agent=ENTRY_AGENT, input=text), task_queue=worker.task_queue
    )


async def pending(handle: WorkflowHandle[Any, RunResult]) -> ApprovalRequest:
    """The run's one pending request, once it has paused."""
    (request,) = await wait_for_pending(handle)
    return request


async def decide(handle: WorkflowHandle[Any, RunResult], **fields: Any) -> ApprovalOutcome:
    fields.setdefault("reason", "checked with the customer")
    return await handle.execute_update("decide", fields, result_type=ApprovalOutcome)


def rows(path: Path, table: str) -> list[sqlite3.Row]:
    # Through db.connect(): before any tool ran, the file does not exist yet.
    assert db.database_path() == path
    with db.connect() as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()


def account(path: Path, email: str) -> str:
    assert db.database_path() == path
    with db.connect() as conn:
        return str(
            conn.execute("SELECT status FROM accounts WHERE email = ?", (email,)).fetchone()[0]
        )


def kinds(result: RunResult) -> list[str]:
    return [s.kind for s in result.steps]


# --- refunds --------------------------------------------------------------------------------


async def test_refund_up_to_100_needs_no_approval(
    client: Client, worker: Worker, database: Path
) -> None:
    result = await (await start(client, worker, "I want a refund of 50 for order 1006")).result()
    assert result.status == "completed", result.error
    assert result.agent_path == ["support", "info"]
    assert kinds(result) == ["model", "handoff", "model", "tool", "model"]
    (refund,) = rows(database, "refunds")
    assert (refund["order_id"], refund["amount_cents"]) == ("1006", 5000)
    assert result.output is not None
    assert f"RFD-{1000 + refund['id']:05d}" in result.output and "$50.00" in result.output


async def test_refund_over_100_waits_for_a_support_lead_then_runs_once(
    client: Client, worker: Worker, database: Path
) -> None:
    handle = await start(client, worker, APPROVAL_SCENARIO)
    request = await pending(handle)
    assert (request.kind, request.agent, request.tool, request.rule) == (
        "tool_call",
        "info",
        "refund_order",
        "refund_over_100",
    )
    assert request.arguments is not None
    assert (request.arguments["order_id"], request.arguments["amount"]) == ("1006", 150)
    assert request.approver_roles == ["support_lead"]
    assert "support lead" in request.reason
    assert (await handle.query("status"))["status"] == "awaiting_approval"
    assert rows(database, "refunds") == []  # nothing is refunded while the run waits

    # sam is a support_agent, not a lead: refused before the decision enters history.
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await decide(handle, step_id=request.step_id, approver="sam")
    assert "'sam' may not decide" in str(refused.value.cause)
    assert (await pending(handle)).step_id == request.step_id
    assert rows(database, "refunds") == []

    outcome = await decide(handle, step_id=request.step_id, approver=DEMO_APPROVER)
    assert outcome.accepted and outcome.approver == "lee"
    result = await handle.result()
    assert result.status == "completed", result.error
    assert kinds(result) == [
        "model", "handoff", "model", "guardrail", "approval_requested", "approval_decided",
        "tool", "model",
    ]  # fmt: skip
    (refund,) = rows(database, "refunds")
    tool_step = next(s for s in result.steps if s.kind == "tool")
    assert refund["idempotency_key"] == f"{result.workflow_id}/{tool_step.step_id}"
    assert (refund["order_id"], refund["amount_cents"]) == ("1006", 15000)
    assert tool_step.ref == request.step_id
    decided = next(s for s in result.steps if s.kind == "approval_decided")
    assert (decided.approver, decided.action, decided.via) == ("lee", "approve", "update")
    assert result.output is not None
    assert "$150.00" in result.output and f"RFD-{1000 + refund['id']:05d}" in result.output


async def test_rejected_refund_is_never_made_and_the_customer_is_told(
    client: Client, worker: Worker, database: Path
) -> None:
    handle = await start(client, worker, APPROVAL_SCENARIO)
    request = await pending(handle)
    await decide(
        handle, step_id=request.step_id, approver="lee", action="reject", reason="needs photos"
    )
    result = await handle.result()
    assert result.status == "completed"
    assert result.output is not None and "couldn't issue that refund" in result.output
    assert rows(database, "refunds") == []
    assert result.errors.get("approval_rejected") == 1


async def test_approved_refund_above_the_order_total_is_still_refused_by_the_tool(
    client: Client, worker: Worker, database: Path
) -> None:
    # Order 1002 cost $23.98: an approval cannot make a refund of $150 right.
    handle = await start(client, worker, "I want a refund of 150 for order 1002")
    request = await pending(handle)
    await decide(handle, step_id=request.step_id, approver="lee")
    result = await handle.result()
    assert result.status == "completed"
    assert result.output is not None
    assert "couldn't refund order 1002" in result.output and "$23.98" in result.output
    assert rows(database, "refunds") == []


# --- password resets ------------------------------------------------------------------------


async def test_password_reset_always_waits_for_a_support_lead(
    client: Client, worker: Worker, database: Path
) -> None:
    handle = await start(client, worker, PASSWORD_RESET_SCENARIO)
    request = await pending(handle)
    assert (request.agent, request.tool, request.rule, request.risk) == (
        "tech",
        "reset_password",
        "password_reset",
        "destructive",
    )
    assert request.arguments == {"email": "alex@example.com"}
    assert request.reason.lower().startswith("password resets always need a support lead")
    assert rows(database, "password_resets") == []
    assert account(database, "alex@example.com") == "locked"

    await decide(handle, step_id=request.step_id, approver="lee")
    result = await handle.result()
    assert result.status == "completed", result.error
    assert result.agent_path == ["support", "tech"]
    (reset,) = rows(database, "password_resets")
    assert (reset["email"], reset["unlocked"]) == ("alex@example.com", 1)
    assert account(database, "alex@example.com") == "active"
    assert result.output is not None
    assert "a***@example.com" in result.output and "alex@example.com" not in result.output
    assert f"PWR-{1000 + reset['id']:05d}" in result.output


async def test_password_reset_for_a_small_request_pauses_too(
    client: Client, worker: Worker, database: Path
) -> None:
    # No amount, no threshold: whichever account, the reset waits.
    handle = await start(client, worker, "Can you reset my password? I'm jane@example.com")
    request = await pending(handle)
    assert request.tool == "reset_password" and request.arguments == {"email": "jane@example.com"}
    await handle.signal(
        "reject", {"step_id": request.step_id, "approver": "lee", "reason": "not verified"}
    )
    result = await handle.result()
    assert result.output is not None and "was not approved" in result.output
    assert "Forgot password" in result.output
    assert rows(database, "password_resets") == []


async def test_the_stock_temporal_cli_signal_approves(
    client: Client, worker: Worker, database: Path
) -> None:
    # Exactly the command the README gives, with the binary the dev server runs from.
    handle = await start(client, worker, PASSWORD_RESET_SCENARIO)
    request = await pending(handle)
    decision = {"step_id": request.step_id, "approver": "lee", "reason": "ok"}
    process = await asyncio.create_subprocess_exec(
        str(BIN / "temporal"), "workflow", "signal",
        "--address", client.service_client.config.target_host,
        "--namespace", client.namespace,
        "--workflow-id", handle.id, "--name", "approve", "--input", json.dumps(decision),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, (out + err).decode()
    result = await handle.result()
    assert result.status == "completed"
    decided = next(s for s in result.steps if s.kind == "approval_decided")
    assert (decided.approver, decided.via) == ("lee", "signal")
    assert len(rows(database, "password_resets")) == 1


# --- redaction and review -------------------------------------------------------------------


async def test_card_numbers_are_redacted_before_any_model_sees_them(
    client: Client, worker: Worker, database: Path
) -> None:
    text = f"I want a person: my card {CARD} was charged twice. I'm jane@example.com"
    handle = await start(client, worker, text)
    result = await handle.result()
    assert result.status == "completed", result.error
    assert result.agent_path == ["support", "human"]
    guard = result.steps[0]
    assert (guard.kind, guard.rule, guard.action) == (
        "guardrail",
        "redact_sensitive_numbers",
        "redact",
    )
    # The transcript is what every model call was sent: redacted from the first message on.
    transcript = await handle.query("transcript", result_type=list[Message])
    redacted = text.replace(CARD, "[REDACTED:credit_card]")
    assert transcript[0].role == "user" and transcript[0].content == redacted
    assert CARD not in json.dumps([m.model_dump(mode="json") for m in transcript])
    assert CARD not in json.dumps([s.model_dump(mode="json") for s in result.steps])
    # The ticket the human agent filed holds the redacted text: the number never reached SQLite.
    (ticket,) = rows(database, "tickets")
    assert ticket["details"] == redacted and "jane@example.com" in ticket["details"]


async def test_unsure_answer_waits_for_review_and_is_given_once_approved(
    client: Client, worker: Worker, database: Path
) -> None:
    handle = await start(client, worker, REVIEW_SCENARIO)
    request = await pending(handle)
    assert (request.kind, request.agent, request.rule, request.confidence) == (
        "review",
        "info",
        None,
        0.5,
    )
    assert request.reason == "confidence 0.50 below the review threshold 0.6"
    assert request.approver_roles == ["support_lead"]
    assert request.output is not None and "30 days" in request.output
    assert (await handle.query("status"))["status"] == "awaiting_review"
    with pytest.raises(WorkflowUpdateFailedError):
        await decide(handle, step_id=request.step_id, approver="sam")
    await decide(handle, step_id=request.step_id, approver="lee")
    result = await handle.result()
    assert result.status == "completed"
    assert result.output == request.output
    assert kinds(result)[-2:] == ["review_requested", "review_decided"]


async def test_reviewer_can_correct_the_answer(
    client: Client, worker: Worker, database: Path
) -> None:
    handle = await start(client, worker, REVIEW_SCENARIO)
    request = await pending(handle)
    corrected = "Items can be returned within 30 days of delivery; tell me your order number."
    await decide(handle, step_id=request.step_id, approver="lee", action="edit", response=corrected)
    result = await handle.result()
    assert result.status == "completed" and result.output == corrected


# --- the demo -------------------------------------------------------------------------------


async def test_the_starter_approves_the_approval_scenario_as_lee(
    client: Client, worker: Worker, database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handle = await start(client, worker, APPROVAL_SCENARIO)
    result = await starter.run_one(handle, approve_as=DEMO_APPROVER)
    assert result.status == "completed"
    assert len(rows(database, "refunds")) == 1
    printed = capsys.readouterr().out
    assert f"duragent approve {handle.id} s5 --by NAME" in printed
    assert "approve by lee: accepted=True" in printed
    assert "decided: approve by lee" in starter.describe(APPROVAL_SCENARIO, result, "url")
