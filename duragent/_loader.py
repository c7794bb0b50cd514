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


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping names the same key twice. PyYAML would keep the last value and drop the first
    without a word, which for a spec can mean a dropped block rule; we refuse the file instead.

    ``str()`` is one line, without the file: callers put the file in front.
    """

    def __init__(self, key: object, *, first: yaml.Mark, second: yaml.Mark) -> None:
        self.key = key
        self.line = second.line + 1
        self.column = second.column + 1
        self.first_line = first.line + 1
        shown = "'<<'" if key is _MERGE else repr(key)
        super().__init__(
            problem=f"duplicate key {shown} (first at line {self.first_line}); a YAML mapping "
            "keeps only one value per key, so the first would be silently dropped",
            problem_mark=second,
        )

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.problem}"


_MERGE = object()
"""Stands for the merge key ``<<`` while looking for duplicates."""
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, made strict where its defaults fail open.

    - YAML 1.2 booleans: only true/false. YAML 1.1 also reads on/off/yes/no as booleans, which
      would turn a script rule's ``on: user`` into ``{True: "user"}``.
    - A key given twice in one mapping, at any depth, raises ``DuplicateKeyError``. Keys are
      compared as constructed (``1`` and ``0x1`` are the same key, as they would be in the dict).
      Merge keys keep their meaning: a key written next to ``<<: *base`` overrides the merged
      one, which is what merging is for; two ``<<`` keys in one mapping are a duplicate (write
      ``<<: [*a, *b]``).
    """

    MAX_NODES = 200_000
    """Nodes a document may expand to, aliases counted at their full size. A spec has a few
    hundred; a "billion laughs" document of nested aliases loads small but expands (hashing the
    spec serializes it) to gigabytes and kills the worker."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._flattened: set[int] = set()

    def compose_document(self) -> yaml.Node | None:
        node = super().compose_document()
        if node is not None:
            sizes: dict[int, int] = {}
            if _expanded(node, sizes) > self.MAX_NODES:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"this document expands to more than {self.MAX_NODES:,} values through "
                    "its aliases (*name); a spec this repetitive is refused",
                    node.start_mark,
                )
        return node

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        """Check the keys as written, then resolve ``<<`` merge keys into ``node.value``.

        Replaces PyYAML's own merge, which can keep a merged value over the one written next to
        it when the key strings happen to be the same object (one-letter keys are interned). Here
        the pairs are ordered so the mapping's own keys win, then the first merged mapping, then
        the next (the YAML merge-key rules), and each key is kept once, at its winning value.
        """
        # The check runs here, on the first visit, rather than in construct_mapping: an
        # anchored mapping can be flattened as the source of a merge before it is constructed
        # itself, and flattening rewrites node.value.
        if id(node) in self._flattened:
            return
        self._flattened.add(id(node))
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:value":  # a bare `=` key is the string "="
                key_node.tag = "tag:yaml.org,2002:str"
        self._reject_duplicate_keys(node)
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        own: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                own.append((key_node, value_node))
                continue
            sources = (
                value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            )
            for source in reversed(sources):  # the first source must win, so it comes last
                if not isinstance(source, yaml.MappingNode):
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        "expected a mapping or list of mappings for merging, "
                        f"but found {source.id}",
                        source.start_mark,
                    )
                self.flatten_mapping(source)
                merged.extend(source.value)
        if merged:
            node.value = _last_of_each_key(merged + own)

    def _reject_duplicate_keys(self, node: yaml.MappingNode) -> None:
        first: dict[object, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                key: object = _MERGE
            elif isinstance(key_node, yaml.ScalarNode):
                key = self.construct_object(key_node)
            else:
                continue  # a sequence or mapping as a key: the constructor refuses it anyway
            seen = first.get(key)
            if seen is not None:
                raise DuplicateKeyError(key, first=seen, second=key_node.start_mark)
            first[key] = key_node.start_mark


def _last_of_each_key(
    pairs: list[tuple[yaml.Node, yaml.Node]],
) -> list[tuple[yaml.Node, yaml.Node]]:
    # Later pairs override earlier ones when the mapping is built, so dropping an earlier pair
    # whose key is written the same changes nothing, and keeps nested merges from growing.
    seen: set[object] = set()
    kept: list[tuple[yaml.Node, yaml.Node]] = []
    for key_node, value_node in reversed(pairs):
        ident = (
            (key_node.tag, key_node.value) if isinstance(key_node, yaml.ScalarNode) else key_node
        )
        if ident not in seen:
            seen.add(ident)
            kept.append((key_node, value_node))
    kept.reverse()
    return kept


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _expanded(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values ``node`` stands for once every alias is expanded (memoized by node)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    sizes[id(node)] = 1  # a cycle counts once, and ends the walk
    total = 1
    if isinstance(node, yaml.SequenceNode):
        total += sum(_expanded(item, sizes) for item in node.value)
    elif isinstance(node, yaml.MappingNode):
        total += sum(_expanded(k, sizes) + _expanded(v, sizes) for k, v in node.value)
    sizes[id(node)] = total
    return total


def load_yaml(text: str) -> object:
    """Parse YAML strictly (see ``_Loader``): 1.2 booleans, and ``DuplicateKeyError`` (a
    ``yaml.YAMLError``) for a key given twice in one mapping."""
    return yaml.load(text, Loader=_Loader)


def describe_yaml_error(exc: yaml.YAMLError) -> str:
    """One line for a YAML error, ``line L, column C: problem``, for messages that name the file.

    ``str()`` of PyYAML's errors spans several lines and names ``<unicode string>``.
    """
    if isinstance(exc, DuplicateKeyError):
        return str(exc)
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else problem


def read_text(path: str | Path, *, what: str, error: type[SpecError] = SpecError) -> str:
    """A spec-like file's text, or ``error`` saying it is missing or unreadable, naming it."""
    file = Path(path)
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{what} not found (looked at {file.resolve()})", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{what} cannot be read: {exc}", file=str(path)) from None


def load_agents(path: str | Path) -> list[AgentSpec]:
    """Load the agents of a YAML file. Raise ``SpecError`` naming file, agent and field."""
    file = Path(path)
    label = str(path)
    text = read_text(path, what="spec file")
    try:
        document = load_yaml(text)
    except DuplicateKeyError as exc:
        raise SpecError(str(exc), file=label) from None
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
