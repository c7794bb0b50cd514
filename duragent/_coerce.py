"""Tool arguments validated against the tool's JSON schema before any rule looks at them.

One value, fail closed. The arguments a rule evaluates must be exactly the arguments the tool
receives. Models send numbers in many spellings (``"250"``, ``"1_000"``, ``"2500.0"``,
``"inf"``), and pydantic, when the tool parses them, accepts more of them than a rule can
compare: a rule ``amount > 100`` that saw the string ``"1_50"`` would not match while the tool
refunded 150. So the workflow settles every value here first, and the same canonical values are
checked, approved, hashed, recorded and executed:

- a strict JSON number written as a string becomes that number (``"250"`` → 250, ``"2500.0"`` →
  2500 for an integer); ``"true"``/``"false"`` become booleans;
- anything else pydantic might read differently from how a rule reads it is refused with
  ``ArgumentsInvalid`` (the model is told, as a ``validation_error``): digit separators,
  padding, a leading ``+``, NaN and infinity, integers with a fraction, unknown fields, missing
  required fields, values outside an ``enum``/``const``/``pattern``/bounds;
- defaults the schema declares are filled in, so rules see what the tool will use.

The tool side (``duragent._tool.Tool.parse_arguments``) checks the other half: the values the
tool's own validation produced must agree with these, or the tool does not run. Pure and
deterministic: safe inside the workflow.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

_STRICT_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
"""JSON's number grammar: what a string must be to be read as a number."""
_LOOSE_NUMBER = re.compile(
    r"\s*[+-]?(([0-9_]+\.?[0-9_]*|\.[0-9_]+)([eE][+-]?[0-9_]+)?|inf(inity)?|nan)\s*",
    re.IGNORECASE,
)
"""What Python's ``float``/``Decimal`` (and so pydantic) would also read as a number."""
MAX_DEPTH = 32


class ArgumentsInvalid(ValueError):
    """Arguments that do not settle to one value against the tool's schema."""


def validate_arguments(schema: dict[str, Any], arguments: Any) -> dict[str, Any]:
    """``arguments`` settled to ``schema``: a new dict of canonical JSON values.

    Raise ``ArgumentsInvalid`` naming every problem (path and what to send instead), and only
    that: whatever the input (a 5,000-digit number, a cycle), nothing else escapes, since an
    exception here would fail the run's workflow task over and over.
    """
    problems: list[str] = []
    try:
        value = _Settle(schema.get("$defs", {}), problems).settle(schema, arguments, "", 0)
    except (ValueError, TypeError, RecursionError, OverflowError) as exc:
        raise ArgumentsInvalid(f"arguments cannot be read: {type(exc).__name__}") from None
    if problems:
        raise ArgumentsInvalid("; ".join(problems[:10]))
    if not isinstance(value, dict):  # the root schema is an object, checked above
        raise ArgumentsInvalid("arguments: expected an object of named arguments")
    return value


MAX_DIGITS = 400
"""Longer numbers are refused: Python reads at most 4,300 digits, and no amount needs 400."""


def strict_number(text: str) -> int | float | None:
    """The number a string spells in JSON's grammar exactly, else ``None``."""
    if len(text) > MAX_DIGITS or not _STRICT_NUMBER.fullmatch(text):
        return None
    if "." in text or "e" in text or "E" in text:
        number = float(text)
        return number if math.isfinite(number) else None
    return int(text)


def short_repr(value: Any) -> str:
    """``repr`` clipped to 60 characters, safe for any value (a huge int, a long text)."""
    if isinstance(value, str | bytes) and len(value) > 60:
        value = value[:57]  # repr of a long text costs its length; of a huge int, an error
    try:
        shown = repr(value)
    except ValueError:  # an int past Python's digit limit
        return f"<{type(value).__name__}>"
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


class _Invalid(Exception):
    def __init__(self, message: str) -> None:
        self.message = message


