"""Evaluation datasets: cases to run against an agent, read from YAML or JSONL.

A dataset is checked whole when it loads, before any run starts: a bad case fails with one line
naming the file, the case (its id, or its line in JSONL) and the field. Unknown fields are
refused (a typo in ``expectd`` would otherwise score every case against nothing). YAML goes
through duragent's strict loader (a key written twice is refused, ``on``/``no`` stay strings).

**What we took from pydantic-evals, and why.** Its YAML format is the closest thing to a
portable dataset format among the evaluation frameworks, so a pydantic-evals file loads here
unchanged where the meaning carries over, and a team can move a set between the two:

- ``name`` is read as ``id``, ``inputs`` as ``input``, ``expected_output`` as ``expected``;
  ``metadata.category`` and ``metadata.tags`` as ``category`` and ``tags`` (other metadata
  keys are ignored: metadata is free-form there);
- ``evaluators`` as ``scorers``, written as pydantic-evals writes them (``- EqualsExpected``,
  ``- Contains: text``, ``- Contains: {value: ..., case_sensitive: false}``), for the
  evaluators whose meaning is ours: ``EqualsExpected`` and ``Equals`` (exact), ``Contains``,
  ``MaxDuration`` (latency, seconds) and ``LLMJudge`` (judge). The others (``IsInstance``,
  ``HasMatchingSpan``, custom classes) test Python objects or OpenTelemetry spans that a
  durable run does not hand back; they fail to load, naming the evaluator and what to use.

Not taken: pydantic-evals' typed inputs (any Python object) and its evaluators as Python
classes. An agent's input is text or a conversation, and a case is data recorded in workflow
history, so scorers here are data too; user code is a ``python`` scorer registered in the App.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Discriminator, Field, Tag, ValidationError, field_validator, model_validator

from duragent._loader import DuplicateKeyError, describe_yaml_error, load_yaml, read_text
from duragent._wire import Wire
from duragent.errors import SpecError
from duragent.eval._scorer_specs import (
    SCORER_TYPES,
    ContainsScorer,
    ExactScorer,
    JsonScorer,
    ScorerSpec,
    StatusScorer,
)


class DatasetError(SpecError):
    """A dataset is invalid. One line: the file, the case (id, or JSONL line) and the field."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        case: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, file=file, field=field)
        self.case = case
        where = [p for p in (file, case and f"case {case}", field and f"field {field!r}") if p]
        self.args = (f"{': '.join(where)}: {message}" if where else message,)


class Turn(Wire):
    """One message of a case's conversation."""

    role: Literal["user", "assistant"]
    content: str


class CaseLimits(Wire):
    """Bounds on one case's run, over the agent's own."""

    max_turns: int | None = Field(default=None, ge=1)
    max_cost_usd: float | None = Field(default=None, ge=0)


def _input_kind(value: Any) -> str:
    return "text" if isinstance(value, str) else "turns"


CaseInput = Annotated[
    Annotated[str, Tag("text")] | Annotated[list[Turn], Tag("turns")],
    Discriminator(_input_kind),
]
"""A message, or a short conversation ending with the user's turn."""


class Case(Wire):
    """One scenario: an input, what a good run does, and how to tell."""

    id: str = Field(min_length=1)
    input: CaseInput
    expected: Any = None
    category: str = Field(default="uncategorized", min_length=1)
    tags: list[str] = Field(default_factory=list)
    scorers: list[ScorerSpec] = Field(default_factory=list)
    agent: str | None = None
    """Run this case on another agent than the evaluation's."""
    limits: CaseLimits | None = None

    @field_validator("input")
    @classmethod
    def _ends_with_the_user(cls, value: str | list[Turn]) -> str | list[Turn]:
        if isinstance(value, list):
            if not value:
                raise ValueError("a conversation needs at least one turn")
            if value[-1].role != "user":
                raise ValueError("a conversation must end with a user turn (the one to answer)")
        return value

    @model_validator(mode="after")
    def _scorers_have_a_value(self) -> Case:
        _check_values(self.scorers, self.expected, "scorers")
        return self


