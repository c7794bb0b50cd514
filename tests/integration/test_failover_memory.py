"""Failover that remembers: a run skips a model that failed over for its cooling period, and a
worker's circuit opens at the first refused key. Real openai SDK clients against two mock-llm
servers over HTTP (one per model, so each server's request count is that model's), on the real
dev server.

The agent calls a tool twice and then answers: three turns, three model calls.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from duragent import Agent, App, RunConfig, RunRequest, RunResult, tool
from duragent.activities.models import ModelProvider, OpenAIProvider
from duragent.activities.models._base import close_providers
from duragent.client import start_run
from duragent.mock_llm import FaultProfile, MockConfig, MockLLM
from duragent.settings import Settings
from tests.conftest import new_worker
from tests.integration.test_replay import replayer

PRIMARY = "openai/gpt-primary"
FALLBACK = "openai/gpt-fallback"
RULES = [
    {"on": "tool", "when": "step 1 done", "call": {"tool": "step", "arguments": {"n": 2}}},
    {"on": "tool", "when": "step 2 done", "say": "all done"},
    {"on": "user", "call": {"tool": "step", "arguments": {"n": 1}}},
]
PAUSE_S: dict[int, float] = {}
"""Seconds ``step`` sleeps before answering, by step number (a test sets it)."""
ON_STEP: dict[int, Callable[[], None]] = {}
"""What ``step`` does first, by step number (a test sets it)."""
NO_TRIP = Settings(circuit_failures=1000)
"""A worker whose circuit never opens: what the run remembers, alone."""


@tool(risk="read", timeout=20)
def step(n: int) -> str:
    """One step of the job."""
    if n in ON_STEP:
        ON_STEP[n]()
    time.sleep(PAUSE_S.get(n, 0.0))
    return f"step {n} done"


@pytest.fixture(autouse=True)
def _reset_hooks() -> None:
    PAUSE_S.clear()
    ON_STEP.clear()


@pytest.fixture
async def fallback_mock() -> AsyncIterator[MockLLM]:
    async with MockLLM(MockConfig(rules=RULES)) as mock:
        yield mock


@pytest.fixture
async def down_mock() -> AsyncIterator[MockLLM]:
    """Every request answered 500."""
    async with MockLLM(MockConfig(rules=RULES, faults=FaultProfile(server_error=1.0))) as mock:
        yield mock


def agent(primary: MockLLM, fallback: MockLLM, *, fault: str | None = None, **fields: Any) -> Agent:
    return Agent(
        name="worker",
        model={
            "provider": "openai",
            "name": "gpt-primary",
            "base_url": primary.openai_base_url,
            "params": {"mock_fault": fault} if fault else {},
        },
        fallbacks=[
            {"provider": "openai", "name": "gpt-fallback", "base_url": fallback.openai_base_url}
        ],
        tools=["step"],
        **fields,
    )


@asynccontextmanager
async def serving(client: Client, spec: Agent, settings: Settings) -> AsyncIterator[str]:
    providers: dict[str, ModelProvider] = {"openai": OpenAIProvider(api_key="test")}
    try:
        app = App(agents=[spec], tools=[step])
        async with new_worker(client, app, settings=settings, providers=providers) as worker:
            yield worker.task_queue
    finally:
        await close_providers(providers)


async def run(client: Client, queue: str, config: RunConfig | None = None) -> RunResult:
    request = RunRequest(agent="worker", input="do the job", run_config=config or RunConfig())
    handle = await start_run(client, request, task_queue=queue)
    return await handle.result()


def trail(result: RunResult) -> list[tuple[int, str, str]]:
    """(turn, kind, model) of every model step: who answered each turn, who failed."""
    return [
        (s.turn, s.kind, s.model or "")
        for s in result.steps
        if s.kind in ("model", "model_error", "degraded")
    ]


def requests(mock: MockLLM) -> int:
    return int(mock.stats()["requests"])


async def model_summaries(client: Client, result: RunResult) -> list[str]:
    """The Web UI's line for every model call of the run (the activities' summaries)."""
    history = await client.get_workflow_handle(result.workflow_id).fetch_history()
    convert = client.data_converter.payload_converter
    return [
        convert.from_payload(e.user_metadata.summary, str)
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "model.call"
    ]


async def assert_replays(client: Client, result: RunResult) -> None:
    """The run's history replays: what it skipped, it skips again from the same clock."""
    history = await client.get_workflow_handle(result.workflow_id).fetch_history()
    for strict in (False, True):
        replay = await replayer(strict=strict).replay_workflow(
            history, raise_on_replay_failure=False
        )
        assert replay.replay_failure is None, replay.replay_failure


async def test_a_dead_primary_costs_three_attempts_per_run_not_per_turn(
    client: Client, down_mock: MockLLM, fallback_mock: MockLLM
) -> None:
    async with serving(client, agent(down_mock, fallback_mock), NO_TRIP) as queue:
        result = await run(client, queue)

    assert result.status == "completed" and result.output == "all done"
    # Turn 1 paid the primary's three attempts; turns 2 and 3 went straight to the fallback.
    assert requests(down_mock) == 3
    assert requests(fallback_mock) == 3
    assert trail(result) == [
        (1, "model_error", PRIMARY),
        (1, "model", FALLBACK),
        (2, "model", FALLBACK),
        (3, "model", FALLBACK),
    ]
    assert result.errors == {"server_error": 3}
    [failed] = [s for s in result.steps if s.kind == "model_error"]
    assert ": server_error: " in (failed.detail or "")
    assert "this run asks it last until" in (failed.detail or "")
    assert await model_summaries(client, result) == [
        f"model {PRIMARY} turn 1",
        f"model {FALLBACK} turn 1 (fallback 1)",
        f"model {FALLBACK} turn 2 (fallback 1; {PRIMARY} cooling)",
        f"model {FALLBACK} turn 3 (fallback 1; {PRIMARY} cooling)",
    ]
    await assert_replays(client, result)


