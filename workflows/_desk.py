"""The approval desk of a run: pending requests, decisions, timeouts and escalation.

A paused step costs nothing while it waits: the workflow sits in ``wait_condition`` with a
timer, and may be evicted from the worker's cache and replayed when the decision arrives. Every
request, decision, refusal, escalation and timeout becomes a ``StepRecord``.

Decisions arrive through the ``decide`` update (validated before it enters history) or the
``approve``/``reject`` signals (which Temporal cannot refuse and may deliver twice); both go
through ``check_decision`` here, under a lock, so two decisions for one step cannot both win.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from temporalio import workflow
from temporalio.common import RetryPolicy

from duragent._approvals import (
    ApprovalDecision,
    ApprovalOutcome,
    ApprovalRequest,
    args_hash,
    canonical_json,
    check_decision,
    normalize_roles,
    refusal,
)
from duragent._coerce import ArgumentsInvalid, validate_arguments
from duragent._contracts import TokenVerification
from duragent._messages import ResolvedSpecs, StepKind, TokenCheck
from duragent._names import SIGNAL_APPROVE, SIGNAL_REJECT
from duragent.workflows._calls import ACTIVITY_FAILURES
from duragent.workflows._ledger import Ledger
from duragent.workflows._state import RunState

MAX_DETAIL = 500
MAX_REFUSAL_RECORDS = 100
"""Refused decisions recorded in full per run; later ones are only counted."""


def when(at: datetime) -> str:
    """A time as people read it in the Web UI: UTC to the second."""
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


_DONE = {"approve": "approved", "reject": "rejected", "edit": "edited", "respond": "answered"}


def _clip(text: str, limit: int = MAX_DETAIL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _problems(exc: ValidationError) -> str:
    """What is wrong with a payload, in a line: field names clipped (they are the sender's)."""
    return "; ".join(
        f"{'.'.join(_clip(str(p), 40) for p in e['loc']) or 'decision'}: {e['msg']}"
        for e in exc.errors()[:5]
    )


class ApprovalDesk:
    def __init__(
        self,
        state: RunState,
        ledger: Ledger,
        on_change: Callable[[], None],
        on_decision: Callable[[str], None] = lambda text: None,
    ) -> None:
        self.pending: dict[str, ApprovalRequest] = {}
        self.decided: dict[str, ApprovalOutcome] = {}
        self.roles: dict[str, list[str]] = {}
        self.schemas: dict[str, dict[str, Any]] = {}
        """Tool name to its arguments' JSON schema, for checking edits."""
        self._accepted: dict[str, ApprovalDecision] = {}
        self._ledger = ledger
        self._on_change = on_change
        self._on_decision = on_decision
        """Told in words what became of each decision (the run's Current Details show it)."""
        self._lock = asyncio.Lock()
        self._refusals = 0
        self._state = state

    def configure(self, specs: ResolvedSpecs) -> None:
        """Who holds which role, and each tool's schema (for checking edits), from the specs."""
        self.roles = normalize_roles(specs.approvers)
        self.schemas = {name: t.parameters for name, t in specs.tools.items()}

    def open(self, request: ApprovalRequest, *, spec_hash: str | None) -> None:
        """Record the request and make it visible (status, pending count, query)."""
        self.pending[request.step_id] = request
        kind: StepKind = "review_requested" if request.kind == "review" else "approval_requested"
        self._ledger.steps.append(
            self._ledger.make(
                kind,
                step_id=request.step_id,
                agent=request.agent,
                turn=self._state.turn,
                at=request.requested_at,
                tool=request.tool,
                arguments=request.arguments,
                rule=request.rule,
                reason=request.reason,
                args_hash=request.args_hash,
                spec_hash=spec_hash,
                output=request.output,
                detail=f"expires {request.expires_at.isoformat()}",
            )
        )
        self._on_change()

    async def wait(self, step_id: str) -> ApprovalDecision | None:
        """The accepted decision, or ``None`` when the request timed out (after any escalation)."""
        # No try/finally here: a waiting run evicted from the worker's cache is closed with
        # GeneratorExit, outside the workflow's event loop, where workflow calls must not run.
        started = workflow.now()
        decision = await self._decision_or_timeout(step_id)
        self._ledger.add_time("approval", (workflow.now() - started).total_seconds() * 1000)
        self.pending.pop(step_id, None)
        self._on_change()
        return decision

    async def _decision_or_timeout(self, step_id: str) -> ApprovalDecision | None:
        while True:
            request = self.pending[step_id]
            remaining = (request.expires_at - workflow.now()).total_seconds()
            try:
                await workflow.wait_condition(
                    lambda: step_id in self._accepted,
                    timeout=max(remaining, 0.001),
                    timeout_summary=(
                        f"{'review' if request.kind == 'review' else 'approval'} {step_id}: "
                        f"{request.tool or request.kind}, deadline {when(request.expires_at)}"
                    ),
                )
                return self._accepted[step_id]
            except TimeoutError:
                if request.on_timeout == "escalate" and not request.escalated:
                    self._escalate(request)
                    continue
                self._time_out(request)
                return None

    def _escalate(self, request: ApprovalRequest) -> None:
        lasted = request.expires_at - request.requested_at
        escalated = request.model_copy(
            update={"escalated": True, "expires_at": workflow.now() + lasted}
        )
        self.pending[request.step_id] = escalated
        self._ledger.record(
            "approval_escalated",
            agent=request.agent,
            turn=self._state.turn,
            at=workflow.now(),
            ref=request.step_id,
            rule=request.rule,
            reason=f"no decision in {lasted}; escalated to {', '.join(request.escalate_to)}",
            args_hash=request.args_hash,
        )
        self._on_change()
        self._on_decision(
            f"{request.step_id} escalated to {', '.join(request.escalate_to)} at "
            f"{when(workflow.now())}; new deadline {when(escalated.expires_at)}"
        )

    def _time_out(self, request: ApprovalRequest) -> None:
        record = self._ledger.record(
            "approval_timeout",
            agent=request.agent,
            turn=self._state.turn,
            at=workflow.now(),
            ref=request.step_id,
            rule=request.rule,
            action="reject",
            via="timeout",
            reason=f"no decision by {request.expires_at.isoformat()}: rejected by policy",
            args_hash=request.args_hash,
        )
        self.decided[request.step_id] = ApprovalOutcome(
            step_id=request.step_id,
            accepted=True,
            action="reject",
            approver="timeout",
            reason="timed out",
            record_step_id=record.step_id,
        )
        self._on_decision(
            f"{request.step_id} timed out at {when(workflow.now())}: rejected by policy"
        )

    @staticmethod
    def parse(inputs: Sequence[Any]) -> ApprovalDecision:
        """The one decision an update carries; ``ValueError`` saying what is wrong otherwise."""
        if len(inputs) != 1:
            raise ValueError(
                f"expected exactly one decision object, got {len(inputs)} inputs; send one "
                'JSON object like {"step_id": "s4", "approver": "lee"}'
            )
        payload = inputs[0]
        if isinstance(payload, ApprovalDecision):
            return payload
        if not isinstance(payload, dict):  # a JSON null, a string, a list
            shown = "null" if payload is None else type(payload).__name__
            raise ValueError(
                f"a decision should be an object (expected an ApprovalDecision object), got "
                f'{shown}; send one JSON object like {{"step_id": "s4", "approver": "lee"}}'
            )
        try:
            return ApprovalDecision.model_validate(payload)
        except ValidationError as exc:
            raise ValueError(f"malformed decision: {_problems(exc)}") from None

    def validate(self, inputs: Sequence[Any]) -> None:
        """For the ``decide`` update's validator: raise ``refusal`` (the reason, for people) to
        refuse before the decision enters history; whatever the inputs hold, nothing else."""
        try:
            reason = self._problem(self.parse(inputs))
        except ValueError as exc:
            reason = str(exc)
        except (TypeError, RecursionError) as exc:  # a payload nested past what we walk
            reason = f"malformed decision: {type(exc).__name__}"
        if reason is not None:
            raise refusal(reason)

    def _problem(self, decision: ApprovalDecision) -> str | None:
        """Why ``decision`` must be refused now: every check but the token's signature."""
        return check_decision(
            decision, self.pending, self.decided, roles=self.roles
        ) or self._edit_problem(decision)

    def _edit_problem(self, decision: ApprovalDecision) -> str | None:
        """Why an edit's arguments cannot stand as written, or ``None``.

        Edited arguments must already be the values that will run (``validate_arguments``
        changes nothing the approver wrote): what an approver approved, hashed and signed is
        then exactly what executes, and a typo is refused while the request still waits.
        """
        request = self.pending.get(decision.step_id)
        if decision.action != "edit" or request is None or request.kind != "tool_call":
            return None
        schema = self.schemas.get(request.tool or "")
        if schema is None or decision.arguments is None:
            return None
        try:
            settled = validate_arguments(schema, decision.arguments)
        except ArgumentsInvalid as invalid:
            return f"edited arguments for {request.tool!r} are invalid: {invalid}"
        changed = [
            f"{key}: write {canonical_json(settled[key])}, not {canonical_json(value)}"
            for key, value in decision.arguments.items()
            if canonical_json(settled.get(key)) != canonical_json(value)
        ]
        if changed:
            return (
                f"edited arguments for {request.tool!r} must be written as they will run: "
                + "; ".join(changed)
            )
        return None

    def ignore_signal(self, name: str, count: int) -> None:
        """A signal this workflow does not define: recorded as refused, otherwise ignored."""
        self._refuse(
            "?",
            None,
            f"unknown signal {_clip(name, 100)!r} with {count} input(s) ignored; "
            f"decisions go to the {SIGNAL_APPROVE!r} or {SIGNAL_REJECT!r} signal",
            "signal",
        )

    async def decide_inputs(
        self, inputs: Sequence[Any], *, via: str, action: str | None
    ) -> ApprovalOutcome:
        """A signal's inputs, whatever their count: exactly one decision object is decided;
        anything else is refused and recorded, and the run goes on."""
        if len(inputs) != 1:
            return self._refuse(
                "?",
                None,
                f"expected exactly one decision object, got {len(inputs)} inputs",
                via,
            )
        return await self.decide_raw(inputs[0], via=via, action=action)

    async def decide_raw(self, payload: Any, *, via: str, action: str | None) -> ApprovalOutcome:
        """A signal's payload: parse it, then decide. Malformed payloads are refused and recorded."""
        data = dict(payload) if isinstance(payload, dict) else None
        if data is not None and action is not None:
            if data.get("action", action) != action and action == "reject":
                data["action"] = "reject"
            data.setdefault("action", action)
        try:
            if data is None:
                raise ValueError(
                    f"expected an ApprovalDecision object, got {type(payload).__name__}"
                )
            decision = ApprovalDecision.model_validate(data)
        except (ValidationError, ValueError) as exc:
            step = data.get("step_id") if data else None
            who = data.get("approver") if data else None
            problem = _problems(exc) if isinstance(exc, ValidationError) else str(exc)
            return self._refuse(
                step if isinstance(step, str) else "?",
                who if isinstance(who, str) else None,
                f"malformed decision: {problem}",
                via,
            )
        if via == "signal" and action == "approve" and decision.action == "reject":
            return self._refuse(
                decision.step_id, decision.approver, "use the 'reject' signal to reject", via
            )
        return await self.decide(decision, via=via)

    async def decide(self, decision: ApprovalDecision, *, via: str) -> ApprovalOutcome:
        """Apply a decision if it passes every check; record it either way."""
        async with self._lock:
            try:
                reason = self._problem(decision)
                request = self.pending.get(decision.step_id)
                if reason is None and request and (decision.token or request.require_token):
                    # Checked again after: the step may have timed out (or been decided) while
                    # the token was being verified.
                    reason = await self._verify_token(decision, request) or self._problem(decision)
            except ACTIVITY_FAILURES as failure:
                reason = f"the approval token could not be checked: {failure}"
            except (ValueError, TypeError, RecursionError) as exc:
                # Whatever a decision holds, a signal handler must never raise: that would fail
                # every workflow task of the run from then on.
                reason = f"malformed decision: {type(exc).__name__}"
            request = self.pending.get(decision.step_id)
            if reason is not None:
                return self._refuse(decision.step_id, decision.approver, reason, via)
            assert request is not None
            kind: StepKind = "review_decided" if request.kind == "review" else "approval_decided"
            record = self._ledger.record(
                kind,
                agent=request.agent,
                turn=self._state.turn,
                at=workflow.now(),
                ref=decision.step_id,
                rule=request.rule,
                action=decision.action,
                approver=decision.approver,
                reason=_clip(decision.reason),
                via=via,
                arguments=decision.arguments,
                output=decision.response,
                args_hash=self._decided_hash(decision, request),
            )
            outcome = ApprovalOutcome(
                step_id=decision.step_id,
                accepted=True,
                action=decision.action,
                approver=decision.approver,
                reason=decision.reason,
                record_step_id=record.step_id,
            )
            self.decided[decision.step_id] = outcome
            self._accepted[decision.step_id] = decision
            self._on_decision(
                f"{decision.step_id} {_DONE[decision.action]} by {decision.approver} at "
                f"{when(workflow.now())} (via {via})"
                + (f": {_clip(decision.reason, 200)}" if decision.reason else "")
            )
            return outcome

    def _refuse(self, step_id: str, approver: str | None, reason: str, via: str) -> ApprovalOutcome:
        self._ledger.errors["decision_refused"] += 1
        self._refusals += 1
        record_id: str | None = None
        # A flood of junk decisions must not grow the run's record without bound: the first
        # MAX_REFUSAL_RECORDS are recorded in full, the rest only counted.
        if self._refusals <= MAX_REFUSAL_RECORDS:
            record = self._ledger.record(
                "approval_refused",
                agent=self._state.agent,
                turn=self._state.turn,
                at=workflow.now(),
                ref=_clip(step_id, 64),
                approver=_clip(approver, 200) if approver else None,
                reason=_clip(reason),
                via=via,
            )
            record_id = record.step_id
        self._on_decision(
            f"refused at {when(workflow.now())} (via {via}, step {_clip(step_id, 64)!r}): "
            f"{_clip(reason, 300)}"
        )
        return ApprovalOutcome(
            step_id=_clip(step_id, 64),
            accepted=False,
            approver=_clip(approver, 200) if approver else None,
            reason=_clip(reason),
            record_step_id=record_id,
        )

    @staticmethod
    def _decided_hash(decision: ApprovalDecision, request: ApprovalRequest) -> str | None:
        """The hash a decision binds: of the edited arguments or text when it edits, else the request's."""
        if decision.action == "edit":
            if request.kind == "tool_call":
                return args_hash(decision.arguments)
            return args_hash({request.kind: decision.response})
        return request.args_hash

    async def _verify_token(
        self, decision: ApprovalDecision, request: ApprovalRequest
    ) -> str | None:
        if not decision.token:
            return f"step {request.step_id!r} needs a signed approval token"
        verdict = await workflow.execute_local_activity_method(
            TokenVerification.verify_token,
            TokenCheck(
                token=decision.token,
                workflow_id=workflow.info().workflow_id,
                step_id=request.step_id,
                approver=decision.approver,
                args_hash=self._decided_hash(decision, request),
                action=decision.action,
                response=decision.response,
            ),
            start_to_close_timeout=timedelta(seconds=10),
            # Bounded: the desk's lock is held meanwhile, and a verdict that never comes would
            # keep every other decision (and the run's end) waiting.
            schedule_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=3),
            summary=f"verify approval token of {decision.approver}",
        )
        return None if verdict.ok else verdict.reason
