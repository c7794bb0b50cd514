"""Approvals on a real dev server: granted, rejected, edited, answered, refused, twice, by whom.

The refund tool writes to SQLite, so "the tool never ran" is checked on its own side effect.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError

from duragent import App, RunRequest, RunResult
from duragent._approvals import ApprovalOutcome
from duragent._names import SA_PENDING, SA_STATUS
from duragent.activities.models import ScriptedProvider
from duragent.client import start_run
from tests.conftest import new_worker, wait_for_pending
from tests.integration.governance_app import REFUND_RULE, make_app, refunds

SCRIPTED = {"scripted": ScriptedProvider()}


@pytest.fixture(autouse=True)
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVERNANCE_TEST_DB", str(tmp_path / "ledger.db"))


pending = wait_for_pending


async def refused(handle: WorkflowHandle[Any, Any], match: str, **fields: Any) -> str:
    """Send a decision that must be refused by the update's validator; return the reason."""
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await decide(handle, **fields)
    reason = str(info.value.cause)
    assert re.search(match, reason), reason
    return reason


async def decide(handle: WorkflowHandle[Any, Any], **fields: Any) -> ApprovalOutcome:
    fields.setdefault("reason", "checked the order")
    return await handle.execute_update("decide", fields, result_type=ApprovalOutcome)


class Run:
    def __init__(self, client: Client, app: App) -> None:
        self.client, self.app = client, app

    async def __aenter__(self) -> Run:
        self._worker_cm = new_worker(self.client, self.app, providers=SCRIPTED)
        self.worker = await self._worker_cm.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._worker_cm.__aexit__(*exc)

    async def start(self, text: str, **kwargs: Any) -> WorkflowHandle[Any, RunResult]:
        request = RunRequest(agent="billing", input=text, **kwargs)
        return await start_run(self.client, request, task_queue=self.worker.task_queue)


@pytest.fixture
async def runs(client: Client) -> AsyncIterator[Run]:
    async with Run(client, make_app()) as run:
        yield run


async def test_small_refund_needs_no_approval(runs: Run) -> None:
    result = await (await runs.start("refund 7 of 50")).result()
    assert result.output == "Refunded 50 on order 7."
    assert [r[2] for r in refunds()] == [50]
    assert not [s for s in result.steps if s.kind.startswith("approval")]


async def test_approval_granted_runs_the_tool_once_after_the_decision(
    runs: Run, client: Client
) -> None:
    handle = await runs.start("refund 7 of 250")
    (request,) = await pending(handle)
    assert request.tool == "refund_order" and request.arguments == {"order_id": "7", "amount": 250}
    assert request.rule == "refund_over_100" and request.reason == "refunds over 100 need a lead"
    described = await handle.describe()
    assert described.typed_search_attributes.get(SA_STATUS) == "awaiting_approval"
    assert described.typed_search_attributes.get(SA_PENDING) == 1
    assert refunds() == []  # the tool has not run: it waits for the decision
    outcome = await decide(handle, step_id=request.step_id, approver="alice")
    assert outcome.accepted and outcome.action == "approve"
    result = await handle.result()
    assert result.status == "completed" and result.output == "Refunded 250 on order 7."
    assert [r[1:] for r in refunds()] == [("7", 250)]
    decided = next(s for s in result.steps if s.kind == "approval_decided")
    assert (decided.approver, decided.reason, decided.via, decided.ref) == (
        "alice", "checked the order", "update", request.step_id,
    )  # fmt: skip
    tool_step = next(s for s in result.steps if s.kind == "tool")
    assert tool_step.ref == request.step_id and tool_step.args_hash == request.args_hash
    assert result.latency.approval_ms > 0
    final = (await handle.describe()).typed_search_attributes
    assert final.get(SA_STATUS) == "completed" and final.get(SA_PENDING) == 0


async def test_rejected_by_signal_never_runs_the_tool(runs: Run) -> None:
    handle = await runs.start("refund 7 of 250")
    (request,) = await pending(handle)
    await handle.signal(
        "reject", {"step_id": request.step_id, "approver": "carol", "reason": "fraud"}
    )
    result = await handle.result()
    assert result.status == "completed" and result.output == "The refund was not approved."
    assert refunds() == []
    decided = next(s for s in result.steps if s.kind == "approval_decided")
    assert (decided.action, decided.approver, decided.via) == ("reject", "carol", "signal")
    assert result.errors.get("approval_rejected") == 1


