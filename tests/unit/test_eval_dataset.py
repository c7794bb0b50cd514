"""Loading evaluation datasets: YAML, JSONL, pydantic-evals' spelling, and one-line errors that
name the file, the case and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from duragent.errors import SpecError
from duragent.eval import (
    ContainsScorer,
    DatasetError,
    ExactScorer,
    JsonScorer,
    StatusScorer,
    Turn,
    default_scorers,
    load_dataset,
)

GOOD = """
name: support
agent: triage
scorers:
  - type: status
    status: completed
cases:
  - id: refund-policy
    input: How long do refunds take?
    expected: 5 business days
    category: information_retrieval
    tags: [refunds]
    scorers:
      - type: contains
        value: ["5", business days]
      - type: tool_called
        tool: search_kb
        arguments: {query: refunds}
  - id: follow-up
    input:
      - {role: user, content: My order is late}
      - {role: assistant, content: "Which order?"}
      - {role: user, content: "#1234"}
    category: troubleshooting
    limits: {max_turns: 4, max_cost_usd: 0.05}
  - id: must-pause
    input: Refund order 1234 now
    category: approval
    scorers: [{type: status, status: awaiting_approval}]
"""


def write(tmp_path: Path, text: str, name: str = "set.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str, name: str = "set.yaml") -> str:
    path = write(tmp_path, text, name)
    with pytest.raises(SpecError) as caught:
        load_dataset(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


def test_a_yaml_dataset_loads(tmp_path: Path) -> None:
    dataset = load_dataset(write(tmp_path, GOOD))
    assert dataset.name == "support" and dataset.agent == "triage"
    assert [c.id for c in dataset.cases] == ["refund-policy", "follow-up", "must-pause"]
    refund, follow, pause = dataset.cases
    assert refund.category == "information_retrieval" and refund.tags == ["refunds"]
    assert refund.scorers[0] == ContainsScorer(value=["5", "business days"])
    assert follow.input == [
        Turn(role="user", content="My order is late"),
        Turn(role="assistant", content="Which order?"),
        Turn(role="user", content="#1234"),
    ]
    assert follow.limits is not None and follow.limits.max_turns == 4
    assert pause.scorers == [StatusScorer(status="awaiting_approval")]
    # the dataset crosses into the workflow as JSON and comes back the same
    assert type(dataset).model_validate_json(dataset.model_dump_json()) == dataset


def test_a_jsonl_dataset_loads_with_its_header_line(tmp_path: Path) -> None:
    lines = [
        {"dataset": {"name": "math", "scorers": [{"type": "numeric", "tolerance": 0.01}]}},
        {"id": "add", "input": "2+2?", "expected": 4, "category": "arithmetic"},
        {"id": "pi", "input": "pi to 2 places?", "expected": 3.14},
    ]
    path = write(tmp_path, "\n".join(json.dumps(x) for x in lines) + "\n\n", "set.jsonl")
    dataset = load_dataset(path)
    assert dataset.name == "math" and len(dataset.cases) == 2
    assert dataset.scorers[0].type == "numeric"
    # without a header line, the file's stem names the dataset
    bare = write(tmp_path, json.dumps(lines[1]), "plain.jsonl")
    assert load_dataset(bare).name == "plain"


def test_pydantic_evals_spelling_loads(tmp_path: Path) -> None:
    text = """
cases:
  - name: uppercase
    inputs: hello world
    expected_output: HELLO WORLD
    metadata: {category: strings, tags: [easy], difficulty: low}
    evaluators:
      - EqualsExpected
      - Contains: HELLO
      - Contains: {value: world, case_sensitive: false}
      - MaxDuration: 2.5
evaluators:
  - LLMJudge: {rubric: polite, model: openai/gpt-4.1-mini}
