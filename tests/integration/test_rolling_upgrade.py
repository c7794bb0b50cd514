"""Rolling upgrades (issue 13): during a deploy a newer client or worker sends fields this code
does not know; read off the wire they are ignored, so an old worker does not fail the run.
Written in Python, an unknown field is still a typo and fails, naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from duragent import RunRequest, RunResult
from duragent._guardrails import Rule
from duragent._messages import StepRecord
from duragent._spec import AgentSpec
from duragent.activities.models import ScriptedProvider
from tests.conftest import new_worker


def _payload(value: object) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())


def test_a_typo_in_python_names_the_field() -> None:
    with pytest.raises(ValidationError, match="agnet"):
        RunRequest(agent="support", input="hi", agnet="tech")  # type: ignore[call-arg]


def test_fields_from_a_newer_version_are_ignored_on_the_wire() -> None:
    converter = pydantic_data_converter.payload_converter
    request = converter.from_payload(
        _payload(
            {
                "agent": "support",
                "input": "hi",
                "priority": "high",
                "run_config": {"max_turns": 3, "speculative": True},
            }
        ),
        RunRequest,
    )
    assert request == RunRequest(agent="support", input="hi", run_config={"max_turns": 3})
    step = converter.from_payload(
        _payload(
            {
                "step_id": "s1",
                "kind": "model",
                "agent": "a",
                "turn": 1,
                "at": "2026-12-04T00:00:00Z",
                "new_field": [1, 2],
            }
        ),
        StepRecord,
    )
    assert step.step_id == "s1"


async def test_a_newer_clients_request_runs_on_this_worker(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DURAGENT_EXAMPLE_DB", str(tmp_path / "support.db"))
    from duragent.examples.customer_support.app import app

    async with new_worker(client, app, providers={"scripted": ScriptedProvider()}) as worker:
        # What a newer client sends: fields this version has never heard of.
        result = await client.execute_workflow(
            "AgentRun",
            {
                "agent": "support",
                "input": "Where is my order 1001?",
                "priority": "high",
                "run_config": {"max_turns": 8, "speculative": True},
            },
            id=f"run-upgrade-{tmp_path.name}",
            task_queue=worker.task_queue,
            result_type=RunResult,
        )
    assert result.status == "completed", result.error
    assert "1001" in (result.output or "")


def test_a_newer_workers_spec_field_is_ignored_but_a_rule_field_is_not() -> None:
    """Specs travel in history (the resolved specs): an agent field a newer worker added is
    ignored; a guardrail rule field is refused, so an old worker never runs a rule weakened."""
    converter = pydantic_data_converter.payload_converter
    agent = {"name": "a", "model": "openai/gpt-4.1-mini", "new_knob": 3}
    spec = converter.from_payload(_payload(agent), AgentSpec)
    assert spec.name == "a"
    rule = {
        "name": "r",
        "stage": "input",
        "when": {"text": {"contains": "x"}},
        "action": "block",
        "unless_vip": True,
    }
    with pytest.raises(ValidationError, match="unless_vip"):
        converter.from_payload(_payload(rule), Rule)
    with pytest.raises(ValidationError, match="new_knob"):
        AgentSpec.model_validate(agent)  # written by a person (Python, YAML): a typo
