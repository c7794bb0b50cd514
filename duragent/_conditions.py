"""The condition language of guardrail rules: ``Comparison`` and ``Condition``.

Determinism: guardrails are evaluated inside the ``AgentRun`` workflow, so that each decision is
in history and replays identically. This module does no I/O, reads no clock, randomness or
environment and keeps no mutable module state. Only ``re``, ``json``, ``math`` and pydantic.

Speed: a validator compiles each condition once into a ``_Plan`` of plain objects (regexes
compiled, lists turned into sets, paths split), and evaluation walks only that plan. Reading a
pydantic private attribute costs about a microsecond, so the hot path reads the plan from
``__pydantic_private__`` directly and nothing else.

Evaluation never raises, and fails closed: a test that cannot be evaluated (``gt: 100`` against
``"abc"`` or a NaN, ``matches`` against a number) is *unknown*, not false, and a rule that
blocks or asks a human treats an unknown condition as matched (``Condition.test``). A missing
argument path fails every operator except ``exists: false``; a null value fails ``contains``
and ``matches``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any, Literal, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

RiskLevel = Literal["read", "write", "destructive", "external"]
PiiKind = Literal["email", "phone", "credit_card", "ssn", "iban", "ip_address", "api_key"]

MISSING: Any = object()
"""The value of an argument path that does not exist (and of an absent confidence)."""


class Facts(Protocol):
    """What a condition looks at. ``duragent._guardrails`` builds one per evaluation."""

    tool: str | None
    risk: str | None
    arguments: dict[str, Any] | None
    confidence: float | None
    risk_score: float | None

    @property
    def text(self) -> str: ...

    @property
    def lowered(self) -> str: ...

    def pii(self, kinds: tuple[PiiKind, ...] | None) -> list[PiiKind]:
        """The kinds (of ``kinds``; ``None`` = all) found in the text."""
        ...


class _Frozen(BaseModel):
    # YAML spells operators "in" and "not"; the names "in_" and "not_" are accepted too, since
    # the Temporal data converter serializes by field name unless told otherwise.
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


def _compile(pattern: str, field: str, flags: int = 0) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise ValueError(f"'{field}' is not a valid regular expression: {exc}") from None


def _show(value: Any) -> str:
    try:
        shown = repr(value) if isinstance(value, str | int | float) else json.dumps(value)
    except (ValueError, TypeError, RecursionError):
        shown = f"<{type(value).__name__}>"
    return shown if len(shown) <= 40 else shown[:37] + "..."


# --- comparisons ----------------------------------------------------------------------------


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(_finite(item) for item in value)
    if isinstance(value, dict):
        return all(_finite(item) for item in value.values())
    return True


def _same(value: Any, expected: Any) -> bool:
    # As in JSON, a boolean equals only a boolean (Python says True == 1).
    if (value.__class__ is bool) is not (expected.__class__ is bool):
        return False
    try:
        return bool(value == expected)
    except Exception:  # an exotic __eq__; arguments are JSON-like, so this is rare
        return False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _ordered(value: Any, bound: Any) -> bool | None:
    """Whether ``value`` can be ordered against ``bound``; ``None``: it cannot be (unknown)."""
    if isinstance(bound, str):
        return True if isinstance(value, str) else None
    if _is_number(value):
        return True if _finite(value) else None
    return None


def _order(test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool | None]:
    def compare(value: Any, bound: Any) -> bool | None:
        if _ordered(value, bound) is None:
            return None  # "abc" > 100, NaN > 100: the rule cannot tell, so it fails closed
        return test(value, bound)

    return compare


def _equality(test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool | None]:
    def compare(value: Any, expected: Any) -> bool | None:
        return test(value, expected) if _finite(value) else None  # NaN equals nothing

    return compare


def _contains(value: Any, expected: Any) -> bool | None:
    if value is None:
        return False
    if isinstance(value, str):
        return isinstance(expected, str) and expected in value
    if isinstance(value, list | tuple):
        if not _finite(value):
            return None
        return any(_same(item, expected) for item in value)
    return None


def _matches(value: Any, regex: re.Pattern[str]) -> bool | None:
    if value is None:
        return False
    return regex.search(value) is not None if isinstance(value, str) else None


_TESTS: dict[str, Callable[[Any, Any], bool | None]] = {
    "eq": _equality(_same),
    "ne": _equality(lambda v, x: not _same(v, x)),
    "gt": _order(lambda v, x: v > x),
    "gte": _order(lambda v, x: v >= x),
    "lt": _order(lambda v, x: v < x),
    "lte": _order(lambda v, x: v <= x),
    "in_": _equality(lambda v, xs: any(_same(v, x) for x in xs)),
    "not_in": _equality(lambda v, xs: not any(_same(v, x) for x in xs)),
    "contains": _contains,
    "matches": _matches,
}
_SYMBOLS = {"eq": "==", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "in_": "in"}
_OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "matches", "exists")

_Tests = tuple[tuple[str, Any], ...]


def _check(tests: _Tests, value: Any) -> bool | None:
    """True when every test holds, False when one does not, ``None`` when none fails but one
    cannot be evaluated (a NaN, a string against a number): unknown, which rules read as a match
    wherever a match is the safe reading."""
    present = value is not MISSING
    verdict: bool | None = True
    for op, expected in tests:
        if op == "exists":
            if present is not expected:
                return False
            continue
        if not present:
            return False
        outcome = _TESTS[op](value, expected)
        if outcome is False:
            return False
        if outcome is None:
            verdict = None
    return verdict


class Comparison(_Frozen):
    """Tests on one value; every operator given must hold.

    ``contains`` is a substring test on strings and a membership test on lists; ``matches``
    searches a (case-sensitive) regex in a string; ``exists`` asks whether the argument path is
    there at all. Order operators compare numbers with numbers and strings with strings; any
    other pairing is false. In YAML a bare scalar means ``eq``: ``{currency: USD}``.
    """

    eq: Any = None
    ne: Any = None
    gt: int | float | str | None = None
    gte: int | float | str | None = None
    lt: int | float | str | None = None
    lte: int | float | str | None = None
    in_: list[Any] | None = Field(default=None, alias="in")
    not_in: list[Any] | None = None
    contains: Any = None
    matches: str | None = None
    exists: bool | None = None

    _tests: _Tests = PrivateAttr(default=())

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, BaseModel):
            return data
        if isinstance(data, list):
            raise ValueError(
                "a bare list is ambiguous: write {in: [...]} to test membership "
                "or {eq: [...]} to compare with the whole list"
            )
        if not isinstance(data, dict):
            return {"eq": data}
        unknown = [key for key in data if key not in _OPERATORS and key != "in_"]
        if unknown:
            raise ValueError(
                f"unknown operator {unknown[0]!r}; operators: {', '.join(_OPERATORS)} "
                "(to compare with a mapping, write {eq: {...}})"
            )
        return data

    @field_validator("gt", "gte", "lt", "lte", mode="before")
    @classmethod
    def _no_booleans(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool):  # pydantic would read true as 1
            raise ValueError(f"operator '{info.field_name}' needs a finite number or a string")
        return value

    @model_validator(mode="after")
    def _prepare(self) -> Comparison:
        # The operators *given*, in declaration order: "eq: null" compares with null.
        tests: list[tuple[str, Any]] = []
        for name in type(self).model_fields:
            if name not in self.model_fields_set:
                continue
            value = getattr(self, name)
            label = "in" if name == "in_" else name
            if value is None and name not in ("eq", "ne", "contains"):
                raise ValueError(f"operator '{label}' needs a value")
            if not _finite(value):  # JSON would turn NaN into null, which compares differently
                raise ValueError(f"operator '{label}' needs finite numbers (no NaN or infinity)")
            if name == "matches":
                value = _compile(value, "matches")
            elif name in ("in_", "not_in"):
                value = tuple(value)
            tests.append((name, value))
        if not tests:
            raise ValueError(f"a comparison needs at least one operator: {', '.join(_OPERATORS)}")
        self._tests = tuple(tests)
        return self

    @model_serializer(mode="wrap")
    def _given_only(self, handler: SerializerFunctionWrapHandler) -> Any:
        # Dump only the operators given, so a dump validates back to the same comparison
        # (an explicit "eq: null" survives; an absent "eq" stays absent).
        given = self.model_fields_set | ({"in"} if "in_" in self.model_fields_set else set())
        return {key: value for key, value in handler(self).items() if key in given}

    def holds(self, value: Any) -> bool:
        """Whether every operator holds for ``value`` (``MISSING`` when the path is absent);
        a test that cannot be evaluated is not a hold here (see ``Condition.test``)."""
        return _check(self._tests, value) is True

    def describe(self, value: Any = MISSING) -> str:
        """``"> 100"``, or with the value that was tested, ``"250 > 100"``."""
        parts = []
        for op, expected in self._tests:
            if op == "exists":
                parts.append("exists" if expected else "is missing")
                continue
            if op == "matches":
                expected = expected.pattern
            elif op in ("in_", "not_in"):
                expected = list(expected)
            parts.append(f"{_SYMBOLS.get(op, op.replace('_', ' '))} {_show(expected)}")
        text = " and ".join(parts)
        return text if value is MISSING else f"{_show(value)} {text}"


# --- conditions -----------------------------------------------------------------------------

_CONDITION_TESTS = (
    "all", "any", "not", "tool", "risk", "args", "contains", "matches", "pii", "confidence", "risk_score",
)  # fmt: skip
_INDEX = re.compile(r"[0-9]{1,9}")

_Steps = tuple[tuple[str, int | None], ...]


UNREADABLE: Any = object()
"""The value of a path that steps by name into a list (``items.amount``): which item is meant
cannot be told, so every test of it is unknown (write ``items.*.amount`` for any item)."""


class _Each(tuple[Any, ...]):
    """The values a ``*`` step reaches: a test holds when it holds for any of them."""


def _resolve(root: Any, steps: _Steps) -> Any:
    value = root
    for position, (key, index) in enumerate(steps):
        if key == "*":
            if not isinstance(value, list | tuple):
                return MISSING
            rest = steps[position + 1 :]
            found: list[Any] = []
            for item in value:
                inner = _resolve(item, rest)
                if isinstance(inner, _Each):
                    found.extend(inner)
                elif inner is not MISSING:
                    found.append(inner)
            return _Each(found)
        if isinstance(value, dict):
            value = value.get(key, MISSING)
            if value is MISSING:
                return MISSING
        elif isinstance(value, list | tuple):
            if index is None:
                return UNREADABLE
            if index >= len(value):
                return MISSING
            value = value[index]
        else:
            return MISSING
    return value


def _describe_at(comparison: Comparison, value: Any) -> str:
    if value is UNREADABLE:
        return f"(a list here: name an index or *) {comparison.describe()}"
    return comparison.describe(list(value) if isinstance(value, _Each) else value)


def _check_path(tests: _Tests, value: Any) -> bool | None:
    """``_check`` over what a path reached: any item of a ``*`` path; unknown if unreadable."""
    if value is UNREADABLE:
        return None
    if isinstance(value, _Each):
        outcomes = [_check(tests, item) for item in value]
        if True in outcomes:
            return True
        return None if None in outcomes else False
    return _check(tests, value)


def _number(value: float | None) -> Any:
    return MISSING if value is None else value


class _Plan:
    """A condition compiled to plain objects; see the module docstring."""

    __slots__ = (
        "all", "any", "args", "confidence", "kinds", "needles", "not_", "pii", "regex", "risk_score",
        "risks", "tools",
    )  # fmt: skip

    def __init__(self) -> None:
        self.tools: frozenset[str] | None = None
        self.risks: frozenset[str] | None = None
        self.args: tuple[tuple[_Steps, _Tests], ...] = ()
        self.confidence: _Tests | None = None
        self.risk_score: _Tests | None = None
        self.needles: tuple[str, ...] = ()
        self.regex: re.Pattern[str] | None = None
        self.pii: bool | None = None
        self.kinds: tuple[PiiKind, ...] | None = None
        self.all: tuple[_Plan, ...] | None = None
        self.any: tuple[_Plan, ...] | None = None
        self.not_: _Plan | None = None

    def __eq__(self, other: object) -> bool:
        # Conditions compare equal when their fields do; their plans must not spoil that.
        return isinstance(other, _Plan) and all(
            getattr(self, name) == getattr(other, name) for name in self.__slots__
        )

    __hash__ = None  # type: ignore[assignment]

    def holds(self, facts: Facts) -> bool | None:
        """True, False, or ``None`` when an argument test cannot be evaluated (unknown).

        Three-valued: ``all`` is false if any part is, else unknown if any part is; ``any`` is
        true if any part is, else unknown if any part is; ``not`` keeps unknown unknown.
        """
        # Cheap tests first; the text is serialized, lowercased or scanned only if needed.
        if self.tools is not None and facts.tool not in self.tools:
            return False
        if self.risks is not None and facts.risk not in self.risks:
            return False
        verdict: bool | None = True
        for steps, tests in self.args:
            outcome = _check_path(tests, _resolve(facts.arguments, steps))
            if outcome is False:
                return False
            if outcome is None:
                verdict = None
        numbers: tuple[tuple[_Tests | None, float | None], ...] = (
            (self.confidence, facts.confidence),
            (self.risk_score, facts.risk_score),
        )
        for number_tests, number in numbers:
            if number_tests is not None:
                outcome = _check(number_tests, _number(number))
                if outcome is False:
                    return False
                if outcome is None:
                    verdict = None
        if self.needles:
            lowered = facts.lowered
            if not any(needle in lowered for needle in self.needles):
                return False
        if self.regex is not None and self.regex.search(facts.text) is None:
            return False
        if self.pii is not None and bool(facts.pii(self.kinds)) is not self.pii:
            return False
        if self.all is not None:
            for plan in self.all:
                outcome = plan.holds(facts)
                if outcome is False:
                    return False
                if outcome is None:
                    verdict = None
        if self.any is not None:
            outcomes = [plan.holds(facts) for plan in self.any]
            if True not in outcomes:
                if None not in outcomes:
                    return False
                verdict = None
        if self.not_ is not None:
            outcome = self.not_.holds(facts)
            if outcome is True:
                return False
            if outcome is None:
                verdict = None
        return verdict


def _plan_of(condition: Condition) -> _Plan:
    plan: _Plan = condition.__pydantic_private__["_plan"]  # type: ignore[index]
    return plan


class Condition(_Frozen):
    """A test on one stage: every test given must hold (AND); ``all``/``any``/``not`` combine.

    ``all: []`` holds and ``any: []`` does not (the identities of AND and OR). ``contains`` and
    ``matches`` are case-insensitive and look at the stage's text (for a tool call: its
    arguments as compact JSON, unless text is given). ``pii: true`` holds when the text has PII
    of any kind, ``pii: [email, phone]`` when it has one of those, ``pii: false`` when it has
    none. ``args`` maps dotted paths (``customer.email``, ``items.0.sku``, ``items.*.amount`` for any
    item; a name stepped into a list is unknown) to comparisons;
    ``confidence`` and ``risk_score`` compare numbers, and fail when the number is absent.
    """

    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = Field(default=None, alias="not")
    tool: str | list[str] | None = None
    risk: RiskLevel | list[RiskLevel] | None = None
    args: dict[str, Comparison] | None = None
    contains: str | list[str] | None = None
    matches: str | None = None
    pii: bool | list[PiiKind] | None = None
    confidence: Comparison | None = None
    risk_score: Comparison | None = None

    _plan: _Plan = PrivateAttr(default_factory=_Plan)

    @model_validator(mode="before")
    @classmethod
    def _known_tests(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = [key for key in data if key not in _CONDITION_TESTS and key != "not_"]
            if unknown:
                raise ValueError(
                    f"unknown condition test {unknown[0]!r}; tests: {', '.join(_CONDITION_TESTS)}"
                )
        return data

    @model_validator(mode="after")
    def _prepare(self) -> Condition:
        if all(getattr(self, name) is None for name in type(self).model_fields):
            raise ValueError(f"a condition needs at least one test: {', '.join(_CONDITION_TESTS)}")
        for name in ("tool", "risk", "contains", "pii", "args"):
            value = getattr(self, name)
            if isinstance(value, list | dict) and not value:
                raise ValueError(f"'{name}' is empty, so it could never match; remove it")
        plan = _Plan()
        if self.tool is not None:
            plan.tools = frozenset([self.tool] if isinstance(self.tool, str) else self.tool)
        if self.risk is not None:
            plan.risks = frozenset([self.risk] if isinstance(self.risk, str) else self.risk)
        plan.args = tuple((_steps(path), c._tests) for path, c in (self.args or {}).items())
        plan.confidence = None if self.confidence is None else self.confidence._tests
        plan.risk_score = None if self.risk_score is None else self.risk_score._tests
        if self.contains is not None:
            needles = [self.contains] if isinstance(self.contains, str) else self.contains
            if not all(needles):
                raise ValueError("'contains' has an empty string, which matches any text")
            plan.needles = tuple(needle.lower() for needle in needles)
        if self.matches is not None:
            plan.regex = _compile(self.matches, "matches", re.IGNORECASE)
        if self.pii is not None:
            plan.pii = self.pii is not False
            plan.kinds = tuple(dict.fromkeys(self.pii)) if isinstance(self.pii, list) else None
        plan.all = None if self.all is None else tuple(map(_plan_of, self.all))
        plan.any = None if self.any is None else tuple(map(_plan_of, self.any))
        plan.not_ = None if self.not_ is None else _plan_of(self.not_)
        self._plan = plan
        return self

    @model_serializer(mode="wrap")
    def _given_only(self, handler: SerializerFunctionWrapHandler) -> Any:
        # None means "not tested": leave it out, so specs and history read like the YAML.
        return {key: value for key, value in handler(self).items() if value is not None}

    def holds(self, facts: Facts) -> bool:
        """Whether the condition certainly holds for ``facts`` (unknown is not a hold)."""
        return _plan_of(self).holds(facts) is True

    def test(self, facts: Facts) -> bool | None:
        """True, False, or ``None`` when a test cannot be evaluated (a NaN, a string compared
        with a number): rules that block or ask a human read ``None`` as a match."""
        return _plan_of(self).holds(facts)

    def explain(self, facts: Facts) -> str:
        """Why the condition holds (call it only when it does): ``refund_order amount 250 > 100``."""
        parts = [
            f"{path} {_describe_at(comparison, _resolve(facts.arguments, _steps(path)))}"
            for path, comparison in (self.args or {}).items()
        ]
        if self.risk is not None:
            parts.append(f"risk {facts.risk}")
        if self.confidence is not None:
            parts.append(f"confidence {self.confidence.describe(_number(facts.confidence))}")
        if self.risk_score is not None:
            parts.append(f"risk score {self.risk_score.describe(_number(facts.risk_score))}")
        needles = self._plan.needles
        if needles:
            found = [needle for needle in needles if needle in facts.lowered] or needles
            parts.append(f"text contains {_show(found[0])}")
        if self.matches is not None:
            parts.append(f"text matches {_show(self.matches)}")
        if self.pii is not None:
            kinds = facts.pii(self._plan.kinds)
            parts.append(f"text contains {', '.join(kinds)}" if kinds else "text has no PII")
        parts += [condition.explain(facts) for condition in self.all or ()]
        held = [condition for condition in self.any or () if condition.test(facts) is not False]
        if held:
            parts.append(held[0].explain(facts))
        if self.not_ is not None:
            parts.append(f"not ({self.not_.describe()})")
        text = ", ".join(part for part in parts if part)
        if self.tool is not None:
            text = f"{facts.tool} {text}".rstrip()
        return text or "the condition holds"

    def describe(self) -> str:
        """The condition in words: ``tool refund_order and amount > 100``."""
        parts = []
        if self.tool is not None:
            parts.append(
                "tool " + "|".join([self.tool] if isinstance(self.tool, str) else self.tool)
            )
        if self.risk is not None:
            parts.append(
                "risk " + "|".join([self.risk] if isinstance(self.risk, str) else self.risk)
            )
        parts += [f"{path} {c.describe()}" for path, c in (self.args or {}).items()]
        if self.confidence is not None:
            parts.append(f"confidence {self.confidence.describe()}")
        if self.risk_score is not None:
            parts.append(f"risk score {self.risk_score.describe()}")
        if self.contains is not None:
            parts.append("text contains " + " or ".join(map(_show, self._plan.needles)))
        if self.matches is not None:
            parts.append(f"text matches {_show(self.matches)}")
        if self.pii is not None:
            kinds = "PII" if self._plan.kinds is None else "/".join(self._plan.kinds)
            parts.append(f"text has {kinds}" if self.pii is not False else "text has no PII")
        if self.all is not None:
            parts.append(
                f"({' and '.join(c.describe() for c in self.all)})" if self.all else "true"
            )
        if self.any is not None:
            parts.append(
                f"({' or '.join(c.describe() for c in self.any)})" if self.any else "false"
            )
        if self.not_ is not None:
            parts.append(f"not ({self.not_.describe()})")
        return " and ".join(parts)


def _steps(path: str) -> _Steps:
    parts = path.split(".")
    if not all(parts):
        raise ValueError(f"'args': path {path!r} has an empty part; write e.g. 'customer.email'")
    return tuple((part, int(part) if _INDEX.fullmatch(part) else None) for part in parts)
