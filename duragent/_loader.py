"""Loading agent specs from YAML, with errors that name the file, the agent and the field.

A YAML file holds ``agents:``, a list of agent specs (the fields of ``AgentSpec``). Paths inside
it (instructions files) are relative to the YAML file.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from duragent._spec import AgentSpec
from duragent.errors import SpecError


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. YAML 1.1 also reads on/off/yes/no as booleans, which
    would turn a script rule's ``on: user`` into ``{True: "user"}``."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(text: str) -> object:
    """Parse YAML with 1.2 booleans (see ``_Loader``)."""
    return yaml.load(text, Loader=_Loader)


def load_agents(path: str | Path) -> list[AgentSpec]:
    """Load the agents of a YAML file. Raise ``SpecError`` naming file, agent and field."""
    file = Path(path)
    label = str(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"spec file not found (looked at {file.resolve()})", file=label) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"spec file cannot be read: {exc}", file=label) from None
    try:
        document = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"not valid YAML{where}: {problem}", file=label) from None
    if isinstance(document, dict) and "agents" in document:
        unknown = sorted(set(document) - {"agents"})
        if unknown:
            raise SpecError(
                f"unknown top-level key(s) {', '.join(map(repr, unknown))}; a spec file holds 'agents:'",
                file=label,
            )
        document = document["agents"]
    if not isinstance(document, list) or not document:
        raise SpecError("expected 'agents:' followed by a list of agent specs", file=label)
    agents = [
        parse_agent(entry, file=label, base_dir=file.parent, index=i)
        for i, entry in enumerate(document)
    ]
    return agents


def parse_agent(
    data: Any, *, file: str | None = None, base_dir: str | Path = ".", index: int = 0
) -> AgentSpec:
    """Validate one agent mapping into an ``AgentSpec``, translating pydantic's errors."""
    if not isinstance(data, dict):
        raise SpecError(
            f"agent #{index + 1} must be a mapping of fields (name, model, ...), not {type(data).__name__}",
            file=file,
        )
    name = data.get("name") if isinstance(data.get("name"), str) else f"#{index + 1}"
    try:
        spec = AgentSpec.model_validate(data, context={"base_dir": str(base_dir)})
    except ValidationError as exc:
        raise spec_error_from(exc, file=file, agent=name) from None
    spec._source = file
    return spec


def spec_error_from(exc: ValidationError, *, file: str | None, agent: str | None) -> SpecError:
    """One ``SpecError`` for a pydantic ``ValidationError``: the first problem leads, others follow."""
    problems: list[tuple[str, str]] = []
    for error in exc.errors():
        loc = [str(p) for p in error["loc"] if not str(p).startswith("function-")]
        message = _message(error, loc)
        field = _dotted(loc) or _field_named_in(message)
        problems.append((field, message))
    field, message = problems[0]
    if len(problems) > 1:
        message += "; also " + "; ".join(f"{f or 'spec'}: {m}" for f, m in problems[1:])
    return SpecError(message, file=file, agent=agent, field=field or None)


def _field_named_in(message: str) -> str:
    # Checks across fields (model validators) have no location; they open with the field's name.
    found = re.match(r"'(\w+)'", message)
    return found.group(1) if found and found.group(1) in AgentSpec.model_fields else ""


def _dotted(loc: list[str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _message(error: Any, loc: list[str]) -> str:
    kind = error["type"]
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden" and loc:
        known = _known_fields(loc[:-1])
        hint = difflib.get_close_matches(loc[-1], known, n=1)
        message = "unknown field" + (f"; did you mean {hint[0]!r}?" if hint else "")
        if known and not hint:
            message += f"; known fields: {', '.join(known)}"
        return message
    if kind == "missing":
        return "required field is missing"
    if "input" in error and kind not in ("value_error", "assertion_error"):
        shown = repr(error["input"])
        if len(shown) <= 60:
            message += f" (got {shown})"
    return message


def _known_fields(parent: list[str]) -> list[str]:
    model: Any = AgentSpec
    for part in parent:
        if part.isdigit():
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        candidates = [annotation, *args]
        model = next((c for c in candidates if hasattr(c, "model_fields")), None)
        if model is None:
            return []
    return list(getattr(model, "model_fields", {}))