async def test_rejection_can_end_the_run(client: Client) -> None:
    rule = {**REFUND_RULE, "on_reject": "end_run"}
    async with Run(client, make_app(rules=[rule])) as runs:
        handle = await runs.start("refund 7 of 250")
        (request,) = await pending(handle)
        await decide(
            handle, step_id=request.step_id, approver="alice", action="reject", reason="no"
        )
        result = await handle.result()
    assert result.status == "rejected" and "reject by alice: no" in (result.error or "")
    assert refunds() == []


async def test_decided_twice_the_second_is_refused(runs: Run) -> None:
    handle = await runs.start("refund 77 of 250")  # then asks to refund 78 of 300: stays open
    (first,) = await pending(handle)
    await decide(handle, step_id=first.step_id, approver="alice")
    for _ in range(100):
        (second,) = await pending(handle)
        if second.step_id != first.step_id:
            break
        await asyncio.sleep(0.05)
    await refused(
        handle,
        "already decided: approve by alice",
        step_id=first.step_id,
        approver="carol",
        action="reject",
    )
    await decide(handle, step_id=second.step_id, approver="carol")
    result = await handle.result()
    assert [r[1:] for r in refunds()] == [("77", 250), ("78", 300)]
    assert [s.kind for s in result.steps].count("approval_decided") == 2


async def test_repeated_approval_with_the_same_id_returns_the_first_outcome(runs: Run) -> None:
    handle = await runs.start("refund 7 of 250")
    (request,) = await pending(handle)
    fields = {"step_id": request.step_id, "approver": "alice", "reason": "ok", "action": "approve"}
    update_id = f"{request.step_id}:alice:approve"
    first = await handle.execute_update("decide", fields, id=update_id, result_type=ApprovalOutcome)
    again = await handle.execute_update("decide", fields, id=update_id, result_type=ApprovalOutcome)
    assert again == first and first.accepted
    await handle.result()
    assert len(refunds()) == 1


async def test_duplicate_signal_is_recorded_as_refused(runs: Run) -> None:
    handle = await runs.start("refund 7 of 250")
    (request,) = await pending(handle)
    decision = {"step_id": request.step_id, "approver": "alice", "reason": "ok"}
    await handle.signal("approve", decision)
    await handle.signal("approve", decision)
    result = await handle.result()
    assert len(refunds()) == 1
    refusals = [s for s in result.steps if s.kind == "approval_refused"]
    assert len(refusals) == 1 and "already decided" in (refusals[0].reason or "")


async def test_someone_not_allowed_is_refused_and_the_step_stays_pending(runs: Run) -> None:
    handle = await runs.start("refund 7 of 250")
    (request,) = await pending(handle)
    await refused(handle, "'bob' may not decide", step_id=request.step_id, approver="bob")
    await handle.signal("approve", {"step_id": request.step_id, "approver": "mallory"})
    for _ in range(50):
        steps = await handle.query("steps", 0)
        if any(s["kind"] == "approval_refused" for s in steps):
            break
        await asyncio.sleep(0.05)
    assert [r.step_id for r in await pending(handle)] == [request.step_id]
    assert refunds() == []
    await decide(handle, step_id=request.step_id, approver="carol")  # a lead by role
    result = await handle.result()
    refusal = next(s for s in result.steps if s.kind == "approval_refused")
    assert refusal.approver == "mallory" and "may not decide" in (refusal.reason or "")
    assert len(refunds()) == 1


async def test_separation_of_duties(runs: Run) -> None:
    handle = await runs.start("refund 7 of 250", user="alice")
    (request,) = await pending(handle)
    await refused(handle, "separation of duties", step_id=request.step_id, approver="alice")
    await decide(handle, step_id=request.step_id, approver="carol")
    assert (await handle.result()).status == "completed"


async def test_self_approval_when_the_rule_allows_it(client: Client) -> None:
    rule = {**REFUND_RULE, "allow_self_approval": True}
    async with Run(client, make_app(rules=[rule])) as runs:
        handle = await runs.start("refund 7 of 250", user="alice")
        (request,) = await pending(handle)
        assert (await decide(handle, step_id=request.step_id, approver="alice")).accepted
        assert (await handle.result()).status == "completed"


