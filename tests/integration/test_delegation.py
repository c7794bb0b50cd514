"""Delegation (issue 13): a coordinator's delegates are tools, each call a child ``AgentRun``.

Two delegates asked in one turn run in parallel; one pauses for an approval that is decided on
its own workflow (``duragent approvals`` lists it); the parent's result holds both answers and
its cost includes both children's.
"""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from duragent import App, RunRequest, RunResult
from duragent._guardrails import Rule
from duragent.activities.models import ScriptedProvider
from duragent.cli._approval_cmds import list_pending
from duragent.client import start_run
from duragent.workflows._delegation import MAX_DEPTH, MAX_PER_TURN
from tests.conftest import new_worker, wait_for_pending
from tests.integration import delegation_app
from tests.integration.delegation_app import app


async def _child_awaiting_approval(client: Client, parent_id: str) -> str:
    for _ in range(200):
        for workflow_id, request in await list_pending(client, None):
            if workflow_id.startswith(parent_id + "-") and request.tool == "refund_order":
                return workflow_id
        await asyncio.sleep(0.1)
    raise AssertionError("the refunder child never showed up in `duragent approvals`")


async def test_a_coordinator_delegates_to_two_agents_in_parallel(client: Client) -> None:
    async with new_worker(client, app, providers={"scripted": ScriptedProvider()}) as worker:
        handle = await start_run(
            client,
            RunRequest(agent="coordinator", input="Where is order 77, and refund it", user="bob"),
            task_queue=worker.task_queue,
        )
        child_id = await _child_awaiting_approval(client, handle.id)
        child = client.get_workflow_handle(child_id)
        (pending,) = await wait_for_pending(child)
        assert pending.arguments == {"order_id": "77", "amount": 150}
        # The parent is still waiting for its delegates: nothing answered yet.
        assert (await handle.describe()).status.name == "RUNNING"
        outcome = await child.execute_update(
            "decide", {"step_id": pending.step_id, "approver": "alice", "reason": "ok"}
        )
        assert outcome["accepted"] is True
        result = await handle.result()

    assert result.status == "completed", result.error
    assert result.output == (
        "Research: shipping of 77 ships in 3 days | Refund: refunded 150 for order 77"
    )
    delegated = [s for s in result.steps if s.child is not None]
    assert [s.tool for s in delegated] == ["delegate_to_researcher", "delegate_to_refunder"]
    children: list[RunResult] = []
    for step in delegated:
        workflow_id, run_id = step.child.split("/") if step.child else ("", "")
        done = await client.get_workflow_handle(
            workflow_id, run_id=run_id, result_type=RunResult
        ).result()
        assert done.status == "completed"
        assert step.output == done.output and step.cost_usd == done.cost_usd
        children.append(done)
    own = sum(s.cost_usd or 0.0 for s in result.steps if s.kind == "model")
    assert own > 0 and all(c.cost_usd > 0 for c in children)
    assert abs(result.cost_usd - (own + sum(c.cost_usd for c in children))) < 1e-6
    assert result.usage.total_tokens > sum(c.usage.total_tokens for c in children)
    # The approval is the child's: its record shows who decided, the parent's does not.
    assert any(s.kind == "approval_decided" and s.approver == "alice" for s in children[1].steps)
    assert not any(s.kind.startswith("approval") for s in result.steps)

    # In parallel: both children were started before either finished.
    kinds = [e.event_type for e in (await handle.fetch_history()).events]
    started = [
        i
        for i, k in enumerate(kinds)
        if k == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    ]
    completed = [
        i
        for i, k in enumerate(kinds)
        if k == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED
    ]
    assert len(started) == 2 and len(completed) == 2
    assert max(started) < min(completed)


async def test_a_block_rule_on_a_delegate_stops_the_child_from_starting(client: Client) -> None:
    rule = {
        "name": "no_refunds_by_delegation",
        "stage": "tool_call",
        "when": {"tool": "delegate_to_refunder"},
        "action": "block",
    }
    coordinator = delegation_app.coordinator.model_copy(
        update={"guardrails": [Rule.model_validate(rule)]}
    )
    guarded = App(
        agents=[coordinator, delegation_app.researcher, delegation_app.refunder],
        tools=[delegation_app.lookup, delegation_app.refund_order],
    )
    async with new_worker(client, guarded, providers={"scripted": ScriptedProvider()}) as worker:
        handle = await start_run(
            client,
            RunRequest(agent="coordinator", input="Where is order 77, and refund it"),
            task_queue=worker.task_queue,
        )
        result = await handle.result()
    # The rule ends the run (its default on_block): the refunder never started.
    assert result.status == "rejected"
    assert "delegate_to_refunder blocked by policy" in (result.error or "")
    kinds = [e.event_type for e in (await handle.fetch_history()).events]
    assert kinds.count(EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED) == 1


async def test_an_agent_delegating_to_itself_stops_at_the_depth_limit(client: Client) -> None:
    async with new_worker(
        client, delegation_app.hostile_app, providers={"scripted": ScriptedProvider()}
    ) as worker:
        handle = await start_run(
            client, RunRequest(agent="looper", input="go"), task_queue=worker.task_queue
        )
        result = await handle.result()
        depth, run = 0, result
        while True:
            (step,) = [s for s in run.steps if s.tool == "delegate_to_looper"]
            if step.child is None:
                break
            workflow_id, run_id = step.child.split("/")
            run = await client.get_workflow_handle(
                workflow_id, run_id=run_id, result_type=RunResult
            ).result()
            depth += 1
    assert result.status == "completed"
    assert depth == MAX_DEPTH
    # The deepest run was not offered its delegates: the call was refused, not started.
    assert step.kind == "tool_refused" and "not allowed" in (step.detail or "")


async def test_a_turn_starts_at_most_max_per_turn_delegations(client: Client) -> None:
    async with new_worker(
        client, delegation_app.hostile_app, providers={"scripted": ScriptedProvider()}
    ) as worker:
        handle = await start_run(
            client, RunRequest(agent="fanout", input="go"), task_queue=worker.task_queue
        )
        result = await handle.result()
    assert result.status == "completed"
    started = [s for s in result.steps if s.child is not None]
    refused = [s for s in result.steps if s.kind == "tool_refused"]
    assert len(started) == MAX_PER_TURN and len(refused) == 10 - MAX_PER_TURN
    assert result.errors["delegation_refused"] == 10 - MAX_PER_TURN