class Dataset(Wire):
    """Cases to run against an agent, with the scorers of cases that name none."""

    name: str = Field(min_length=1)
    agent: str | None = None
    scorers: list[ScorerSpec] = Field(default_factory=list)
    cases: list[Case] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Dataset:
        seen: set[str] = set()
        for case in self.cases:
            if case.id in seen:
                raise ValueError(f"case id {case.id!r} is used twice; ids must be unique")
            seen.add(case.id)
            if not case.scorers:
                _check_values(self.scorers, case.expected, f"case {case.id!r}: scorers")
        return self


def _check_values(scorers: list[ScorerSpec], expected: Any, where: str) -> None:
    """A scorer comparing with ``expected`` when the case has none would fail every run."""
    for i, spec in enumerate(scorers):
        if spec.type in ("exact", "contains", "numeric") and spec.value is None:
            if expected is None:
                raise ValueError(
                    f"{where}[{i}] ({spec.type}) has no 'value' and the case no 'expected'; "
                    "give one of them"
                )
            if spec.type == "numeric" and not _is_number(expected):
                raise ValueError(
                    f"{where}[{i}] (numeric) has no 'value' and 'expected' is not a number "
                    f"(got {expected!r})"
                )


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def default_scorers(case: Case) -> list[ScorerSpec]:
    """How a case is scored when neither it nor its dataset names scorers: ``status:
    completed`` with no expected result, ``json`` subset for a mapping, ``exact`` for a number
    or a boolean, ``contains`` of its text otherwise. (The dataset's scorers, when it has some,
    are the caller's second choice: ``case.scorers or dataset.scorers or default_scorers(case)``.)
    """
    if case.scorers:
        return list(case.scorers)
    expected = case.expected
    if expected is None:
        return [StatusScorer(status="completed")]
    if isinstance(expected, dict):
        return [JsonScorer(subset=expected)]
    if isinstance(expected, bool | int | float):
        return [ExactScorer()]
    return [ContainsScorer(value=str(expected))]


def load_dataset(path: str | Path) -> Dataset:
    """Load a dataset from YAML (``.yaml``/``.yml``) or JSONL (``.jsonl``).

    Raise ``DatasetError`` (a ``SpecError``) naming the file, the case and the field.
    """
    file = Path(path)
    label = str(path)
    text = read_text(path, what="dataset", error=DatasetError)
    suffix = file.suffix.lower()
    if suffix in (".yaml", ".yml"):
        header, cases = _read_yaml(text, label)
    elif suffix == ".jsonl":
        header, cases = _read_jsonl(text, label)
    else:
        raise DatasetError("a dataset is a .yaml, .yml or .jsonl file", file=label)
    header.setdefault("name", file.stem)
    return _validate(header, cases, label)


# -- reading -----------------------------------------------------------------------------------

Located = tuple[str, Any]
"""A case as read, with how errors name it before its id is known (``#3``, ``line 4``)."""

DATASET_KEYS = ("name", "agent", "scorers", "evaluators", "cases")


def _read_yaml(text: str, label: str) -> tuple[dict[str, Any], list[Located]]:
    try:
        document = load_yaml(text)
    except DuplicateKeyError as exc:
        raise DatasetError(str(exc), file=label) from None
    except yaml.YAMLError as exc:
        raise DatasetError(f"not valid YAML: {describe_yaml_error(exc)}", file=label) from None
    if isinstance(document, list):
        document = {"cases": document}
    if not isinstance(document, dict) or not isinstance(document.get("cases"), list):
        raise DatasetError("expected 'cases:' followed by a list of cases", file=label)
    header = _header(document, label)
    return header, [(f"#{i + 1}", raw) for i, raw in enumerate(document["cases"])]


def _read_jsonl(text: str, label: str) -> tuple[dict[str, Any], list[Located]]:
    header: dict[str, Any] = {}
    cases: list[Located] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"line {number} is not JSON: {exc.msg}", file=label) from None
        if isinstance(raw, dict) and "dataset" in raw:
            if cases or header:
                raise DatasetError(
                    f"line {number}: the {{'dataset': ...}} line must come first", file=label
                )
            if set(raw) != {"dataset"} or not isinstance(raw["dataset"], dict):
                raise DatasetError(
                    f"line {number}: write the dataset's fields as {{'dataset': {{...}}}}",
                    file=label,
                )
            header = _header({**raw["dataset"], "cases": []}, label)
            continue
        cases.append((f"line {number}", raw))
    if not cases:
        raise DatasetError("the dataset has no cases (one JSON object per line)", file=label)
    return header, cases


