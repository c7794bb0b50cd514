"""``judge`` scorers in a real evaluation: the grade comes from a model called through the real
OpenAI SDK client against ``duragent mock-llm``, as a ``model.call`` activity of the evaluation
workflow, its cost kept apart from the agent's; a judge that answers anything but a score fails
the case closed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from duragent import RunResult
from duragent._names import ACTIVITY_MODEL, EVAL_WORKFLOW
from duragent.activities.models import OpenAIProvider, ScriptedProvider
from duragent.activities.models._base import close_providers
from duragent.eval import Case, Dataset, EvalRequest, EvalResult
from duragent.examples.customer_support import db
from duragent.examples.customer_support.app import app as support_app
from duragent.mock_llm import MockConfig, MockLLM
from tests.conftest import new_worker

JUDGE = "openai/gpt-4o-mini"
JUDGE_RULES = [
    # The rubric is the first thing the judge is shown; each case's rubric picks a reply.
    {"when": r"Rubric:\s*be helpful", "say": '{"score": 0.9, "reason": "answers the question"}'},
    {"when": r"Rubric:\s*be thorough", "say": '{"score": 0.4, "reason": "misses the date"}'},
    {"when": r"Rubric:\s*be brief", "say": "Looks good to me!"},
]


@pytest.fixture
async def judge() -> AsyncIterator[MockLLM]:
    async with MockLLM(MockConfig(rules=JUDGE_RULES)) as server:
        yield server


def _case(case_id: str, rubric: str) -> Case:
    return Case.model_validate(
        {
            "id": case_id,
            "input": "Where is my order 1001?",
            "category": "judged",
            "scorers": [{"type": "judge", "rubric": rubric, "model": JUDGE}],
        }
    )


async def test_a_judge_model_grades_through_the_provider_and_its_cost_is_apart(
    client: Client, judge: MockLLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(db.ENV_VAR, str(tmp_path / "support.db"))
    dataset = Dataset(
        name="judged",
        cases=[
            _case("helpful", "be helpful"),
            _case("thorough", "be thorough"),
            _case("brief", "be brief"),
        ],
    )
    providers: dict[str, Any] = {
        "scripted": ScriptedProvider(),
        "openai": OpenAIProvider(api_key="test", base_url=judge.openai_base_url),
    }
    eval_id = f"eval-judge-{uuid.uuid4().hex[:8]}"
    try:
        async with new_worker(client, support_app, providers=providers) as worker:
            handle = await client.start_workflow(
                EVAL_WORKFLOW,
                EvalRequest(dataset=dataset, agent="support", concurrency=3),
                id=eval_id,
                task_queue=worker.task_queue,
                result_type=EvalResult,
            )
            result = await handle.result()
            history = await handle.fetch_history()
    finally:
        await close_providers(providers)

    outcomes = {o.case_id: o for o in result.outcomes}
    assert outcomes["helpful"].verdict == "correct"
    assert "answers the question" in outcomes["helpful"].scores[0].reason
    assert outcomes["thorough"].verdict == "partial" and outcomes["thorough"].score == 0.4
    # A judge reply with no score is not a pass: the case fails closed, saying what came back.
    brief = outcomes["brief"]
    assert brief.verdict == "incorrect"
    assert "no score between 0 and 1" in brief.scores[0].reason
    assert "Looks good to me!" in brief.scores[0].reason

    # One judge request per case, made by the evaluation as a model.call activity.
    assert judge.stats()["requests"] == 3
    judge_calls = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == ACTIVITY_MODEL
    ]
    assert len(judge_calls) == 3

    # The judge's spend is its own: the case's cost is what its run cost, nothing more.
    for outcome in result.outcomes:
        assert outcome.judge_cost_usd > 0
        run = await client.get_workflow_handle(outcome.workflow_id, result_type=RunResult).result()
        assert outcome.cost_usd == run.cost_usd
