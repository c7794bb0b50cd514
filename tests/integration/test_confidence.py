"""Where a final answer's confidence comes from, and that the review policy acts on it:
token log-probabilities (OpenAI), a self-reported score (Anthropic), or a grader model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.client import Client

from duragent import Agent, App, RunRequest, RunResult
from duragent._approvals import ApprovalRequest
from duragent.activities.models import AnthropicProvider, OpenAIProvider, ScriptedProvider
from duragent.activities.models._base import close_providers
from duragent.client import start_run
from duragent.mock_llm import MockConfig, MockLLM
from tests.conftest import new_worker, wait_for_pending

REVIEW = {"confidence_threshold": 0.8, "reviewer_roles": ["lead"]}


@pytest.fixture
async def mock() -> AsyncIterator[MockLLM]:
    rules = [
        {"when": "sure", "say": "Paris is the capital of France.", "confidence": 0.95},
        {"when": "guess", "say": "Probably 42.", "confidence": 0.3},
        {"when": "self", "say": "It ships on Monday.\nConfidence: 0.55"},
    ]
    async with MockLLM(MockConfig(rules=rules)) as server:
        yield server


async def run(
    client: Client, agent: Agent, text: str, *, decide_as: str | None = None
) -> tuple[RunResult, list[ApprovalRequest]]:
    providers: dict[str, Any] = {
        "openai": OpenAIProvider(api_key="test"),
        "anthropic": AnthropicProvider(api_key="test"),
        "scripted": ScriptedProvider(),
    }
    app = App(agents=[agent], approvers={"lee": ["lead"]})
    seen: list[ApprovalRequest] = []
    try:
        async with new_worker(client, app, providers=providers) as worker:
            handle = await start_run(
                client, RunRequest(agent=agent.name, input=text), task_queue=worker.task_queue
            )
            if decide_as:
                seen = await wait_for_pending(handle)
                await handle.execute_update(
                    "decide", {"step_id": seen[0].step_id, "approver": decide_as}
                )
            return await handle.result(), seen
    finally:
        await close_providers(providers)


async def test_logprobs_give_the_confidence_and_a_sure_answer_skips_review(
    client: Client, mock: MockLLM
) -> None:
    agent = Agent(
        name="geo",
        model={"provider": "openai", "name": "gpt-4o-mini", "base_url": mock.openai_base_url},
        review=REVIEW,
    )
    result, _ = await run(client, agent, "are you sure about France?")
    assert result.status == "completed" and result.output == "Paris is the capital of France."
    assert not [s for s in result.steps if s.kind.startswith("review")]


async def test_low_logprob_confidence_waits_for_review(client: Client, mock: MockLLM) -> None:
    agent = Agent(
        name="geo",
        model={"provider": "openai", "name": "gpt-4o-mini", "base_url": mock.openai_base_url},
        review=REVIEW,
    )
    result, seen = await run(client, agent, "just guess", decide_as="lee")
    (request,) = seen
    assert request.confidence_source == "logprobs" and request.confidence == pytest.approx(
        0.3, abs=1e-3
    )
    assert result.status == "completed" and result.output == "Probably 42."


async def test_self_reported_confidence_is_read_and_stripped(client: Client, mock: MockLLM) -> None:
    agent = Agent(
        name="ship",
        model={
            "provider": "anthropic",
            "name": "claude-haiku-4-5",
            "base_url": mock.anthropic_base_url,
        },
        review=REVIEW,
    )
    result, seen = await run(client, agent, "self report please", decide_as="lee")
    (request,) = seen
    assert request.confidence_source == "self_reported" and request.confidence == 0.55
    assert request.output == "It ships on Monday."
    assert result.output == "It ships on Monday."  # the confidence line never reaches the user


async def test_grader_model_rates_an_answer_without_confidence(client: Client) -> None:
    agent = Agent(
        name="graded",
        model="scripted/answerer",
        review={**REVIEW, "grader": "scripted/grader"},
        script=[
            {"when": "Reply with only a number", "say": "0.35"},
            {"say": "The warranty lasts two years."},
        ],
    )
    result, seen = await run(client, agent, "how long is the warranty?", decide_as="lee")
    (request,) = seen
    assert request.confidence_source == "grader" and request.confidence == 0.35
    models = [s.model for s in result.steps if s.kind == "model"]
    assert models == ["scripted/answerer", "scripted/grader"]  # the grading call is on the record
    assert result.output == "The warranty lasts two years."
