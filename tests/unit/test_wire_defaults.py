"""The defaults of every model that crosses Temporal are part of the wire format.

duragent's data converter writes only the fields a model was given that differ from their
defaults (``duragent.workers._payloads.CompactPayloadConverter``): a recorded run that left a field
at its default reads back whatever default the worker replaying it has. So a default may not
change by accident: this test pins them all (tests/unit/data/wire_defaults.json). To change one on
purpose, keep in mind every run recorded before the change, then regenerate the file:

    DURAGENT_UPDATE_WIRE_DEFAULTS=1 .venv/bin/pytest tests/unit/test_wire_defaults.py
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

GOLDEN = Path(__file__).parent / "data" / "wire_defaults.json"


def _models() -> dict[str, type[BaseModel]]:
    """Every pydantic model defined in a duragent module (the workflow, activity and worker
    packages included: they install under duragent)."""
    found: dict[str, type[BaseModel]] = {}
    for package in ("duragent", "duragent.workflows", "duragent.activities", "duragent.workers"):
        path = importlib.import_module(package).__path__
        for info in pkgutil.walk_packages(path, package + "."):
            if any(part in info.name for part in (".examples", ".mock_llm", ".cli")):
                continue
            for value in vars(importlib.import_module(info.name)).values():
                if (
                    isinstance(value, type)
                    and issubclass(value, BaseModel)
                    and value.__module__ == info.name
                    and not value.__pydantic_generic_metadata__["args"]
                ):
                    found[f"{value.__module__}.{value.__qualname__}"] = value
    return dict(sorted(found.items()))


def _default(field: Any) -> Any:
    if field.default_factory is not None:
        made = field.default_factory()
        return {"factory": json.loads(json.dumps(made, default=repr, sort_keys=True))}
    if field.default is PydanticUndefined:
        return "<required>"
    return json.loads(json.dumps(field.default, default=repr, sort_keys=True))


def _defaults() -> dict[str, dict[str, Any]]:
    return {
        name: {field_name: _default(field) for field_name, field in model.model_fields.items()}
        for name, model in _models().items()
    }


def test_no_default_of_a_model_on_the_wire_changed_unnoticed() -> None:
    current = _defaults()
    if os.environ.get("DURAGENT_UPDATE_WIRE_DEFAULTS"):
        GOLDEN.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    pinned = json.loads(GOLDEN.read_text())
    changed = [
        f"{model}.{field}: {pinned[model][field]!r} -> {value!r}"
        for model, fields in current.items()
        for field, value in fields.items()
        if model in pinned and field in pinned[model] and pinned[model][field] != value
    ]
    assert not changed, (
        "a default of a model recorded in history changed; runs recorded before the change "
        "that left it at its old default will read the new one on replay:\n  "
        + "\n  ".join(changed)
        + "\nKeep the old default (and set the new value where it is meant), or, having "
        "weighed the recorded runs, regenerate: DURAGENT_UPDATE_WIRE_DEFAULTS=1 "
        ".venv/bin/pytest tests/unit/test_wire_defaults.py"
    )
    new = sorted(set(current) - set(pinned)) + sorted(
        f"{model}.{field}"
        for model, fields in current.items()
        if model in pinned
        for field in fields.keys() - pinned[model].keys()
    )
    assert not new, (
        "models or fields not yet pinned (run with DURAGENT_UPDATE_WIRE_DEFAULTS=1 to add them): "
        + ", ".join(new)
    )


def test_every_default_factory_makes_the_same_value_each_time() -> None:
    """A field left at a factory default is not written either: a factory reading the clock or a
    random source would give a replay a different value than the run had."""
    moving = [
        f"{name}.{field_name}"
        for name, model in _models().items()
        for field_name, field in model.model_fields.items()
        if field.default_factory is not None and field.default_factory() != field.default_factory()  # type: ignore[call-arg]
    ]
    assert not moving, f"default factories that differ between calls: {moving}"


def test_the_converter_omits_defaults_of_activity_traffic_and_reads_them_back() -> None:
    """What the pin protects: a default left out of an activity's payload, and the same model
    read back; what users read (a run's input and result, queries) keeps every key."""
    from duragent._messages import Message, RunRequest, ToolCall, ToolCallRequest
    from duragent.workers._payloads import data_converter

    converter = data_converter(Path("/nonexistent")).payload_converter
    call = ToolCallRequest(
        run_id="r", workflow_id="w", step_id="s2", agent="a", call=ToolCall(id="c", name="t")
    )
    [payload] = converter.to_payloads([call])
    written = json.loads(payload.data)
    assert "tenant" not in written and "arguments" not in written["call"]
    assert converter.from_payloads([payload], [ToolCallRequest]) == [call]
    request = RunRequest(agent="support", input="hi")
    [payload] = converter.to_payloads([request])
    assert json.loads(payload.data)["tenant"] is None  # whole: a client reading JSON finds it
    assert converter.from_payloads([payload], [RunRequest]) == [request]
    message = Message(role="tool", content="", tool_call_id="c1")
    [payload] = converter.to_payloads([message])
    assert converter.from_payloads([payload], [Message]) == [message]


def test_a_scorer_left_at_its_type_default_still_says_its_type() -> None:
    """The scorer union is chosen by ``type``: dropped as a default, a case sent to a Python
    scorer (``eval.score_python``) could not be read back."""
    from duragent._messages import LatencyBreakdown, RunResult, Usage
    from duragent.eval import load_dataset
    from duragent.eval._requests import PythonScoreRequest
    from duragent.workers._payloads import data_converter

    converter = data_converter(Path("/nonexistent")).payload_converter
    dataset = load_dataset(
        Path(__file__).parents[2] / "examples" / "customer_support" / "eval.yaml"
    )
    case = next(case for case in dataset.cases if case.scorers)
    result = RunResult(
        run_id="r", workflow_id="w", status="completed", agent="support", agent_path=["support"],
        turns=1, steps=[], usage=Usage(), cost_usd=0.0, latency=LatencyBreakdown(),
    )  # fmt: skip
    request = PythonScoreRequest(name="mine", case=case, result=result)
    [payload] = converter.to_payloads([request])
    written = json.loads(payload.data)["case"]["scorers"]
    assert written and all("type" in scorer for scorer in written)
    assert converter.from_payloads([payload], [PythonScoreRequest]) == [request]
