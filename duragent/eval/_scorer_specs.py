"""What a dataset writes to score a case: one frozen model per scorer ``type``.

They are data, recorded in the evaluation's history (the workflow's input holds the dataset),
so they only grow: add fields with defaults, never rename. What a user writes is checked here,
when the dataset loads, not when the case is scored: a regex that does not compile, a JSON
schema using a keyword we cannot check, a judge model not written ``provider/name`` all fail
before any run starts (and before any money is spent).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)

from duragent._messages import RunStatus
from duragent._spec import ModelRef
from duragent._wire import Wire

SCHEMA_KEYWORDS = frozenset(
    {
        "$schema", "title", "description", "type", "properties", "required",
        "additionalProperties", "items", "enum", "const", "minimum", "maximum", "minLength",
        "maxLength", "pattern", "anyOf", "minItems", "maxItems",
    }
)  # fmt: skip
"""The JSON Schema keywords ``json`` scorers check (``_jsonschema``). A schema using another is
refused at load: a keyword we silently skipped would pass answers it should fail."""


class _Spec(Wire):
    label: str | None = None
    """Name of this scorer in reports; defaults to its type (or, for ``python``, its name)."""

    @model_serializer(mode="wrap")
    def _with_type(self, handler: SerializerFunctionWrapHandler) -> Any:
        """``type`` always written: it chooses the class when read back, and duragent's data
        converter leaves fields at their defaults out (workers._payloads)."""
        data = handler(self)
        if isinstance(data, dict) and "type" not in data and hasattr(self, "type"):
            data = {"type": self.type, **data}
        return data

    @property
    def shown(self) -> str:
        """The name reports give this scorer's score."""
        return self.label or str(getattr(self, "type", "scorer"))


class ExactScorer(_Spec):
    """The answer equals ``value`` (default: the case's ``expected``). A non-string value is
    compared with the answer parsed as JSON, so ``expected: 42`` matches ``42`` and ``42.0``."""

    type: Literal["exact"] = "exact"
    value: Any = None
    ignore_case: bool = False
    strip: bool = True


class ContainsScorer(_Spec):
    """The answer contains ``value`` (default: ``str(expected)``), or all (``all: true``) or any
    of a list. Some but not all of a list found is partial, scored by the share found."""

    type: Literal["contains"] = "contains"
    value: str | list[str] | None = None
    all: bool = True
    ignore_case: bool = True


class RegexScorer(_Spec):
    """The answer matches ``pattern`` somewhere (``re.search``)."""

    type: Literal["regex"] = "regex"
    pattern: str
    ignore_case: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        _compile(pattern)
        return pattern


