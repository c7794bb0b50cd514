"""Bad decisions get a clear error and change nothing; signed tokens are checked by the worker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)

from duragent import RunRequest, RunResult
from duragent._approvals import ApprovalOutcome, ApprovalRequest, args_hash
from duragent.activities.models import ScriptedProvider
from duragent.approval_tokens import sign_token
from duragent.client import start_run
from duragent.settings import Settings
from tests.conftest import new_worker, wait_for_pending
from tests.integration.governance_app import REFUND_RULE, make_app, refunds

SCRIPTED = {"scripted": ScriptedProvider()}
KEYS = {"alice": "alice-secret-key", "carol": "carol-secret-key"}


@pytest.fixture(autouse=True)
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVERNANCE_TEST_DB", str(tmp_path / "ledger.db"))


@pytest.fixture
async def waiting(
    client: Client, tmp_path: Path
) -> AsyncIterator[tuple[WorkflowHandle[Any, RunResult], ApprovalRequest]]:
    """A run waiting for approval of a 250 refund, whose rule demands a signed token."""
    keys = tmp_path / "keys.yaml"
    keys.write_text("".join(f"{name}: {key}\n" for name, key in KEYS.items()))
    app = make_app(rules=[{**REFUND_RULE, "require_token": True}])
    settings = Settings(approver_keys_file=keys)
    async with new_worker(client, app, providers=SCRIPTED, settings=settings) as worker:
        handle = await start_run(
            client,
            RunRequest(agent="billing", input="refund 7 of 250", user="bob"),
            task_queue=worker.task_queue,
        )
        found = await wait_for_pending(handle)
        yield handle, found[0]
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            await handle.terminate("test over")


def token(request: ApprovalRequest, handle: WorkflowHandle[Any, Any], **overrides: Any) -> str:
    fields: dict[str, Any] = {
        "workflow_id": handle.id,
        "step_id": request.step_id,
        "approver": "alice",
        "args_hash": request.args_hash,
        "ttl_s": 300,
    }
    key = overrides.pop("key", KEYS["alice"])
    fields.update(overrides)
    return sign_token(key, **fields)


async def unchanged(handle: WorkflowHandle[Any, Any], request: ApprovalRequest) -> None:
    pending = await handle.query("pending_approvals", result_type=list[ApprovalRequest])
    assert [p.step_id for p in pending] == [request.step_id], "the step must still be pending"
    assert refunds() == [], "the tool must not have run"


async def test_valid_token_approves(
    waiting: tuple[WorkflowHandle[Any, RunResult], ApprovalRequest],
) -> None:
    handle, request = waiting
    outcome = await handle.execute_update(
        "decide",
        {"step_id": request.step_id, "approver": "alice", "token": token(request, handle)},
        result_type=ApprovalOutcome,
    )
    assert outcome.accepted
    result = await handle.result()
    assert result.status == "completed" and len(refunds()) == 1


@pytest.mark.parametrize(
    ("case", "overrides", "why"),
    [
        ("forged with another key", {"key": "not-alice"}, "does not match"),
        ("for another run", {"workflow_id": "run-billing-0000000000"}, "does not match"),
        ("for another step", {"step_id": "s99"}, "does not match"),
        ("by another approver", {"approver": "carol"}, "does not match"),
        (
            "for other arguments",
            {"args_hash": args_hash({"order_id": "7", "amount": 1})},
            "does not match",
        ),
        ("expired", {"ttl_s": -10}, "expired"),
    ],
)
async def test_bad_token_is_refused(
    waiting: tuple[WorkflowHandle[Any, RunResult], ApprovalRequest],
    case: str,
    overrides: dict[str, Any],
    why: str,
) -> None:
    handle, request = waiting
    outcome = await handle.execute_update(
        "decide",
        {
            "step_id": request.step_id,
            "approver": "alice",
            "token": token(request, handle, **overrides),
        },
        result_type=ApprovalOutcome,
    )
    assert not outcome.accepted and why in outcome.reason, case
    await unchanged(handle, request)
    steps = await handle.query("steps", 0)
    assert steps[-1]["kind"] == "approval_refused" and why in steps[-1]["reason"]


async def test_token_for_an_approver_without_a_key(
    waiting: tuple[WorkflowHandle[Any, RunResult], ApprovalRequest],
) -> None:
    handle, request = waiting
    fields = {"step_id": request.step_id, "approver": "dana-lead", "token": "v1.1.abc"}
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update("decide", fields)  # dana-lead is not an approver at all
    await unchanged(handle, request)


BAD_UPDATES = [
    ("not an object", "approve please", "should be an object"),
    ("a list", [1, 2], "should be an object"),
    ("null", None, "expected an ApprovalDecision object"),
    ("missing step_id", {"approver": "alice"}, "step_id"),
    ("missing approver", {"step_id": "{step}"}, "approver"),
    ("empty approver", {"step_id": "{step}", "approver": ""}, "at least 1 character"),
    ("approver not a string", {"step_id": "{step}", "approver": 42}, "valid string"),
    ("huge approver", {"step_id": "{step}", "approver": "a" * 300}, "at most 200"),
    (
        "huge reason",
        {"step_id": "{step}", "approver": "alice", "reason": "x" * 10_000},
        "at most 4000",
    ),
    ("unknown action", {"step_id": "{step}", "approver": "alice", "action": "maybe"}, "'approve'"),
    (
        "respond without text",
        {"step_id": "{step}", "approver": "alice", "action": "respond"},
        "needs 'response'",
    ),
    (
        "edit without arguments",
        {"step_id": "{step}", "approver": "alice", "action": "edit"},
        "needs 'arguments'",
    ),
    (
        "arguments without edit",
        {"step_id": "{step}", "approver": "alice", "arguments": {"amount": 1}},
        "only go with action 'edit'",
    ),
    (
        "arguments not an object",
        {"step_id": "{step}", "approver": "alice", "action": "edit", "arguments": [1]},
        "arguments: Input should be a valid dictionary",
    ),
    ("unknown field", {"step_id": "{step}", "approver": "alice", "approved": True}, "Extra inputs"),
    ("unknown step", {"step_id": "s999", "approver": "alice"}, "unknown step 's999'"),
    ("empty step", {"step_id": "", "approver": "alice"}, "at least 1 character"),
    ("huge step id", {"step_id": "s" * 100, "approver": "alice"}, "at most 64"),
    ("approver not allowed", {"step_id": "{step}", "approver": "bob"}, "may not decide"),
    ("the run's own user", {"step_id": "{step}", "approver": "mallory"}, "may not decide"),
    (
        "missing required token",
        {"step_id": "{step}", "approver": "alice"},
        "needs a signed approval token",
    ),
    ("token not a string", {"step_id": "{step}", "approver": "alice", "token": 7}, "valid string"),
    ("huge token", {"step_id": "{step}", "approver": "alice", "token": "t" * 5000}, "at most 1000"),
    (
        "respond with huge text",
        {"step_id": "{step}", "approver": "alice", "action": "respond", "response": "r" * 200_000},
        "at most 100000",
    ),
]


def fill(value: Any, step: str) -> Any:
    if isinstance(value, dict):
        return {k: fill(v, step) for k, v in value.items()}
    return value.replace("{step}", step) if isinstance(value, str) else value


@pytest.mark.parametrize(
    ("case", "payload", "message"), BAD_UPDATES, ids=[c[0] for c in BAD_UPDATES]
)
async def test_bad_update_is_refused_with_a_clear_error(
    waiting: tuple[WorkflowHandle[Any, RunResult], ApprovalRequest],
    case: str,
    payload: Any,
    message: str,
) -> None:
    handle, request = waiting
    before = len((await handle.fetch_history()).events)
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await handle.execute_update("decide", fill(payload, request.step_id))
    assert message in str(info.value.cause), f"{case}: {info.value.cause}"
    await unchanged(handle, request)
    assert len((await handle.fetch_history()).events) == before, (
        "a refused update must leave no history"
    )


BAD_SIGNALS = [
    ("a string", "approve", "expected an ApprovalDecision object"),
    ("a number", 3, "expected an ApprovalDecision object"),
    ("missing approver", {"step_id": "{step}"}, "approver"),
    (
        "huge reason",
        {"step_id": "{step}", "approver": "alice", "reason": "x" * 10_000},
        "at most 4000",
    ),
    ("unknown step", {"step_id": "s999", "approver": "alice"}, "unknown step"),
    ("not allowed", {"step_id": "{step}", "approver": "bob"}, "may not decide"),
    (
        "reject through approve",
        {"step_id": "{step}", "approver": "alice", "action": "reject"},
        "use the 'reject' signal",
    ),
    ("missing token", {"step_id": "{step}", "approver": "alice"}, "signed approval token"),
    (
        "forged token",
        {"step_id": "{step}", "approver": "alice", "token": "v2.9999999999." + "de" * 32},
        "does not match",
    ),
    (
        "malformed token",
        {"step_id": "{step}", "approver": "alice", "token": "v2.\u00b2.x"},
        "malformed approval token",
    ),
]


@pytest.mark.parametrize(
    ("case", "payload", "message"), BAD_SIGNALS, ids=[c[0] for c in BAD_SIGNALS]
)
async def test_bad_signal_is_recorded_as_refused_and_changes_nothing(
    waiting: tuple[WorkflowHandle[Any, RunResult], ApprovalRequest],
    case: str,
    payload: Any,
    message: str,
) -> None:
    handle, request = waiting
    await handle.signal("approve", fill(payload, request.step_id))
    for _ in range(100):
        steps = await handle.query("steps", 0)
        if steps[-1]["kind"] == "approval_refused":
            break
        await asyncio.sleep(0.05)
    assert steps[-1]["kind"] == "approval_refused", case
    assert message in steps[-1]["reason"], steps[-1]["reason"]
    assert len(steps[-1]["reason"]) <= 500
    await unchanged(handle, request)


def test_token_round_trip_and_clock() -> None:
    now = time.time()
    good = sign_token(
        "k", workflow_id="w", step_id="s1", approver="a", args_hash="h", ttl_s=60, now=now
    )
    from duragent.approval_tokens import verify_token

    assert (
        verify_token(good, "k", workflow_id="w", step_id="s1", approver="a", args_hash="h", now=now)
        is None
    )
    late = verify_token(
        good, "k", workflow_id="w", step_id="s1", approver="a", args_hash="h", now=now + 61
    )
    assert late is not None and "expired" in late
    assert "malformed" in (
        verify_token("nope", "k", workflow_id="w", step_id="s1", approver="a", args_hash="h") or ""
    )
