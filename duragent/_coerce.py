"""Tool arguments coerced to the tool's JSON schema before any rule looks at them.

Models sometimes send ``"amount": "250"`` for an integer parameter; the tool would accept it
(pydantic coerces), but a rule ``amount > 100`` comparing a string would not match, and the
call would slip past its approval. So the workflow coerces first, and the same values are
checked, approved, hashed and executed. Only lossless coercions: numeric strings to numbers,
"true"/"false" to booleans; anything else is left for the tool's own validation to refuse.
"""

from __future__ import annotations

import re
from typing import Any

_INT = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def coerce_arguments(schema: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """``arguments`` with values coerced to the types ``schema`` declares (a new dict)."""
    value = _coerce(schema, arguments, schema.get("$defs", {}))
    return value if isinstance(value, dict) else arguments


def _types(schema: dict[str, Any], defs: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    if "$ref" in schema:
        schema = defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {})
    declared = schema.get("type")
    types = [declared] if isinstance(declared, str) else list(declared or [])
    for option in schema.get("anyOf", []) + schema.get("oneOf", []):
        inner, resolved = _types(option, defs)
        types += inner
        if "properties" in resolved or "items" in resolved:
            schema = resolved
    return types, schema


def _coerce(schema: dict[str, Any], value: Any, defs: dict[str, Any]) -> Any:
    types, schema = _types(schema, defs)
    if isinstance(value, str) and "string" not in types:
        text = value.strip()
        if "integer" in types and _INT.match(text):
            return int(text)
        if "number" in types and _NUMBER.match(text):
            number = float(text)
            return (
                int(number)
                if number.is_integer() and "." not in text and "e" not in text.lower()
                else number
            )
        if "boolean" in types and text.lower() in ("true", "false"):
            return text.lower() == "true"
        return value
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return {
            k: _coerce(properties[k], v, defs) if k in properties else v for k, v in value.items()
        }
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_coerce(schema["items"], v, defs) for v in value]
    return value