class _Settle:
    def __init__(self, defs: dict[str, Any], problems: list[str]) -> None:
        self.defs = defs
        self.problems = problems

    def _resolve(self, schema: Any) -> dict[str, Any]:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < MAX_DEPTH:
            name = str(schema["$ref"]).rsplit("/", 1)[-1]
            target = self.defs.get(name)
            if not isinstance(target, dict):
                raise _Invalid(f"schema reference {schema['$ref']!r} is not defined")
            extra = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **extra}
            seen += 1
        return schema if isinstance(schema, dict) else {}

    def settle(self, schema: Any, value: Any, path: str, depth: int) -> Any:
        """The canonical value, or the original after recording a problem."""
        try:
            return self._settle(schema, value, path, depth)
        except _Invalid as invalid:
            self.problems.append(f"{path or 'arguments'}: {invalid.message}")
            return value

    def _settle(self, schema: Any, value: Any, path: str, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise _Invalid(f"nested deeper than {MAX_DEPTH} levels")
        schema = self._resolve(schema)
        options = schema.get("anyOf") or schema.get("oneOf")
        if isinstance(options, list) and options:
            value = self._union(options, value, path, depth)
        elif "allOf" in schema and isinstance(schema["allOf"], list):
            for part in schema["allOf"]:
                value = self._settle(part, value, path, depth + 1)
        else:
            value = self._typed(schema, value, path, depth)
        self._constraints(schema, value)
        return value

    def _union(self, options: list[Any], value: Any, path: str, depth: int) -> Any:
        resolved = [self._resolve(option) for option in options]
        types = {t for option in resolved for t in _types(option)}
        if isinstance(value, str) and {"string", "number"} <= types:
            # number-or-string (a Decimal): a number spelled strictly is read as that number;
            # one spelled loosely is ambiguous (pydantic reads "1_50" as 150, a rule a string).
            number = strict_number(value)
            if number is not None and _lossless(value, number):
                return number
            if _LOOSE_NUMBER.fullmatch(value):
                raise _Invalid(
                    f"{short_repr(value)} is not a plain number; send it as a JSON number (e.g. 150)"
                )
        # Exact kinds first (as pydantic's smart unions do), then with coercion.
        for strict in (True, False):
            for option in resolved:
                if strict and _kind(value) not in _types(option) and _types(option):
                    if not (_kind(value) == "integer" and "number" in _types(option)):
                        continue
                trial: list[str] = []
                settled = _Settle(self.defs, trial).settle(option, value, path, depth + 1)
                if not trial:
                    return settled
        expected = " or ".join(sorted(types)) or "one of the declared shapes"
        raise _Invalid(f"{short_repr(value)} is not {expected}")

    def _typed(self, schema: dict[str, Any], value: Any, path: str, depth: int) -> Any:
        types = _types(schema)
        if isinstance(value, float) and not math.isfinite(value):
            raise _Invalid("NaN and infinity are not allowed; send a finite number")
        if not types:  # Any: checked for what no rule could compare, passed on as it is
            _finite_everywhere(value)
            return value
        kind = _kind(value)
        if "object" in types and isinstance(value, dict):
            return self._object(schema, value, path, depth)
        if "array" in types and isinstance(value, list | tuple):
            return self._array(schema, list(value), path, depth)
        if "integer" in types and kind in ("integer", "number", "string"):
            settled = _integer(value)
            if settled is not None:
                return settled
        if "number" in types and kind in ("integer", "number", "string"):
            number = value if kind in ("integer", "number") else strict_number(value)
            if isinstance(number, int) and number.bit_length() > MAX_DIGITS * 4:
                raise _Invalid(f"a number of more than {MAX_DIGITS} digits is not an amount")
            if number is not None:
                return number
        if "boolean" in types:
            if kind == "boolean":
                return value
            if isinstance(value, str) and value in ("true", "false"):
                return value == "true"
        if "string" in types and kind == "string":
            return value
        if "null" in types and value is None:
            return None
        expected = " or ".join(types)
        hint = ""
        if kind == "string" and types & {"integer", "number"}:
            hint = "; send a plain JSON number (e.g. 150), without separators or spaces"
        elif kind == "string" and "boolean" in types:
            hint = "; send true or false"
        raise _Invalid(f"expected {expected}, got {kind} {short_repr(value)}{hint}")

    def _object(
        self, schema: dict[str, Any], value: dict[str, Any], path: str, depth: int
    ) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties", True)
        out: dict[str, Any] = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if not isinstance(key, str):
                raise _Invalid(f"field names must be strings, got {short_repr(key)}")
            if key in properties:
                out[key] = self.settle(properties[key], item, where, depth + 1)
            elif extra is False:
                known = ", ".join(sorted(properties)) or "none"
                self.problems.append(f"{where}: unknown field; fields: {known}")
            elif isinstance(extra, dict):
                out[key] = self.settle(extra, item, where, depth + 1)
            else:
                _finite_everywhere(item)
                out[key] = item
        for key in schema.get("required") or ():
            if key not in value:
                where = f"{path}.{key}" if path else str(key)
                self.problems.append(f"{where}: missing; this field is required")
        for key, prop in properties.items():
            if key not in out and key not in value and isinstance(prop, dict) and "default" in prop:
                # What the tool will use, so rules see it too.
                out[key] = self.settle(prop, prop["default"], f"{path}.{key}" if path else key, 0)
        return out

    def _array(self, schema: dict[str, Any], value: list[Any], path: str, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems")
        items = schema.get("items")
        out = []
        for index, item in enumerate(value):
            where = f"{path}.{index}"
            if isinstance(prefix, list) and index < len(prefix):
                out.append(self.settle(prefix[index], item, where, depth + 1))
            elif isinstance(items, dict):
                out.append(self.settle(items, item, where, depth + 1))
            elif items is False:
                raise _Invalid(f"at most {len(prefix or [])} items")
            else:
                _finite_everywhere(item)
                out.append(item)
        return out

    def _constraints(self, schema: dict[str, Any], value: Any) -> None:
        if "const" in schema and not _equal(value, schema["const"]):
            raise _Invalid(f"must be {short_repr(schema['const'])}, got {short_repr(value)}")
        if "enum" in schema and not any(_equal(value, option) for option in schema["enum"]):
            options = ", ".join(short_repr(option) for option in schema["enum"][:20])
            raise _Invalid(f"{short_repr(value)} is not one of {options}")
        if isinstance(value, str):
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                raise _Invalid(f"at most {schema['maxLength']} characters")
            if "minLength" in schema and len(value) < schema["minLength"]:
                raise _Invalid(f"at least {schema['minLength']} characters")
            pattern = schema.get("pattern")
            if isinstance(pattern, str):
                try:
                    matched = re.search(pattern, value) is not None
                except re.error:
                    matched = True  # a pattern Python cannot read: the tool's own check decides
                if not matched:
                    raise _Invalid(f"{short_repr(value)} does not match the pattern {pattern!r}")
        if isinstance(value, int | float) and not isinstance(value, bool):
            for key, holds in (
                ("minimum", lambda b: value >= b),
                ("maximum", lambda b: value <= b),
                ("exclusiveMinimum", lambda b: value > b),
                ("exclusiveMaximum", lambda b: value < b),
            ):
                bound = schema.get(key)
                if isinstance(bound, int | float) and not holds(bound):
                    raise _Invalid(f"{short_repr(value)} breaks {key} {bound}")
        if isinstance(value, list):
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                raise _Invalid(f"at most {schema['maxItems']} items")
            if "minItems" in schema and len(value) < schema["minItems"]:
                raise _Invalid(f"at least {schema['minItems']} items")


def _types(schema: dict[str, Any]) -> set[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        types = {declared}
    elif isinstance(declared, list):
        types = {t for t in declared if isinstance(t, str)}
    else:
        types = set()
    if not types and "properties" in schema:
        types = {"object"}
    if not types and ("const" in schema or "enum" in schema):
        values = [schema["const"]] if "const" in schema else list(schema["enum"] or [])
        types = {_kind(v) for v in values}
        if "integer" in types:
            types.add("number")
    return types


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value.bit_length() <= MAX_DIGITS * 4 else None
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str):
        number = strict_number(value)
        if isinstance(number, int):
            return number
        if isinstance(number, float) and number.is_integer() and abs(number) < 2**53:
            return int(number)
    return None


def _lossless(text: str, number: int | float) -> bool:
    if isinstance(number, int):
        return True
    # "0.1" → 0.1 round-trips; "123456789012345678901.5" does not, and stays a string.
    return Decimal(text) == Decimal(repr(number))


def _equal(value: Any, expected: Any) -> bool:
    if isinstance(value, bool) is not isinstance(expected, bool):
        return False
    return bool(value == expected)


def _finite_everywhere(value: Any, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise _Invalid(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, float) and not math.isfinite(value):
        raise _Invalid("NaN and infinity are not allowed; send a finite number")
    if isinstance(value, dict):
        for item in value.values():
            _finite_everywhere(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _finite_everywhere(item, depth + 1)
