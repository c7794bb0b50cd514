"""The deterministic ``scripted`` model: answers from rules declared in the agent spec.

Used offline (the demo, tests) and by ``duragent mock-llm``. Same rules and conversation give the
same answer, including tool-call ids, so runs are reproducible.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from duragent._messages import Message, ToolCall
from duragent._names import HANDOFF_PREFIX
from duragent._spec import ScriptRule

NO_MATCH = "I'm sorry, I have no scripted answer for that."

_FIELD = re.compile(r"\{([A-Za-z0-9_.]+)\}")


@dataclass(frozen=True)
class ScriptedAnswer:
    message: Message
    confidence: float | None
    rule: int | None
    """Index of the rule that answered, ``None`` when none matched."""


def answer(
    rules: Sequence[ScriptRule], messages: Sequence[Message], *, turn: int
) -> ScriptedAnswer:
    """The first matching rule's answer to the conversation's last message."""
    last = _last_relevant(messages)
    user_input = next((m.content for m in reversed(messages) if m.role == "user"), "")
    for index, rule in enumerate(rules):
        variables = _match(rule, last, messages)
        if variables is None:
            continue
        variables["input"] = user_input
        return ScriptedAnswer(_render_answer(rule, variables, turn), rule.confidence, index)
    return ScriptedAnswer(Message(role="assistant", content=NO_MATCH), None, None)


def _last_relevant(messages: Sequence[Message]) -> Message | None:
    # System messages are instructions, not conversation; a handoff (the transfer call and its
    # result) is plumbing, so after one the new agent answers the message that preceded it.
    for message in reversed(messages):
        if message.role == "system":
            continue
        if message.role == "tool" and (message.name or "").startswith(HANDOFF_PREFIX):
            continue
        if message.role == "assistant" and any(
            c.name.startswith(HANDOFF_PREFIX) for c in message.tool_calls
        ):
            continue
        return message
    return None


def _match(
    rule: ScriptRule, last: Message | None, messages: Sequence[Message]
) -> dict[str, Any] | None:
    if last is None:
        return None
    if rule.on != "any" and last.role != rule.on:
        return None
    if rule.tool is not None and not (last.role == "tool" and last.name == rule.tool):
        return None
    variables: dict[str, Any] = {}
    if last.role == "tool":
        variables["result"] = _json_or_text(last.content)
        variables["results"], variables["all_results"] = _turn_results(messages)
    if rule.when is not None:
        found = re.search(rule.when, last.content, flags=re.IGNORECASE | re.DOTALL)
        if found is None:
            return None
        variables.update(
            {str(i): g for i, g in enumerate(found.groups(), start=1) if g is not None}
        )
        variables.update({k: v for k, v in found.groupdict().items() if v is not None})
        variables["0"] = found.group(0)
    return variables


def _turn_results(messages: Sequence[Message]) -> tuple[dict[str, Any], list[Any]]:
    """The results of the tool calls since the last assistant message: by tool name (the first
    of each name), and all of them in the order they were called."""
    ordered: list[Message] = []
    for message in reversed(messages):
        if message.role != "tool":
            break
        ordered.insert(0, message)
    by_name: dict[str, Any] = {}
    for message in ordered:
        by_name.setdefault(message.name or "", _json_or_text(message.content))
    return by_name, [_json_or_text(m.content) for m in ordered]


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def render(template: str, variables: dict[str, Any]) -> str:
    """Replace ``{name}``, ``{1}`` and ``{result.a.b}``; unknown fields are left as written."""

    def lookup(match: re.Match[str]) -> str:
        path = match.group(1).split(".")
        value: Any = variables
        for part in path:
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return match.group(0)
        return value if isinstance(value, str) else json.dumps(value)

    return _FIELD.sub(lookup, template)


def _render_value(value: Any, variables: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return render(value, variables)
    if isinstance(value, dict):
        return {k: _render_value(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_value(v, variables) for v in value]
    return value


def _render_answer(rule: ScriptRule, variables: dict[str, Any], turn: int) -> Message:
    if rule.say is not None:
        return Message(role="assistant", content=render(rule.say, variables))
    if rule.handoff is not None:
        call = ToolCall(id=f"call_{turn}_0", name=f"{HANDOFF_PREFIX}{rule.handoff}")
        return Message(role="assistant", tool_calls=[call])
    script_calls = rule.calls if rule.calls is not None else [rule.call]
    calls = [
        ToolCall(
            id=f"call_{turn}_{index}",
            name=call.tool,
            arguments=_render_value(dict(call.arguments), variables),
        )
        for index, call in enumerate(script_calls)
        if call is not None
    ]
    return Message(role="assistant", tool_calls=calls)