async def test_the_memory_survives_continue_as_new(
    client: Client, down_mock: MockLLM, fallback_mock: MockLLM
) -> None:
    async with serving(client, agent(down_mock, fallback_mock), NO_TRIP) as queue:
        request = RunRequest(
            agent="worker", input="do the job", run_config=RunConfig(continue_as_new_every=1)
        )
        handle = await start_run(client, request, task_queue=queue)
        result = await handle.result()
    first = client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
    events = (await first.fetch_history()).events
    assert events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW

    assert result.status == "completed" and result.output == "all done"
    assert requests(down_mock) == 3
    assert [model for _, kind, model in trail(result) if kind == "model"] == [FALLBACK] * 3


async def test_after_the_cooling_period_the_primary_is_tried_again(
    client: Client, down_mock: MockLLM, fallback_mock: MockLLM
) -> None:
    cooldown_s = 3.0
    PAUSE_S[2] = cooldown_s + 1.5  # turn 3 starts after the period ends
    spec = agent(down_mock, fallback_mock, retry={"cooldown_s": cooldown_s})
    async with serving(client, spec, NO_TRIP) as queue:
        result = await run(client, queue)

    assert result.status == "completed" and result.output == "all done"
    assert requests(down_mock) == 6  # turn 1 and turn 3, three attempts each
    assert trail(result) == [
        (1, "model_error", PRIMARY),
        (1, "model", FALLBACK),
        (2, "model", FALLBACK),
        (3, "model_error", PRIMARY),
        (3, "model", FALLBACK),
    ]
    assert result.errors == {"server_error": 6}
    await assert_replays(client, result)


async def test_a_refused_key_costs_one_request_per_worker(
    client: Client, fallback_mock: MockLLM
) -> None:
    """401: the circuit opens at the first refusal (default worker settings: 5 failures), so
    neither the run's later turns nor a second run on the worker send the primary anything."""
    async with MockLLM(MockConfig(rules=RULES)) as locked:
        spec = agent(locked, fallback_mock, fault="401")
        async with serving(client, spec, Settings()) as queue:
            first = await run(client, queue)
            second = await run(client, queue)
        assert requests(locked) == 1

    assert requests(fallback_mock) == 6
    for result in (first, second):
        assert result.status == "completed" and result.output == "all done"
        assert trail(result) == [
            (1, "model_error", PRIMARY),
            (1, "model", FALLBACK),
            (2, "model", FALLBACK),
            (3, "model", FALLBACK),
        ]
    # Not retried, then skipped by the run: one error, not one per turn.
    assert first.errors == {"auth": 1}
    [refusal] = [s for s in first.steps if s.kind == "model_error"]
    assert ": auth: " in (refusal.detail or "") and "OPENAI_API_KEY" in (refusal.detail or "")
    # The second run met the open circuit: no request, and the step says why.
    assert second.errors == {"circuit_open": 1}
    [fast] = [s for s in second.steps if s.kind == "model_error"]
    assert "refused this worker's key" in (fast.detail or "")


async def test_every_model_failing_degrades_once_with_no_extra_attempts(
    client: Client, down_mock: MockLLM
) -> None:
    async with MockLLM(MockConfig(rules=RULES, faults=FaultProfile(server_error=1.0))) as also:
        spec = agent(down_mock, also, degraded={"answer": "Sorry, try again later."})
        async with serving(client, spec, NO_TRIP) as queue:
            result = await run(client, queue)
        assert requests(also) == 3

    assert result.status == "completed" and result.degraded
    assert result.output == "Sorry, try again later."
    assert requests(down_mock) == 3
    assert trail(result) == [
        (1, "model_error", PRIMARY),
        (1, "model_error", FALLBACK),
        (1, "degraded", ""),
    ]
    assert result.errors == {"server_error": 6}


async def test_a_cooling_model_is_asked_last_when_the_fallback_dies_too(
    client: Client, down_mock: MockLLM
) -> None:
    """Skipped is not removed: when the fallback goes down mid-run, the turn asks the cooling
    primary last, then degrades; the run ends, with every attempt counted."""
    fallback = MockLLM(MockConfig(rules=RULES)).start()
    ON_STEP[1] = fallback.stop  # the fallback's server goes away after turn 1
    spec = agent(down_mock, fallback, degraded={"answer": "Sorry, try again later."})
    try:
        async with serving(client, spec, NO_TRIP) as queue:
            result = await run(client, queue)
    finally:
        fallback.stop()

    assert result.status == "completed" and result.degraded
    assert requests(down_mock) == 6  # turn 1, and turn 2 as the last resort
    assert requests(fallback) == 1
    assert trail(result) == [
        (1, "model_error", PRIMARY),
        (1, "model", FALLBACK),
        (2, "model_error", FALLBACK),
        (2, "model_error", PRIMARY),
        (2, "degraded", ""),
    ]
    assert result.errors == {"server_error": 6, "connection": 3}
    assert (await model_summaries(client, result))[2:] == [
        f"model {FALLBACK} turn 2 (fallback 1; {PRIMARY} cooling)",
        f"model {PRIMARY} turn 2 (cooling, asked last)",
    ]
    await assert_replays(client, result)