class JsonScorer(_Spec):
    """The answer (or the first JSON object in it) parses as JSON, holds ``subset`` (every key,
    at any depth, with an equal value) and is valid against ``schema``."""

    model_config = ConfigDict(populate_by_name=True)

    type: Literal["json"] = "json"
    subset: dict[str, Any] | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    # ``schema`` would shadow BaseModel.schema(); written ``schema`` in datasets all the same.

    @field_validator("schema_")
    @classmethod
    def _known_keywords(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is not None:
            _check_schema(schema)
        return schema


class NumericScorer(_Spec):
    """The first number in the answer (or the first group of ``pattern``) is ``value`` (default:
    ``expected``) within ``tolerance`` (a fraction of ``value`` when ``relative``). Within twice
    the tolerance is partial."""

    type: Literal["numeric"] = "numeric"
    value: float | None = None
    tolerance: float = Field(default=0.0, ge=0)
    relative: bool = False
    pattern: str | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            _compile(pattern)
        return pattern


class ToolCalledScorer(_Spec):
    """The run called ``tool`` (``times`` times exactly, when given), at least once with
    ``arguments`` as a subset of its arguments."""

    type: Literal["tool_called"] = "tool_called"
    tool: str
    arguments: dict[str, Any] | None = None
    times: int | None = Field(default=None, ge=0)


class ToolNotCalledScorer(_Spec):
    """The run never ran ``tool`` (a call refused by governance did not run)."""

    type: Literal["tool_not_called"] = "tool_not_called"
    tool: str


class HandedOffToScorer(_Spec):
    """The run handed off to ``agent`` at some point."""

    type: Literal["handed_off_to"] = "handed_off_to"
    agent: str


TrajectoryMode = Literal["ordered", "unordered", "subset", "exact"]


class TrajectoryScorer(_Spec):
    """The run's tool calls and handoffs, as names: a tool's name, ``handoff:<agent>``,
    ``delegate:<agent>``. Modes:

    - ``exact``: the trajectory is ``steps``, nothing more;
    - ``ordered``: ``steps`` happen in this order, other steps may come between;
    - ``unordered``: the same steps as ``steps``, in any order, nothing more or less;
    - ``subset``: every one of ``steps`` happens, in any order, other steps allowed.
    """

    type: Literal["trajectory"] = "trajectory"
    steps: list[str] = Field(min_length=1)
    mode: TrajectoryMode = "ordered"


class StatusScorer(_Spec):
    """The run ended with ``status``: ``awaiting_approval`` for a case that must pause for a
    person, ``rejected`` for one that must be refused, ``completed`` for an answer."""

    type: Literal["status"] = "status"
    status: RunStatus


class LatencyScorer(_Spec):
    """The run took at most ``max_ms`` in all (up to twice that is partial)."""

    type: Literal["latency"] = "latency"
    max_ms: float = Field(gt=0)


class CostScorer(_Spec):
    """The run cost at most ``max_usd`` (up to twice that is partial)."""

    type: Literal["cost"] = "cost"
    max_usd: float = Field(ge=0)


class JudgeScorer(_Spec):
    """A model grades the answer against ``rubric``, 0 to 1: at least ``threshold`` is correct,
    at least half of it partial. Its calls are activities; its cost is reported apart."""

    type: Literal["judge"] = "judge"
    rubric: str = Field(min_length=1)
    model: str
    threshold: float = Field(default=0.7, ge=0, le=1)
    include_expected: bool = True

    @field_validator("model")
    @classmethod
    def _provider_slash_name(cls, model: str) -> str:
        ModelRef.model_validate(model)  # raises the loader's "write it provider/name" message
        return model


class PythonScorer(_Spec):
    """A scorer function registered in the App under ``name``, run by an activity."""

    type: Literal["python"] = "python"
    name: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)

    @property
    def shown(self) -> str:
        return self.label or self.name


ScorerSpec = Annotated[
    ExactScorer
    | ContainsScorer
    | RegexScorer
    | JsonScorer
    | NumericScorer
    | ToolCalledScorer
    | ToolNotCalledScorer
    | HandedOffToScorer
    | TrajectoryScorer
    | StatusScorer
    | LatencyScorer
    | CostScorer
    | JudgeScorer
    | PythonScorer,
    Field(discriminator="type"),
]
"""One scorer of a case, chosen by ``type``."""

SCORER_TYPES = (
    "exact", "contains", "regex", "json", "numeric", "tool_called", "tool_not_called",
    "handed_off_to", "trajectory", "status", "latency", "cost", "judge", "python",
)  # fmt: skip
DETERMINISTIC = frozenset(SCORER_TYPES) - {"judge", "python"}
"""Scored by ``score_case`` in pure code; ``judge`` and ``python`` need an activity."""


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {exc}") from None


def _check_schema(schema: Any, where: str = "schema") -> None:
    if not isinstance(schema, dict):
        raise ValueError(f"{where} must be a mapping (a JSON Schema object)")
    unknown = sorted(set(schema) - SCHEMA_KEYWORDS)
    if unknown:
        raise ValueError(
            f"{where} uses {', '.join(map(repr, unknown))}, which the json scorer cannot check; "
            f"it checks {', '.join(sorted(SCHEMA_KEYWORDS - {'$schema', 'title', 'description'}))}"
        )
    for name, sub in (schema.get("properties") or {}).items():
        _check_schema(sub, f"{where}.properties.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _check_schema(schema[key], f"{where}.{key}")
    for i, sub in enumerate(schema.get("anyOf") or []):
        _check_schema(sub, f"{where}.anyOf[{i}]")
    if "pattern" in schema:
        _compile(schema["pattern"])
