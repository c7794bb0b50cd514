"""The ``EvalRun`` workflow (issue 14) on a real dev server: a dataset's cases run as child
``AgentRun``s, scored, with bounded concurrency, repeats, continue-as-new, Python scorers and a
check of the dataset against the workers before any case runs."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from duragent import App, RunResult
from duragent._names import EVAL_WORKFLOW, QUERY_PROGRESS
from duragent.activities.models import OpenAIProvider, ScriptedProvider
from duragent.eval import (
    Case,
    Dataset,
    EvalProgress,
    EvalRequest,
    EvalResult,
    Score,
    load_dataset,
    summarize,
)
from duragent.examples.customer_support import db
from duragent.examples.customer_support.app import app as support_app
from tests.conftest import new_worker

ROOT = Path(__file__).resolve().parents[2]
SUPPORT_SET = ROOT / "examples" / "customer_support" / "eval.yaml"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "support.db"
    monkeypatch.setenv(db.ENV_VAR, str(path))
    return path


def _id(name: str) -> str:
    return f"eval-{name}-{uuid.uuid4().hex[:8]}"


async def _evaluate(
    client: Client, task_queue: str, request: EvalRequest, *, eval_id: str | None = None
) -> tuple[EvalResult, str]:
    eval_id = eval_id or _id(request.dataset.name)
    handle = await client.start_workflow(
        EVAL_WORKFLOW, request, id=eval_id, task_queue=task_queue, result_type=EvalResult
    )
    return await handle.result(), eval_id


async def test_the_support_set_passes_with_bounded_concurrency(
    client: Client, database: Path
) -> None:
    dataset = load_dataset(SUPPORT_SET)
    async with new_worker(
        client, support_app, providers={"scripted": ScriptedProvider()}
    ) as worker:
        eval_id = _id("support")
        handle = await client.start_workflow(
            EVAL_WORKFLOW,
            EvalRequest(dataset=dataset, agent="support", concurrency=4),
            id=eval_id,
            task_queue=worker.task_queue,
            result_type=EvalResult,
        )
        peak = 0
        while (desc := await handle.describe()).status and desc.status.name == "RUNNING":
            progress = await handle.query(QUERY_PROGRESS, result_type=EvalProgress)
            assert progress.total == 60 and progress.running <= 4
            peak = max(peak, progress.running)
            await asyncio.sleep(0.1)
        result = await handle.result()

    assert [o.case_id for o in result.outcomes] == [c.id for c in dataset.cases]
    failed = {o.case_id: [s.reason for s in o.scores if s.verdict != "correct"]
              for o in result.outcomes if o.verdict != "correct"}  # fmt: skip
    assert not failed
    report = summarize(result.outcomes, dataset=result.dataset, agent=result.agent, model=None)
    assert report.overall.accuracy == 1.0 and report.overall.cases == 60
    assert set(report.categories) == {c.category for c in dataset.cases}
    assert peak >= 2, "cases ran one by one"
    # Each outcome is a real child run, kept under the evaluation's id.
    first = result.outcomes[0]
    assert first.workflow_id == f"{eval_id}-{first.case_id}-1"
    child = await client.get_workflow_handle(first.workflow_id, result_type=RunResult).result()
    assert child.output and child.output[:100] == first.output[:100]
    # A case that must pause ends at its pause (on_approval="end"), not in a stuck child.
    must_pause = {c.id for c in dataset.cases for s in c.scorers
                  if getattr(s, "status", "").startswith("awaiting_")}  # fmt: skip
    paused = {o.case_id for o in result.outcomes if o.status.startswith("awaiting_")}
    assert len(must_pause) >= 6 and paused == must_pause


def _tiny(cases: int = 6) -> Dataset:
    return Dataset(
        name="tiny",
        cases=[
            Case(
                id=f"q{i}",
                input="Where is my order 1001?",
                expected="shipped",
                category="orders" if i % 2 else "more",
            )
            for i in range(cases)
        ],
    )


async def test_repeats_continue_as_new_and_keep_every_outcome(
    client: Client, database: Path
) -> None:
    async with new_worker(
        client, support_app, providers={"scripted": ScriptedProvider()}
    ) as worker:
        request = EvalRequest(
            dataset=_tiny(5), agent="support", repeat=2, concurrency=3, continue_as_new_every=4
        )
        result, eval_id = await _evaluate(client, worker.task_queue, request)
        history = await client.get_workflow_handle(eval_id).fetch_history()

    assert [(o.case_id, o.attempt) for o in result.outcomes] == [
        (f"q{i}", a) for i in range(5) for a in (1, 2)
    ]
    assert all(o.verdict == "correct" for o in result.outcomes)
    # Ten attempts, at most four per execution: it continued as new twice, and the last
    # execution ran only what was left, carrying the rest.
    assert history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    ids = {o.workflow_id for o in result.outcomes}
    assert len(ids) == 10
    report = summarize(result.outcomes, dataset="tiny", agent="support", model=None)
    assert report.k == 2 and report.overall.pass_at_k == 1.0 and report.overall.pass_all_k == 1.0
    executions = 0
    async for _wf in client.list_workflows(f'WorkflowId = "{eval_id}"'):
        executions += 1
    assert executions == 3


async def test_a_dataset_the_workers_cannot_run_fails_before_any_case(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    dataset = _tiny(2).model_copy(
        update={
            "cases": [
                _tiny(1).cases[0].model_copy(update={"agent": "nobody"}),
                Case.model_validate(
                    {
                        "id": "scored",
                        "input": "hi",
                        "scorers": [
                            {"type": "python", "name": "tone"},
                            {"type": "judge", "rubric": "polite", "model": "anthropic/claude-x"},
                        ],
                    }
                ),
            ]
        }
    )
    providers = {"scripted": ScriptedProvider(), "openai": OpenAIProvider()}
    async with new_worker(client, support_app, providers=providers) as worker:
        eval_id = _id("bad")
        with pytest.raises(WorkflowFailureError) as failure:
            await _evaluate(
                client, worker.task_queue,
                EvalRequest(dataset=dataset, agent="support", model="openai/gpt-4.1"),
                eval_id=eval_id,
            )  # fmt: skip
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "eval_invalid"
    assert "agent 'nobody' is not in the workers' app" in cause.message
    assert "python scorer 'tone' is not registered" in cause.message
    assert "judge model 'anthropic/claude-x': provider 'anthropic' is not served" in cause.message
    assert "model 'openai/gpt-4.1': OPENAI_API_KEY is not set on the worker" in cause.message
    children = [w async for w in client.list_workflows(f'WorkflowId STARTS_WITH "{eval_id}-"')]
    assert children == []


def _tone(case: Case, result: RunResult) -> Score | bool | float:
    return 0.5 if "order" in (result.output or "").lower() else 0.0


def _broken(case: Case, result: RunResult) -> bool:
    raise RuntimeError("the scorer's own bug")


async def test_python_scorers_run_as_activities_and_a_raising_one_fails_closed(
    client: Client, database: Path
) -> None:
    app = App(
        agents=list(support_app.agents.values()),
        tools=list(support_app.tools.values()),
        approvers=support_app.approvers,
        scorers={"tone": _tone, "broken": _broken},
    )
    dataset = Dataset.model_validate(
        {
            "name": "py",
            "cases": [
                {
                    "id": "toned",
                    "input": "Where is my order 1001?",
                    "scorers": [{"type": "python", "name": "tone", "label": "tone check"}],
                },
                {
                    "id": "broken",
                    "input": "Where is my order 1001?",
                    "scorers": [
                        {"type": "python", "name": "broken"},
                        {"type": "status", "status": "completed"},
                    ],
                },
            ],
        }
    )
    async with new_worker(client, app, providers={"scripted": ScriptedProvider()}) as worker:
        result, _ = await _evaluate(
            client, worker.task_queue, EvalRequest(dataset=dataset, agent="support")
        )
    toned, broken = result.outcomes
    assert toned.verdict == "partial" and toned.scores[0].scorer == "tone check"
    assert toned.scores[0].score == 0.5
    assert broken.verdict != "correct"
    assert broken.scores[0].verdict == "incorrect"
    assert "the scorer raised RuntimeError: the scorer's own bug" in broken.scores[0].reason


async def test_free_text_case_names_make_short_plain_child_ids(client: Client, database: Path) -> None:  # fmt: skip
    names = ['What is "order 1001"?\nAsk twice', "x" * 600, "order-1001"]
    dataset = Dataset(
        name="named",
        cases=[
            Case(id=name, input="Where is my order 1001?", expected="shipped") for name in names
        ],
    )
    async with new_worker(
        client, support_app, providers={"scripted": ScriptedProvider()}
    ) as worker:
        result, eval_id = await _evaluate(client, worker.task_queue, EvalRequest(dataset=dataset, agent="support"))  # fmt: skip
    assert [o.case_id for o in result.outcomes] == names
    assert [o.verdict for o in result.outcomes] == ["correct"] * 3
    ids = [o.workflow_id for o in result.outcomes]
    assert ids[2] == f"{eval_id}-order-1001-1"
    assert ids[0].startswith(f"{eval_id}-What-is-order-1001-Ask-twice-")
    assert all(len(i) < len(eval_id) + 60 and i.isprintable() and '"' not in i for i in ids)
    found = [w.id async for w in client.list_workflows(f'WorkflowId STARTS_WITH "{eval_id}-"')]
    assert sorted(found) == sorted(ids)
