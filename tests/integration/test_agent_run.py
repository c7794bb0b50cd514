"""AgentRun on a real Temporal dev server: turns, tools, handoffs, allowlist, limits, failures."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from duragent import Agent, App, ModelRef, RunConfig, RunRequest, RunResult, ToolError, tool
from duragent._names import SA_AGENT, SA_COST, SA_STATUS, SA_TENANT
from duragent.activities.models import ScriptedProvider
from duragent.client import start_run
from tests.conftest import new_worker

SIDE_EFFECTS: list[str] = []


@tool(timeout=5)
def lookup_order(order_id: str) -> dict[str, Any]:
    """Look up an order."""
    return {"order_id": order_id, "status": "shipped"}


@tool(risk="write", timeout=5)
def delete_account(email: str) -> str:
    """Delete an account (never allowed for the agents below)."""
    SIDE_EFFECTS.append(f"deleted {email}")
    return "deleted"


@tool
def flaky(kind: str) -> str:
    """Fails as asked."""
    raise ToolError(f"backend said no to {kind}")


@tool
async def slow(seconds: float) -> str:
    """Sleeps."""
    await asyncio.sleep(seconds)
    return "done"


router = Agent(
    name="router",
    model="scripted/router",
    handoffs=["info"],
    script=[{"when": "order|delete|fail|slow|loop", "handoff": "info"}, {"say": "How can I help?"}],
)
info = Agent(
    name="info",
    model="scripted/info",
    tools=["lookup_order", "flaky", "slow"],
    limits={"max_turns": 6},
    script=[
        {
            "on": "tool",
            "tool": "lookup_order",
            "when": '"loop"',
            "call": {"tool": "lookup_order", "arguments": {"order_id": "loop"}},
        },
        {
            "on": "tool",
            "tool": "lookup_order",
            "when": "shipped",
            "say": "Order {result.order_id} is {result.status}.",
        },
        {"on": "tool", "when": "not allowed", "say": "I cannot do that: {0}"},
        {"on": "tool", "tool": "flaky", "say": "The backend failed: {input}"},
        {"on": "tool", "tool": "slow", "say": "Slow work done."},
        {
            "when": r"order (\d+)",
            "call": {"tool": "lookup_order", "arguments": {"order_id": "{1}"}},
        },
        {
            "when": r"delete (\S+)",
            "call": {"tool": "delete_account", "arguments": {"email": "{1}"}},
        },
        {"when": "fail", "call": {"tool": "flaky", "arguments": {"kind": "x"}}},
        {"when": "bad args", "call": {"tool": "lookup_order", "arguments": {"order": 1}}},
        {"when": "slow", "call": {"tool": "slow", "arguments": {"seconds": 1.5}}},
        {"when": "loop", "call": {"tool": "lookup_order", "arguments": {"order_id": "loop"}}},
    ],
)
fallback = Agent(
    name="fallback",
    model="openai/gpt-5.5",
    fallbacks=["scripted/backup"],
    script=[{"say": "Answered by the backup model."}],
)
APP = App(agents=[router, info, fallback], tools=[lookup_order, delete_account, flaky, slow])
SCRIPTED = {"scripted": ScriptedProvider()}


async def run(
    client: Client, text: str, agent: str = "router", **kwargs: Any
) -> tuple[RunResult, str]:
    async with new_worker(client, APP, providers=SCRIPTED) as worker:
        handle = await start_run(
            client, RunRequest(agent=agent, input=text, **kwargs), task_queue=worker.task_queue
        )
        return await handle.result(), handle.id


async def test_three_turn_run_with_handoff_and_tool(client: Client) -> None:
    result, workflow_id = await run(client, "Where is order 1001?", tenant="acme")
    assert result.status == "completed"
    assert result.output == "Order 1001 is shipped."
    assert result.agent_path == ["router", "info"]
    assert result.turns == 3
    kinds = [(s.kind, s.agent, s.tool) for s in result.steps]
    assert kinds == [
        ("model", "router", None),
        ("handoff", "router", None),
        ("model", "info", None),
        ("tool", "info", "lookup_order"),
        ("model", "info", None),
    ]
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    assert result.cost_usd > 0 and result.cost_complete
    assert set(result.spec_hashes) == {"router", "info"}
    assert result.spec_hashes["info"] == info.spec_hash()
    lat = result.latency
    parts = lat.input_ms + lat.reasoning_ms + lat.output_ms + lat.tool_ms + lat.orchestration_ms
    assert abs(parts - lat.total_ms) < 0.01 and lat.total_ms > 0 and lat.tool_ms > 0
    described = await client.get_workflow_handle(workflow_id).describe()
    attributes = described.typed_search_attributes
    assert attributes.get(SA_STATUS) == "completed"
    assert attributes.get(SA_AGENT) == "info"
    assert attributes.get(SA_TENANT) == "acme"
    assert attributes.get(SA_COST) == result.cost_usd


async def test_activities_carry_summaries_for_the_web_ui(client: Client) -> None:
    _, workflow_id = await run(client, "Where is order 7?")
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    converter = client.data_converter.payload_converter
    summaries = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            summaries.append(converter.from_payload(event.user_metadata.summary, str))
        if (
            event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
            and event.user_metadata.HasField("summary")
        ):
            summaries.append(converter.from_payload(event.user_metadata.summary, str))
    assert "model scripted/router turn 1" in summaries
    assert "model scripted/info turn 2" in summaries
    assert "tool lookup_order" in summaries
    started = history.events[0].workflow_execution_started_event_attributes
    assert started.workflow_type.name == "AgentRun"
    description = await client.get_workflow_handle(workflow_id).describe()
    assert await description.static_summary() == "router: Where is order 7?"


async def test_tool_outside_the_allowlist_is_refused_and_the_model_told(client: Client) -> None:
    SIDE_EFFECTS.clear()
    result, _ = await run(client, "please delete bob@example.com")
    assert result.status == "completed"
    refused = [s for s in result.steps if s.kind == "tool_refused"]
    assert len(refused) == 1 and refused[0].tool == "delete_account"
    assert "not allowed for agent 'info'" in (refused[0].detail or "")
    assert result.output is not None and result.output.startswith("I cannot do that")
    assert SIDE_EFFECTS == []  # the tool never ran
    assert result.errors == {"tool_not_allowed": 1}


async def test_max_turns_ends_the_run_with_budget_exceeded(client: Client) -> None:
    result, _ = await run(client, "loop forever")
    assert result.status == "budget_exceeded"
    assert "max_turns (6)" in (result.error or "")
    assert result.turns == 6


async def test_run_config_max_turns_overrides_spec(client: Client) -> None:
    result, _ = await run(client, "loop forever", run_config=RunConfig(max_turns=3))
    assert result.status == "budget_exceeded" and result.turns == 3


async def test_tool_error_is_told_to_the_model(client: Client) -> None:
    result, _ = await run(client, "make it fail")
    assert result.status == "completed"
    errored = [s for s in result.steps if s.kind == "tool_error"]
    assert errored and "backend said no to x" in (errored[0].output or "")
    assert result.errors == {"tool_error": 1}


async def test_bad_tool_arguments_are_told_to_the_model(client: Client) -> None:
    result, _ = await run(client, "order with bad args", agent="info")
    errored = [s for s in result.steps if s.kind == "tool_error"]
    assert errored and errored[0].detail == "validation_error"
    assert "order_id" in (errored[0].output or "")


async def test_unknown_agent_fails_with_a_clear_error(client: Client) -> None:
    result, workflow_id = await run(client, "hi", agent="nobody")
    assert result.status == "failed"
    assert "unknown agent 'nobody'" in (result.error or "") and "router" in (result.error or "")
    described = await client.get_workflow_handle(workflow_id).describe()
    assert described.typed_search_attributes.get(SA_STATUS) == "failed"


async def test_unserved_provider_fails_over_to_the_fallback_model(client: Client) -> None:
    result, _ = await run(client, "hello", agent="fallback")
    assert result.status == "completed"
    assert result.output == "Answered by the backup model."
    errors = [s for s in result.steps if s.kind == "model_error"]
    assert errors and errors[0].model == "openai/gpt-5.5"
    assert result.errors == {"invalid_request": 1}


async def test_every_model_failing_fails_the_run(client: Client) -> None:
    config = RunConfig(model=ModelRef(provider="anthropic", name="claude-haiku-4-5"))
    result, _ = await run(client, "hello", agent="fallback", run_config=config)
    assert result.status == "failed"
    assert "anthropic/claude-haiku-4-5" in (result.error or "")


async def test_status_query_while_running(client: Client) -> None:
    async with new_worker(client, APP, providers=SCRIPTED) as worker:
        handle = await start_run(
            client, RunRequest(agent="router", input="slow please"), task_queue=worker.task_queue
        )
        from duragent._messages import RunStatusView

        for _ in range(50):
            view = await handle.query("status", result_type=RunStatusView)
            if view.agent == "info" and view.turn == 2:
                break
            await asyncio.sleep(0.05)
        assert view.status == "running" and view.agent == "info" and view.usage.input_tokens > 0
        result = await handle.result()
    assert result.output == "Slow work done." and result.latency.tool_ms >= 1500