def _header(document: dict[str, Any], label: str) -> dict[str, Any]:
    unknown = sorted(set(document) - set(DATASET_KEYS))
    if unknown:
        hint = difflib.get_close_matches(str(unknown[0]), DATASET_KEYS, n=1)
        raise DatasetError(
            "unknown field" + (f"; did you mean {hint[0]!r}?" if hint else "")
            + f"; a dataset holds {', '.join(k for k in DATASET_KEYS if k != 'evaluators')}",
            file=label,
            field=str(unknown[0]),
        )  # fmt: skip
    header = {k: v for k, v in document.items() if k != "cases"}
    if "evaluators" in header:
        if "scorers" in header:
            raise DatasetError("give 'scorers' or 'evaluators', not both", file=label)
        header["scorers"] = _evaluators(header.pop("evaluators"), label, None, "evaluators")
    return header


def _validate(header: dict[str, Any], raw_cases: list[Located], label: str) -> Dataset:
    cases: list[Case] = []
    seen: dict[str, str] = {}
    for where, raw in raw_cases:
        case = _case(raw, label, where)
        if case.id in seen:
            raise DatasetError(
                f"case id {case.id!r} is used twice (first at {seen[case.id]}); ids must be unique",
                file=label,
                case=f"{case.id!r} ({where})",
                field="id",
            )
        seen[case.id] = where
        cases.append(case)
    try:
        return Dataset.model_validate({**header, "cases": cases})
    except ValidationError as exc:
        raise _error(exc, file=label, case=None) from None


def _case(raw: Any, label: str, where: str) -> Case:
    if not isinstance(raw, dict):
        raise DatasetError(
            f"a case must be a mapping of fields (id, input, expected, ...), not {type(raw).__name__}",
            file=label,
            case=where,
        )
    named = raw.get("id", raw.get("name"))
    shown = f"{named!r}" if isinstance(named, str) and named else where
    data = _from_pydantic_evals(raw, label, shown)
    try:
        return Case.model_validate(data)
    except ValidationError as exc:
        raise _error(exc, file=label, case=shown) from None


# -- pydantic-evals spelling -------------------------------------------------------------------

ALIASES = {"name": "id", "inputs": "input", "expected_output": "expected", "evaluators": "scorers"}


def _from_pydantic_evals(raw: dict[str, Any], label: str, case: str) -> dict[str, Any]:
    data = dict(raw)
    for theirs, ours in ALIASES.items():
        if theirs in data:
            if ours in data:
                raise DatasetError(
                    f"give {ours!r} or {theirs!r} (pydantic-evals' name for it), not both",
                    file=label,
                    case=case,
                    field=ours,
                )
            value = data.pop(theirs)
            data[ours] = (
                _evaluators(value, label, case, theirs) if theirs == "evaluators" else value
            )
    metadata = data.pop("metadata", None)
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise DatasetError(
                "metadata must be a mapping", file=label, case=case, field="metadata"
            )
        for key in ("category", "tags"):
            if key in metadata and key not in data:
                data[key] = metadata[key]
    return data


def _evaluators(value: Any, label: str, case: str | None, field: str) -> list[Any]:
    """pydantic-evals' evaluator specs as our scorers: ``Name``, ``{Name: arg}`` or
    ``{Name: {kwargs}}``."""
    if not isinstance(value, list):
        raise DatasetError("evaluators must be a list", file=label, case=case, field=field)
    out: list[Any] = []
    for i, entry in enumerate(value):
        where = f"{field}[{i}]"
        if isinstance(entry, dict) and "type" in entry:
            out.append(entry)  # already ours
            continue
        if isinstance(entry, str):
            name, args = entry, None
        elif isinstance(entry, dict) and len(entry) == 1:
            name, args = next(iter(entry.items()))
        else:
            raise DatasetError(
                "an evaluator is written 'Name', {Name: argument} or {Name: {field: value}}",
                file=label,
                case=case,
                field=where,
            )
        try:
            out.append(_evaluator(str(name), args))
        except ValueError as exc:
            raise DatasetError(str(exc), file=label, case=case, field=where) from None
    return out


