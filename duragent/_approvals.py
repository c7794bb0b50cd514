"""Approvals: what a paused step asks for, what a human decides, and whether the decision counts.

``check_decision`` is the single gate every decision passes, whichever way it arrives (the
``decide`` update's validator, the ``approve``/``reject`` signals' handlers): signals cannot be
refused by Temporal and may arrive more than once, so the same checks run again inside the
workflow and a refused decision is recorded as such. Pure and deterministic: workflow-safe.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator
from temporalio.exceptions import ApplicationError

from duragent._wire import Wire

ApprovalKind = Literal["tool_call", "input", "review"]
DecisionAction = Literal["approve", "reject", "edit", "respond"]

TOKEN_SHAPE = re.compile(r"v2\.([0-9]{1,12})\.([0-9a-f]{64})")
"""A signed approval token (``duragent.approval_tokens``): version, expiry, HMAC."""
MAX_NAME = 200
MAX_REASON = 4000
MAX_RESPONSE = 100_000
DECISION_REFUSED = "DecisionRefused"
"""The failure type of a refused ``decide`` update: its message is the reason, for people, and
it leaves without a stack trace (``duragent.workers._payloads.UserFacingFailureConverter``)."""
MAX_REFUSAL = 1000


def refusal(reason: str) -> ApplicationError:
    """The error that refuses a decision: the reason as its whole message, nothing else.

    Raised from the ``decide`` update's validator, so it never enters history; what the caller
    (the CLI, a client, the Web UI's Update dialog) shows is this message alone.
    """
    text = reason if len(reason) <= MAX_REFUSAL else reason[: MAX_REFUSAL - 1] + "…"
    return ApplicationError(text, type=DECISION_REFUSED, non_retryable=True)


class _Frozen(Wire):
    """Unknown fields: dropped off the wire, refused in Python (``duragent._wire``)."""


def canonical_json(value: Any) -> str:
    """The one JSON text of a value: sorted keys, no spaces. What hashes are taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def normalize_identity(name: str) -> str:
    """The one form of a person's or role's name wherever names are compared.

    Unicode NFKC (full-width and compatibility forms fold to plain ones), invisible format
    characters (zero-width spaces, joiners, direction marks) dropped, case folded, whitespace
    collapsed: "LEE", " lee ", full-width "lee" and "lee" with a zero-width space are one person.
    """
    folded = unicodedata.normalize("NFKC", name)
    visible = "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")
    return " ".join(visible.casefold().split())