async def test_edit_approves_with_new_arguments_rechecked(runs: Run) -> None:
    handle = await runs.start("refund 7 of 250")
    (request,) = await pending(handle)
    await decide(
        handle, step_id=request.step_id, approver="alice", action="edit",
        arguments={"order_id": "7", "amount": 90},
    )  # fmt: skip
    result = await handle.result()
    assert result.output == "Refunded 90 on order 7."
    assert [r[1:] for r in refunds()] == [("7", 90)]
    decided = next(s for s in result.steps if s.kind == "approval_decided")
    assert decided.arguments == {"order_id": "7", "amount": 90} and decided.action == "edit"
    assert decided.args_hash != request.args_hash


async def test_respond_answers_the_model_instead_of_running_the_tool(runs: Run) -> None:
    handle = await runs.start("refund 7 of 250")
    (request,) = await pending(handle)
    await decide(
        handle, step_id=request.step_id, approver="alice", action="respond",
        response="store credit issued instead",
    )  # fmt: skip
    result = await handle.result()
    assert result.output == "Refund answer: store credit issued instead"
    assert refunds() == []


async def test_approval_while_the_worker_is_down(client: Client) -> None:
    app = make_app()
    async with new_worker(client, app, providers=SCRIPTED) as worker:
        queue = worker.task_queue
        handle = await start_run(
            client, RunRequest(agent="billing", input="refund 7 of 250"), task_queue=queue
        )
        (request,) = await pending(handle)
    # No worker now: the signal is stored by the server and delivered when one returns.
    await handle.signal(
        "approve", {"step_id": request.step_id, "approver": "alice", "reason": "ok"}
    )
    assert refunds() == []
    async with new_worker(client, app, providers=SCRIPTED, task_queue=queue):
        result = await handle.result()
    assert result.status == "completed" and len(refunds()) == 1


async def test_input_rule_asks_before_the_model_sees_anything(client: Client) -> None:
    rule = {
        "name": "sensitive_input",
        "stage": "input",
        "when": {"contains": ["password", "secret"]},
        "action": "require_approval",
        "approver_roles": ["lead"],
        "message": "sensitive data in the request",
    }
    async with Run(client, make_app(rules=[rule])) as runs:
        handle = await runs.start("hello, my password is hunter2")
        (request,) = await pending(handle)
        assert request.kind == "input" and request.arguments == {
            "input": "hello, my password is hunter2"
        }
        status = await handle.query("status")
        assert status["turn"] == 0  # no model call yet
        await decide(
            handle, step_id=request.step_id, approver="carol", action="reject", reason="no"
        )
        result = await handle.result()
    assert result.status == "rejected" and result.turns == 0


async def test_low_confidence_answer_waits_for_review_and_can_be_edited(client: Client) -> None:
    review = {"confidence_threshold": 0.8, "reviewer_roles": ["lead"]}
    async with Run(client, make_app(review=review)) as runs:
        handle = await runs.start("hello there")
        (request,) = await pending(handle)
        assert request.kind == "review" and request.output == "Hello!" and request.confidence == 0.4
        assert "confidence 0.40 below the review threshold 0.8" in request.reason
        described = await handle.describe()
        assert described.typed_search_attributes.get(SA_STATUS) == "awaiting_review"
        await decide(
            handle,
            step_id=request.step_id,
            approver="alice",
            action="edit",
            response="Hi! How can I help?",
        )
        result = await handle.result()
    assert result.status == "completed" and result.output == "Hi! How can I help?"
    assert [s.kind for s in result.steps][-2:] == ["review_requested", "review_decided"]


async def test_confident_answer_skips_review(client: Client) -> None:
    review = {"confidence_threshold": 0.3, "reviewer_roles": ["lead"]}
    async with Run(client, make_app(review=review)) as runs:
        result = await (await runs.start("hello there")).result()
    assert result.output == "Hello!" and not [
        s for s in result.steps if s.kind.startswith("review")
    ]


async def test_escalation_then_timeout_rejects(client: Client) -> None:
    rule = {**REFUND_RULE, "timeout_s": 1, "on_timeout": "escalate", "escalate_to": ["dana"]}
    async with Run(client, make_app(rules=[rule])) as runs:
        handle = await runs.start("refund 7 of 250")
        (request,) = await pending(handle)
        for _ in range(60):
            (current,) = await pending(handle)
            if current.escalated:
                break
            await asyncio.sleep(0.1)
        assert current.escalated
        await refused(
            handle, "may not decide", step_id=request.step_id, approver="alice"
        )  # not hers now
        result = await handle.result()
    kinds = [s.kind for s in result.steps]
    assert "approval_escalated" in kinds and "approval_timeout" in kinds
    assert result.output == "The refund was not approved." and refunds() == []
