"""Runs whose models are the real openai and anthropic clients talking to mock-llm over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client

from duragent import Agent, App, RunRequest, RunResult, tool
from duragent.activities.models import AnthropicProvider, OpenAIProvider, ScriptedProvider
from duragent.activities.models._base import close_providers
from duragent.client import start_run
from duragent.mock_llm import FaultProfile, MockConfig, MockLLM
from tests.conftest import new_worker

RULES = [
    {"on": "tool", "tool": "lookup_order", "say": "Order {result.order_id} is {result.status}."},
    {"on": "user", "when": "order", "handoff": "info"},
]
INFO_RULES = [
    {"on": "tool", "tool": "lookup_order", "say": "Order {result.order_id} is {result.status}."},
    {"when": r"order (\d+)", "call": {"tool": "lookup_order", "arguments": {"order_id": "{1}"}}},
]


@tool(timeout=5)
def lookup_order(order_id: str) -> dict[str, str]:
    """Look up an order by its number."""
    return {"order_id": order_id, "status": "shipped"}


@pytest.fixture
async def router_mock() -> AsyncIterator[MockLLM]:
    async with MockLLM(MockConfig(rules=RULES, latency_ms=30)) as mock:
        yield mock


@pytest.fixture
async def info_mock() -> AsyncIterator[MockLLM]:
    config = MockConfig(rules=INFO_RULES, latency_ms=30, faults=FaultProfile(retry_after_s=0.3))
    async with MockLLM(config) as mock:
        yield mock


def app_for(router_url: str, info_url: str, *, info_params: dict[str, str] | None = None) -> App:
    router = Agent(
        name="router",
        instructions="Route order questions to info.",
        model={"provider": "openai", "name": "gpt-4o-mini", "base_url": router_url},
        handoffs=["info"],
    )
    info = Agent(
        name="info",
        instructions="Answer order questions with lookup_order.",
        model={
            "provider": "anthropic",
            "name": "claude-haiku-4-5",
            "base_url": info_url,
            "params": info_params or {},
        },
        fallbacks=["scripted/backup"],
        tools=["lookup_order"],
        script=INFO_RULES,
    )
    return App(agents=[router, info], tools=[lookup_order])


async def run_with(client: Client, app: App) -> RunResult:
    providers = {
        "openai": OpenAIProvider(api_key="test-key"),
        "anthropic": AnthropicProvider(api_key="test-key"),
        "scripted": ScriptedProvider(),
    }
    try:
        async with new_worker(client, app, providers=providers) as worker:
            handle = await start_run(
                client,
                RunRequest(agent="router", input="Where is order 1001?"),
                task_queue=worker.task_queue,
            )
            return await handle.result()
    finally:
        await close_providers(providers)


async def test_openai_router_hands_off_to_anthropic_specialist(
    client: Client, router_mock: MockLLM, info_mock: MockLLM
) -> None:
    app = app_for(router_mock.openai_base_url, info_mock.anthropic_base_url)
    result = await run_with(client, app)
    assert result.status == "completed", result.error
    assert result.output == "Order 1001 is shipped."
    assert result.agent_path == ["router", "info"]
    models = [s.model for s in result.steps if s.kind == "model"]
    assert models == [
        "openai/gpt-4o-mini",
        "anthropic/claude-haiku-4-5",
        "anthropic/claude-haiku-4-5",
    ]
    # Streaming measured time to first token: three calls, each at least the mock's 30 ms.
    assert result.latency.reasoning_ms >= 90
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    assert result.cost_usd > 0 and result.cost_complete
    assert router_mock.stats()["requests"] == 1
    assert info_mock.stats()["requests"] == 2


async def test_rate_limited_primary_retries_with_retry_after_then_fails_over(
    client: Client, router_mock: MockLLM, info_mock: MockLLM
) -> None:
    app = app_for(
        router_mock.openai_base_url, info_mock.anthropic_base_url, info_params={"mock_fault": "429"}
    )
    result = await run_with(client, app)
    assert result.status == "completed"
    assert result.output == "Order 1001 is shipped."
    errors = [s for s in result.steps if s.kind == "model_error"]
    assert (
        errors
        and errors[0].model == "anthropic/claude-haiku-4-5"
        and "rate_limit" in (errors[0].detail or "")
    )
    assert result.errors["rate_limit"] >= 1
    # Three attempts, two waits of the mock's Retry-After (0.3 s) between them.
    assert info_mock.stats()["requests"] >= 3
    assert result.latency.total_ms >= 600
