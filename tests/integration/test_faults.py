"""Failover under injected faults: the real openai and anthropic SDK clients against mock-llm over
HTTP, on the real dev server.

The primary model is ``openai/gpt-4o-mini`` on one mock, the fallback ``anthropic/claude-haiku-
4-5`` on another; which one answered a run is read from its model steps.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.client import Client

from duragent import Agent, App, ModelRequest, ModelResponse, ProviderError, RunRequest, RunResult
from duragent.activities.models import AnthropicProvider, ModelProvider, OpenAIProvider
from duragent.activities.models._base import close_providers
from duragent.client import start_run
from duragent.mock_llm import FaultProfile, MockConfig, MockLLM
from duragent.settings import Settings
from tests.conftest import new_worker

PRIMARY = "openai/gpt-4o-mini"
FALLBACK = "anthropic/claude-haiku-4-5"
FAULT_KINDS = ("rate_limit", "server_error")


class Recording:
    """Wraps a provider: when each call started, and the kinds of the errors it raised."""

    def __init__(self, inner: OpenAIProvider) -> None:
        self.inner = inner
        self.started: list[float] = []
        self.errors: Counter[str] = Counter()

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.started.append(time.monotonic())
        try:
            return await self.inner.complete(request)
        except ProviderError as error:
            self.errors[error.kind] += 1
            raise

    async def aclose(self) -> None:
        await self.inner.aclose()


def agent(primary: MockLLM, fallback: MockLLM, **fields: Any) -> Agent:
    return Agent(
        name="support",
        instructions="Answer briefly.",
        model={"provider": "openai", "name": "gpt-4o-mini", "base_url": primary.openai_base_url},
        fallbacks=[
            {
                "provider": "anthropic",
                "name": "claude-haiku-4-5",
                "base_url": fallback.anthropic_base_url,
            }
        ],
        **fields,
    )


@asynccontextmanager
async def serving(
    client: Client, app_agent: Agent, settings: Settings | None = None
) -> AsyncIterator[tuple[str, Recording]]:
    """A worker with real SDK providers; yields its task queue and the recorded primary."""
    primary = Recording(OpenAIProvider(api_key="test"))
    providers: dict[str, ModelProvider] = {
        "openai": primary,
        "anthropic": AnthropicProvider(api_key="test"),
    }
    try:
        async with new_worker(
            client, App(agents=[app_agent]), settings=settings, providers=providers
        ) as worker:
            yield worker.task_queue, primary
    finally:
        await close_providers(providers)


async def run(client: Client, task_queue: str, text: str = "Where is my order?") -> RunResult:
    handle = await start_run(client, RunRequest(agent="support", input=text), task_queue=task_queue)
    return await handle.result()


def answered_by(result: RunResult) -> list[str]:
    return [s.model or "" for s in result.steps if s.kind == "model"]


@pytest.fixture
async def fallback_mock() -> AsyncIterator[MockLLM]:
    async with MockLLM(MockConfig()) as mock:
        yield mock


@pytest.fixture
async def down_mock() -> AsyncIterator[MockLLM]:
    """Every request answered 500."""
    async with MockLLM(MockConfig(faults=FaultProfile(server_error=1.0))) as mock:
        yield mock


@pytest.mark.parametrize("attempts", [3, 1])
async def test_every_run_completes_and_every_injected_fault_is_accounted_for(
    client: Client, fallback_mock: MockLLM, attempts: int
) -> None:
    """30% faults on the primary, 20 concurrent runs: every run completes, and the runs'
    ``RunResult.errors``, which count every failed attempt (those a retry recovered from too),
    add up to exactly what the mock injected, by type."""
    faults = FaultProfile(rate_limit=0.1, server_error=0.2, retry_after_s=0.05, seed=3)
    async with MockLLM(MockConfig(faults=faults)) as primary_mock:
        spec = agent(primary_mock, fallback_mock, retry={"max_attempts": attempts})
        # A breaker tripping on a chance run of failures would add circuit_open errors that
        # depend on timing; the circuit has tests of its own below.
        settings = Settings(circuit_failures=1000)
        async with serving(client, spec, settings) as (queue, primary):
            results = await asyncio.gather(
                *(run(client, queue, f"Where is order {i}?") for i in range(20))
            )
        stats = primary_mock.stats()

    assert [r.status for r in results] == ["completed"] * 20, [r.error for r in results]
    injected = Counter(stats["faults"])
    assert set(injected) <= set(FAULT_KINDS)
    assert injected["rate_limit"] >= 2 and injected["server_error"] >= 2, injected
    # The real SDKs' 429s and 500s reached the worker classified as what the mock injected.
    assert primary.errors == injected
    reported = Counter[str]()
    for result in results:
        reported.update(result.errors)
    by_primary = [r for r in results if answered_by(r) == [PRIMARY]]
    by_fallback = [r for r in results if answered_by(r) == [FALLBACK]]
    assert len(by_primary) + len(by_fallback) == 20
    assert reported == injected
    # A run that failed over has one model_error step naming the primary and its last error.
    for result in by_fallback:
        [step] = [s for s in result.steps if s.kind == "model_error"]
        assert step.model == PRIMARY
        assert any(f": {kind}: " in (step.detail or "") for kind in FAULT_KINDS), step.detail
    # Every primary request either failed with an injected fault or answered a run.
    assert stats["requests"] == injected.total() + len(by_primary)
    assert fallback_mock.stats()["requests"] == len(by_fallback)
    if attempts == 3:
        assert len(by_primary) >= 15  # ~30% faults, three tries: the primary answers most
        assert any(r.errors for r in by_primary), "some runs recovered by retrying: counted too"


async def test_primary_down_opens_the_circuit_and_later_runs_fail_over_at_once(
    client: Client, down_mock: MockLLM, fallback_mock: MockLLM
) -> None:
    cooldown_s = 2.0
    settings = Settings(circuit_failures=3, circuit_cooldown_s=cooldown_s)
    async with serving(client, agent(down_mock, fallback_mock), settings) as (queue, _):
        first = await run(client, queue)
        opened = time.monotonic()
        # Three attempts, three 500s: the third opened the circuit; the fallback answered.
        assert first.status == "completed" and answered_by(first) == [FALLBACK]
        assert first.errors == {"server_error": 3}  # every attempt counted
        assert down_mock.stats()["requests"] == 3

        async def timed() -> tuple[RunResult, float]:
            started = time.monotonic()
            result = await run(client, queue)
            return result, time.monotonic() - started

        later = await asyncio.gather(*(timed() for _ in range(5)))
        assert time.monotonic() - opened < cooldown_s, "too slow to test within the cool-down"
        # While open, the primary's mock heard nothing more.
        assert down_mock.stats()["requests"] == 3
        for result, seconds in later:
            assert result.status == "completed" and answered_by(result) == [FALLBACK]
            assert result.errors == {"circuit_open": 1}
            [step] = [s for s in result.steps if s.kind == "model_error"]
            assert step.model == PRIMARY
            assert "circuit_open" in (step.detail or "") and "half-opens in" in (step.detail or "")
            assert seconds < 1.0 and result.latency.total_ms < 1000

        # After the cool-down exactly one trial request reaches the primary; it fails, the
        # circuit re-opens, the retry fails fast and the fallback answers.
        await asyncio.sleep(cooldown_s - (time.monotonic() - opened) + 0.1)
        trial = await run(client, queue)
        assert trial.status == "completed" and answered_by(trial) == [FALLBACK]
        assert trial.errors == {"server_error": 1, "circuit_open": 1}  # the trial, then fast
        assert down_mock.stats()["requests"] == 4
    assert fallback_mock.stats()["requests"] == 7


# Two attempts per model instead of three: the same outcome, a second sooner per model.
TWO_ATTEMPTS = {"max_attempts": 2}


async def test_all_models_down_fails_the_run_with_errors_by_type(client: Client) -> None:
    down = MockConfig(faults=FaultProfile(server_error=1.0))
    async with MockLLM(down) as primary_mock, MockLLM(down) as fallback_mock:
        spec = agent(primary_mock, fallback_mock, retry=TWO_ATTEMPTS)
        async with serving(client, spec) as (queue, _):
            result = await run(client, queue)
        assert primary_mock.stats()["requests"] == 2
        assert fallback_mock.stats()["requests"] == 2
    assert result.status == "failed"
    assert result.output is None
    assert result.errors == {"server_error": 4}  # two attempts on each model, all counted
    assert [s.model for s in result.steps if s.kind == "model_error"] == [PRIMARY, FALLBACK]
    assert result.error and FALLBACK in result.error and "server_error" in result.error


async def test_all_models_down_answers_the_declared_degraded_outcome(client: Client) -> None:
    down = MockConfig(faults=FaultProfile(server_error=1.0))
    answer = "We are having trouble right now; a person will get back to you."
    async with MockLLM(down) as primary_mock, MockLLM(down) as fallback_mock:
        try:
            spec = agent(
                primary_mock, fallback_mock, retry=TWO_ATTEMPTS, degraded={"answer": answer}
            )
        except (TypeError, ValidationError):
            pytest.skip("degraded outcome not built yet")
        async with serving(client, spec) as (queue, _):
            result = await run(client, queue)
    assert result.status == "completed", result.error
    assert result.output == answer
    assert result.errors == {"server_error": 4}


async def test_rate_limit_retry_waits_for_retry_after(
    client: Client, fallback_mock: MockLLM
) -> None:
    # Every request to the primary is a 429 asking for 1.5 s. The dev server as the tests start
    # it fires short retry timers up to 1 s late (history.timerProcessorMaxTimeShift), so the
    # policy's 100 ms backoff becomes ~1 s there: a shorter Retry-After could not tell honouring
    # it from ignoring it.
    config = MockConfig(faults=FaultProfile(rate_limit=1.0, retry_after_s=1.5))
    async with MockLLM(config) as primary_mock:
        spec = agent(primary_mock, fallback_mock, retry={"max_attempts": 2})
        async with serving(client, spec) as (queue, primary):
            started = time.monotonic()
            result = await run(client, queue)
            wall = time.monotonic() - started
        assert primary_mock.stats()["faults"] == {"rate_limit": 2}
    assert result.status == "completed" and answered_by(result) == [FALLBACK]
    assert result.errors == {"rate_limit": 2}
    [first, second] = primary.started
    assert second - first >= 1.5
    assert wall >= 1.5 and result.latency.total_ms >= 1500