"""
    dataset = load_dataset(write(tmp_path, text))
    case = dataset.cases[0]
    assert (case.id, case.input, case.expected) == ("uppercase", "hello world", "HELLO WORLD")
    assert (case.category, case.tags) == ("strings", ["easy"])
    types = [(s.type, getattr(s, "value", None)) for s in case.scorers]
    assert types == [
        ("exact", None),
        ("contains", "HELLO"),
        ("contains", "world"),
        ("latency", None),
    ]
    assert case.scorers[1].ignore_case is False  # type: ignore[union-attr]  # case_sensitive default
    assert case.scorers[2].ignore_case is True  # type: ignore[union-attr]
    assert case.scorers[3].max_ms == 2500  # type: ignore[union-attr]
    assert dataset.scorers[0].type == "judge"


def test_unsupported_pydantic_evals_evaluators_say_what_to_use(tmp_path: Path) -> None:
    text = "cases:\n  - name: a\n    inputs: x\n    evaluators:\n      - IsInstance: str\n"
    message = error_of(tmp_path, text)
    assert "case 'a'" in message and "field 'evaluators[0]'" in message
    assert "IsInstance is not supported" in message and "type: json" in message


@pytest.mark.parametrize(
    ("text", "case", "field", "words"),
    [
        ("cases:\n  - id: a\n    inputt: x\n", "case 'a'", "inputt", "did you mean 'input'"),
        ("cases:\n  - id: a\n", "case 'a'", "input", "required field is missing"),
        ("cases:\n  - input: x\n", "case #1", "id", "required field is missing"),
        (
            "cases:\n  - id: a\n    input: x\n    scorers: [{type: contans}]\n",
            "case 'a'",
            "scorers[0]",
            "unknown scorer type 'contans'",
        ),
        (
            "cases:\n  - id: a\n    input: x\n    scorers: [{type: regex, pattern: '(('}]\n",
            "case 'a'",
            "scorers[0].regex.pattern",
            "not a valid regular expression",
        ),
        (
            "cases:\n  - id: a\n    input: x\n    scorers: [{type: exact}]\n",
            "case 'a'",
            None,
            "no 'value' and the case no 'expected'",
        ),
        (
            "cases:\n  - id: a\n    input: [{role: user, content: hi}, {role: assistant, content: yo}]\n",
            "case 'a'",
            "input",
            "must end with a user turn",
        ),
        (
            "cases:\n  - id: a\n    input: [{role: system, content: hi}]\n",
            "case 'a'",
            "input[0].role",
            "'user' or 'assistant'",
        ),
        (
            "cases:\n  - id: a\n    input: x\n    scorers: [{type: judge, rubric: r, model: gpt}]\n",
            "case 'a'",
            "scorers[0].judge.model",
            "provider/name",
        ),
        (
            "cases:\n  - id: a\n    input: x\n    scorers: [{type: json, schema: {oneOf: []}}]\n",
            "case 'a'",
            "scorers[0].json.schema",
            "'oneOf'",
        ),
    ],
)
def test_a_bad_case_names_file_case_and_field(
    tmp_path: Path, text: str, case: str, field: str | None, words: str
) -> None:
    message = error_of(tmp_path, text)
    assert case in message
    if field:
        assert f"field {field!r}" in message
    assert words in message


def test_jsonl_errors_name_the_line(tmp_path: Path) -> None:
    text = '{"id": "a", "input": "x"}\n{"input": "y", "expectd": 1}\n'
    message = error_of(tmp_path, text, "set.jsonl")
    assert "case line 2" in message and "field 'expectd'" in message
    assert "did you mean 'expected'" in message
    assert "line 2 is not JSON" in error_of(
        tmp_path, '{"id": "a", "input": "x"}\n{oops\n', "b.jsonl"
    )


def test_duplicate_case_ids_are_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, "cases:\n  - {id: a, input: x}\n  - {id: a, input: y}\n")
    assert "'a' (#2)" in message and "used twice (first at #1)" in message
    assert "field 'id'" in message


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, "cases:\n  - id: a\n    input: x\n    input: y\n")
    assert "duplicate key 'input'" in message and "line 4" in message


def test_the_dataset_level_fields_are_checked(tmp_path: Path) -> None:
    assert "field 'scorer'" in error_of(tmp_path, "scorer: []\ncases: [{id: a, input: x}]\n")
    assert "expected 'cases:'" in error_of(tmp_path, "name: x\n")
    assert isinstance(_raised(tmp_path / "missing.yaml"), DatasetError)


def _raised(path: Path) -> Exception:
    with pytest.raises(SpecError) as caught:
        load_dataset(path)
    assert "dataset not found" in str(caught.value)
    return caught.value


def test_default_scorers_follow_the_expected_value(tmp_path: Path) -> None:
    text = """
cases:
  - {id: text, input: x, expected: five days}
  - {id: mapping, input: x, expected: {status: ok}}
  - {id: number, input: x, expected: 42}
  - {id: nothing, input: x}
  - {id: own, input: x, expected: y, scorers: [{type: regex, pattern: y}]}
"""
    cases = load_dataset(write(tmp_path, text)).cases
    assert default_scorers(cases[0]) == [ContainsScorer(value="five days")]
    assert default_scorers(cases[1]) == [JsonScorer(subset={"status": "ok"})]
    assert default_scorers(cases[2]) == [ExactScorer()]
    assert default_scorers(cases[3]) == [StatusScorer(status="completed")]
    assert [s.type for s in default_scorers(cases[4])] == ["regex"]