def normalize_roles(roles: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """An app's approver → roles mapping with every name normalized (``normalize_identity``)."""
    out: dict[str, list[str]] = {}
    for name, names in roles.items():
        out.setdefault(normalize_identity(name), []).extend(normalize_identity(r) for r in names)
    return out


def may_decide(
    approver: str,
    *,
    names: Sequence[str],
    roles: Sequence[str],
    role_map: Mapping[str, Sequence[str]],
) -> bool:
    """Whether ``approver`` is one of ``names`` or holds one of ``roles``, names normalized."""
    who = normalize_identity(approver)
    if not who:
        return False
    if who in {normalize_identity(n) for n in names}:
        return True
    held = {normalize_identity(r) for r in role_map.get(who, ())}
    held |= {normalize_identity(r) for r in role_map.get(approver, ())}
    return bool(held & {normalize_identity(r) for r in roles})


def same_person(a: str | None, b: str | None) -> bool:
    """Whether two names are one person once normalized (never true for an empty name)."""
    if a is None or b is None:
        return False
    left, right = normalize_identity(a), normalize_identity(b)
    return bool(left) and left == right


def args_hash(arguments: Mapping[str, Any] | None) -> str:
    """sha256 of a tool call's arguments in canonical JSON: ties decisions to exact arguments."""
    return hashlib.sha256(canonical_json(dict(arguments or {})).encode()).hexdigest()


class ApprovalRequest(_Frozen):
    """A step waiting for a human: a tool call, a run's input, or a final answer to review."""

    step_id: str
    kind: ApprovalKind
    agent: str
    rule: str | None = None
    reason: str = ""
    tool: str | None = None
    risk: str | None = None
    arguments: dict[str, Any] | None = None
    args_hash: str | None = None
    output: str | None = None
    """For reviews: the answer under review."""
    confidence: float | None = None
    confidence_source: str | None = None
    approvers: list[str] = Field(default_factory=list)
    approver_roles: list[str] = Field(default_factory=list)
    allow_self_approval: bool = False
    require_token: bool = False
    run_user: str | None = None
    requested_at: datetime
    expires_at: datetime
    on_timeout: Literal["reject", "escalate"] = "reject"
    escalate_to: list[str] = Field(default_factory=list)
    escalated: bool = False


class ApprovalDecision(_Frozen):
    """A human's decision on a pending step (the ``approve``/``reject`` signals, ``decide`` update).

    ``action``: approve; reject; edit (approve with ``arguments`` replacing the tool call's, or
    for a review, ``response`` replacing the answer); respond (do not run the tool: ``response``
    is what the model is told instead).
    """

    # Strict on the wire too: a decision is a person's, and a field this worker does not
    # understand (a newer client's condition on the approval) must not be silently dropped.
    model_config = ConfigDict(frozen=True, extra="forbid")

    step_id: str = Field(min_length=1, max_length=64)
    approver: str = Field(min_length=1, max_length=MAX_NAME)
    reason: str = Field(default="", max_length=MAX_REASON)
    action: DecisionAction = "approve"
    arguments: dict[str, Any] | None = None
    response: str | None = Field(default=None, max_length=MAX_RESPONSE)
    token: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _fits_action(self) -> ApprovalDecision:
        if self.action == "respond" and not self.response:
            raise ValueError(
                "action 'respond' needs 'response': the text the model is told instead"
            )
        if self.action != "edit" and self.arguments is not None:
            raise ValueError(f"'arguments' only go with action 'edit', not {self.action!r}")
        return self

    @property
    def approval_id(self) -> str:
        """The ``decide`` update id: a digest of the whole decision (token included).

        Resending the very same decision returns its first outcome; any other payload gets
        another id, so nobody can claim an id first with a junk decision and have the real
        approver's command answered with that junk's refusal.
        """
        digest = hashlib.sha256(canonical_json(self.model_dump(mode="json")).encode()).hexdigest()
        return f"decide-{self.step_id}-{digest[:32]}"


class ApprovalOutcome(_Frozen):
    """What became of a decision: accepted, or refused with the reason."""

    step_id: str
    accepted: bool
    action: DecisionAction | None = None
    approver: str | None = None
    reason: str = ""
    record_step_id: str | None = None
    """The audit record of the decision (or of its refusal)."""


def check_decision(
    decision: ApprovalDecision,
    pending: Mapping[str, ApprovalRequest],
    decided: Mapping[str, ApprovalOutcome],
    *,
    roles: Mapping[str, Sequence[str]],
) -> str | None:
    """Why ``decision`` must be refused, or ``None`` when it may be applied.

    Token signatures are checked separately (they need the approver's key, which never enters
    workflow history); here only whether a token is present where the rule demands one.
    """
    step = decision.step_id
    if step in decided:
        first = decided[step]
        return f"step {step!r} was already decided: {first.action} by {first.approver}"
    request = pending.get(step)
    if request is None:
        waiting = ", ".join(sorted(pending)) or "none"
        return f"unknown step {step!r}; steps waiting for a decision: {waiting}"
    approver = decision.approver
    if not normalize_identity(approver):
        return "the approver's name is empty once invisible characters and spaces are removed"
    allowed_names = set(request.escalate_to if request.escalated else request.approvers)
    allowed_roles = set(request.escalate_to if request.escalated else request.approver_roles)
    if not may_decide(
        approver, names=list(allowed_names), roles=list(allowed_roles), role_map=roles
    ):
        who = sorted(allowed_names) + [f"role {r}" for r in sorted(allowed_roles)]
        return f"{approver!r} may not decide step {step!r}; allowed: {', '.join(who) or 'nobody'}"
    # Any step a rule gates, read-risk tools included (@tool's default risk is read): a rule
    # that the run's own user could wave through would be a rule in name only.
    if same_person(approver, request.run_user) and not request.allow_self_approval:
        return (
            f"separation of duties: {approver!r} started this run and may not decide its own "
            f"step {step!r}; another approver must"
        )
    if decision.action == "edit":
        if request.kind == "tool_call" and decision.arguments is None:
            return "action 'edit' on a tool call needs 'arguments' (the corrected arguments)"
        if request.kind != "tool_call" and not decision.response:
            return "action 'edit' on a review or input needs 'response' (the corrected text)"
    if decision.action == "respond" and request.kind != "tool_call":
        return "action 'respond' only answers a tool call; use 'edit' to replace an answer"
    if decision.token is not None and not TOKEN_SHAPE.fullmatch(decision.token):
        return "malformed approval token (expected v2.<expires>.<64 hex digits>)"
    if request.require_token and not decision.token:
        return (
            f"step {step!r} needs a signed approval token (the rule {request.rule!r} demands one)"
        )
    return None