def _evaluator(name: str, args: Any) -> dict[str, Any]:
    kwargs = args if isinstance(args, dict) else ({} if args is None else {"value": args})
    extra = set(kwargs) - {"value", "case_sensitive", "evaluation_name", "seconds", "rubric"}
    extra -= {"model", "include_input", "include_expected_output", "score", "assertion"}
    if extra:
        raise ValueError(f"{name}: unknown argument(s) {', '.join(sorted(map(repr, extra)))}")
    label = {"label": kwargs["evaluation_name"]} if kwargs.get("evaluation_name") else {}
    if name == "EqualsExpected":
        return {"type": "exact", **label}
    if name == "Equals":
        return {"type": "exact", "value": kwargs.get("value"), **label}
    if name == "Contains":
        return {
            "type": "contains",
            "value": kwargs.get("value"),
            "ignore_case": not kwargs.get("case_sensitive", True),
            **label,
        }
    if name == "MaxDuration":
        seconds = kwargs.get("seconds", kwargs.get("value"))
        if not isinstance(seconds, int | float):
            raise ValueError("MaxDuration takes a number of seconds")
        return {"type": "latency", "max_ms": float(seconds) * 1000, **label}
    if name == "LLMJudge":
        if "model" not in kwargs:
            raise ValueError("LLMJudge needs 'model' here (e.g. openai/gpt-4.1-mini)")
        return {"type": "judge", "rubric": kwargs.get("rubric", kwargs.get("value")), "model": kwargs["model"], **label}  # fmt: skip
    if name == "IsInstance":
        raise ValueError(
            "IsInstance is not supported: an agent answers text; check its shape with "
            "'type: json' (schema) or 'type: regex'"
        )
    raise ValueError(
        f"evaluator {name!r} is not supported; the pydantic-evals evaluators read here are "
        "EqualsExpected, Equals, Contains, MaxDuration and LLMJudge; write duragent scorers "
        "('type: ...') or a 'python' scorer registered in the App for the rest"
    )


# -- errors ------------------------------------------------------------------------------------

FIELDS = sorted(
    {name for model in (Case, Dataset, Turn, CaseLimits) for name in model.model_fields}
    | {"value", "all", "ignore_case", "strip", "pattern", "subset", "schema", "tolerance"}
    | {"relative", "tool", "arguments", "times", "steps", "mode", "status", "max_ms"}
    | {"max_usd", "rubric", "model", "threshold", "include_expected", "options", "label"}
)
"""Every field a dataset may name, for "did you mean" hints."""


def _error(exc: ValidationError, *, file: str, case: str | None) -> DatasetError:
    problems: list[tuple[str, str]] = []
    # A typo (``inputt``) also makes a field missing; the typo is what to fix, so it leads.
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    for error in errors:
        loc = [str(p) for p in error["loc"] if not str(p).startswith("function-")]
        problems.append((_dotted(loc), _message(error, loc)))
    field, message = problems[0]
    if len(problems) > 1:
        message += "; also " + "; ".join(f"{f or 'case'}: {m}" for f, m in problems[1:])
    return DatasetError(message, file=file, case=case, field=field or None)


_UNION_BRANCH = re.compile(r"^(?:str|int|float|bool|none|(?:list|dict)\[.*\])$")


def _dotted(loc: list[str]) -> str:
    out = ""
    for part in loc:
        if (part in ("text", "turns") and out == "input") or _UNION_BRANCH.match(part):
            continue  # a branch of a union (input's tag, ``str``, ``list[str]``), not a field
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _message(error: Any, loc: list[str]) -> str:
    kind = error["type"]
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden" and loc:
        hint = difflib.get_close_matches(loc[-1], FIELDS, n=1)
        return "unknown field" + (f"; did you mean {hint[0]!r}?" if hint else "")
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        got = error["input"].get("type") if isinstance(error["input"], dict) else None
        return f"unknown scorer type {got!r}; known: {', '.join(SCORER_TYPES)}"
    if kind == "union_tag_not_found":
        return "a scorer needs 'type' (exact, contains, regex, json, numeric, ...)"
    if "input" in error and kind not in ("value_error", "assertion_error"):
        shown = repr(error["input"])
        if len(shown) <= 60:
            message += f" (got {shown})"
    return message


__all__ = [
    "Case",
    "CaseInput",
    "CaseLimits",
    "Dataset",
    "DatasetError",
    "ScorerSpec",
    "Turn",
    "default_scorers",
    "load_dataset",
]
