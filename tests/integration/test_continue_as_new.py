"""A long run continues as new without losing anything: turns, steps, usage, spend, agent,
conversation (through the transcript store); budgets keep counting across executions."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from duragent import Agent, App, RunConfig, RunRequest, RunResult, tool
from duragent.activities.models import ScriptedProvider
from duragent.client import start_run
from tests.conftest import new_worker

TURNS = 12


@tool(timeout=5)
def step(n: int) -> str:
    """Counts."""
    return f"step-{n + 1}"


def looper(**limits: object) -> Agent:
    return Agent(
        name="looper",
        model="scripted/looper",
        tools=["step"],
        limits={"max_turns": 50, **limits},
        script=[
            {"on": "tool", "when": rf"^step-{TURNS - 1}$", "say": "finished at {0}"},
            {
                "on": "tool",
                "when": r"^step-(\d+)$",
                "call": {"tool": "step", "arguments": {"n": "{1}"}},
            },
            {"call": {"tool": "step", "arguments": {"n": 0}}},
        ],
    )


async def run(client: Client, agent: Agent, config: RunConfig) -> tuple[RunResult, int]:
    async with new_worker(
        client, App(agents=[agent], tools=[step]), providers={"scripted": ScriptedProvider()}
    ) as worker:
        handle = await start_run(
            client,
            RunRequest(agent="looper", input="count", run_config=config),
            task_queue=worker.task_queue,
        )
        result = await handle.result()
        history = await client.get_workflow_handle(
            handle.id
        ).fetch_history()  # the latest execution
    continued = sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
        and e.workflow_execution_started_event_attributes.continued_execution_run_id
    )
    return result, continued


async def test_nothing_is_lost_across_continue_as_new(client: Client) -> None:
    plain, continued = await run(client, looper(), RunConfig())
    assert continued == 0
    chained, continued = await run(client, looper(), RunConfig(continue_as_new_every=3))
    assert continued == 1  # the latest execution was itself continued from an earlier one
    assert chained.status == plain.status == "completed"
    assert chained.output == plain.output == f"finished at step-{TURNS - 1}"
    assert chained.turns == plain.turns == TURNS
    assert [(s.step_id, s.kind) for s in chained.steps] == [
        (s.step_id, s.kind) for s in plain.steps
    ]
    assert chained.usage == plain.usage and chained.cost_usd == plain.cost_usd
    assert (
        chained.run_id != chained.steps[0].step_id
        and chained.latency.total_ms >= plain.latency.total_ms * 0.5
    )


async def test_budgets_are_not_reset_by_continue_as_new(client: Client) -> None:
    plain, _ = await run(client, looper(), RunConfig())
    budget = plain.usage.total_tokens // 2  # runs out halfway, several executions in
    result, _ = await run(client, looper(max_tokens=budget), RunConfig(continue_as_new_every=2))
    assert result.status == "budget_exceeded" and "max_tokens" in (result.error or "")
    assert result.usage.total_tokens > budget and result.turns < TURNS
