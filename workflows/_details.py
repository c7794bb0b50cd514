"""What the Web UI's *Current Details* say about a run: what it waits for, or what it does.

A paused run must read by itself to whoever opens it: the step, the tool and its arguments,
who may decide, the deadline, and the exact JSON to paste into the UI's Signal or Update
dialog. Otherwise a line on what the run is doing, and the latest decision on its steps.

Not history: the SDK keeps the text in the worker and serves it through the built-in
``__temporal_workflow_metadata`` query, so it may be reworded without breaking replay. It is
shown to everyone who can open the run, so arguments pass the worker's redactor
(``duragent._redact``, shared into the sandbox as a pure module) and fields the tool's schema
marks secret are hidden whole. Deterministic text from the run's state.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from temporalio import workflow

from duragent import _redact
from duragent._approvals import ApprovalRequest, may_decide, same_person
from duragent.workflows._desk import ApprovalDesk, when
from duragent.workflows._state import RunState

MAX_ARGUMENTS = 600
MAX_SHOWN = 3
"""Pending steps described in full; more are only counted."""
PLACEHOLDER = "YOUR NAME"
"""The approver of a payload when the run knows nobody who may decide (only roles)."""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown_arguments(arguments: Mapping[str, Any] | None, schema: Mapping[str, Any] | None) -> str:
    """A call's arguments as one redacted, clipped line of JSON."""
    hidden = _redact.secret_fields(schema)
    visible = {k: (_redact.REDACTED if k in hidden else v) for k, v in (arguments or {}).items()}
    text = json.dumps(_redact.current().value(visible), ensure_ascii=False, default=str)
    return _clip(text, MAX_ARGUMENTS)


def deciders(request: ApprovalRequest, role_map: Mapping[str, Sequence[str]]) -> list[str]:
    """Who may decide the step, by name: those it names and those holding one of its roles."""
    names = request.escalate_to if request.escalated else request.approvers
    roles = request.escalate_to if request.escalated else request.approver_roles
    people = [*names, *role_map]
    return [
        person
        for person in dict.fromkeys(people)
        if may_decide(person, names=names, roles=roles, role_map=role_map)
        and (request.allow_self_approval or not same_person(person, request.run_user))
    ]


def payload(request: ApprovalRequest, approver: str, **extra: str) -> str:
    """The decision to paste into the UI's Signal / Update dialog (one JSON object)."""
    body: dict[str, str] = {"step_id": request.step_id, "approver": approver, **extra}
    if request.require_token:
        body["token"] = "<duragent approve ... --sign prints it>"
    return json.dumps(body, ensure_ascii=False)


def waiting(
    request: ApprovalRequest,
    *,
    role_map: Mapping[str, Sequence[str]],
    schema: Mapping[str, Any] | None,
) -> list[str]:
    """The lines describing one pending step and how to decide it."""
    what = {"tool_call": "approval", "input": "approval of the input", "review": "review"}
    lines = [
        f"**Waiting for {what[request.kind]}: step {request.step_id}** (agent {request.agent})"
    ]
    if request.tool:
        lines.append(
            # In code spans: the UI renders Markdown, which would curl the quotes of plain text.
            f"Tool `{request.tool}` with `{shown_arguments(request.arguments, schema)}`"
            + (f" (risk {request.risk})" if request.risk else "")
        )
    elif request.output is not None:
        lines.append(f"Answer: {_clip(_redact.current().text(request.output), 300)}")
    if request.reason or request.rule:
        rule = f"rule `{request.rule}`: " if request.rule else ""
        lines.append(f"Why: {rule}{_clip(_redact.current().text(request.reason), 300)}")
    names = request.escalate_to if request.escalated else request.approvers
    roles = [] if request.escalated else request.approver_roles
    people = deciders(request, role_map)
    who = [*names, *(f"role {r}" for r in roles)]
    lines.append(
        f"Who may decide: {', '.join(who) or 'nobody'}"
        + (f" ({', '.join(people)})" if people and roles else "")
        + (" (escalated)" if request.escalated else "")
    )
    then = "rejected" if request.on_timeout == "reject" or request.escalated else "escalated"
    lines.append(f"Deadline: {when(request.expires_at)}, then {then}")
    approver = people[0] if people else PLACEHOLDER
    lines.append("To approve, send Signal `approve` or Update `decide` with input:")
    lines.append(f"`{payload(request, approver)}`")
    lines.append("To reject, send Signal `reject` with input:")
    lines.append(f"`{payload(request, approver, reason='why')}`")
    return lines


class RunDetails:
    """Keeps the run's Current Details: ``doing`` as the run moves, ``decided`` when a decision
    is taken or refused, ``show`` when the desk's pending steps change."""

    def __init__(self, state: RunState, desk: ApprovalDesk) -> None:
        self._state = state
        self._desk = desk
        self._doing = "starting"
        self._last: str | None = None

    def doing(self, text: str) -> None:
        self._doing = _clip(_redact.current().text(text), 400)
        self.show()

    def decided(self, text: str) -> None:
        self._last = _clip(_redact.current().text(text), 400)
        self.show()

    def show(self) -> None:
        workflow.set_current_details(self.render())

    def render(self) -> str:
        """The pending steps when any, else what the run does; then the latest decision."""
        desk = self._desk
        pending = list(desk.pending.values())
        lines: list[str] = []
        for request in pending[:MAX_SHOWN]:
            if lines:
                lines.append("")
            schema = desk.schemas.get(request.tool or "")
            lines += waiting(request, role_map=desk.roles, schema=schema)
        if len(pending) > MAX_SHOWN:
            lines.append(f"… and {len(pending) - MAX_SHOWN} more (query `pending_approvals`)")
        if not lines:
            lines.append(self._doing)
        if self._last:
            lines.append(f"Last decision: {self._last}")
        return "\n".join(lines)
