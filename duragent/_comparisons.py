"""Comparisons on one value, and the argument paths they are applied at.

Part of the condition language (``duragent._conditions``), pure and deterministic like it: no
I/O, clock, randomness or environment, no mutable module state.

Three-valued: a test is true, false, or ``None`` (unknown) when it cannot be evaluated (``gt:
100`` against ``"abc"`` or a NaN, ``matches`` against a number); rules read unknown as a match
where that is the safe reading. A missing argument path fails every operator except ``exists:
false``; a path that steps by name into a list is unknown; ``*`` tests every item.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

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

MISSING: Any = object()
"""The value of an argument path that does not exist (and of an absent confidence)."""


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


# --- argument paths ---------------------------------------------------------------------------

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


def _steps(path: str) -> _Steps:
    parts = path.split(".")
    if not all(parts):
        raise ValueError(f"'args': path {path!r} has an empty part; write e.g. 'customer.email'")
    return tuple((part, int(part) if _INDEX.fullmatch(part) else None) for part in parts)
