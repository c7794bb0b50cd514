"""The tool-call gate of a run: arguments settled, every rule checked, every approval obtained.

One value: a call's arguments are settled against the tool's schema first
(``duragent._coerce``), and those exact values are checked, approved, hashed and executed.
Every matching approval rule must be satisfied; an approver's edit is checked again by every
rule (a blocked edit is refused, one that needs another approver waits for that approver).
The gate decides; what runs a call that passes (a tool activity, a delegated child run) is the
``execute`` it is given. Deterministic.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow

from duragent._approvals import args_hash, may_decide, same_person
from duragent._coerce import ArgumentsInvalid, validate_arguments
from duragent._guardrails import Decision, Rule
from duragent._messages import ToolCall, ToolSpec
from duragent._spec import AgentSpec
from duragent.workflows._asking import Approvals, why
from duragent.workflows._guard import Guard
from duragent.workflows._ledger import Ledger
from duragent.workflows._state import RunEnded, RunState

Execute = Callable[[ToolCall, "str | None"], Awaitable[None]]
"""Runs a call that passed the gate: ``execute(call, ref)``, ``ref`` the approval it followed."""

MAX_APPROVAL_ROUNDS = 20
"""Requests one tool call may open (several rules, edits that need other approvers)."""


class ToolGate:
    """Tool calls through validation, guardrails and approvals."""

    def __init__(self, state: RunState, ledger: Ledger, guard: Guard, approvals: Approvals) -> None:
        self.state = state
        self.ledger = ledger
        self.guard = guard
        self.approvals = approvals

    async def governed(
        self, agent: AgentSpec, tool: ToolSpec, call: ToolCall, execute: Execute
    ) -> None:
        """Validation, guardrails, every approval the arguments need, then the tool.

        One value: the arguments are settled against the tool's schema first, and those exact
        values are checked, approved, hashed and executed. Every matching approval rule must be
        satisfied, and an approver's edit is checked again by every rule: an edit that a block
        rule refuses is refused, one that needs another approver waits for that approver.
        """
        try:
            arguments = validate_arguments(tool.parameters, call.arguments)
        except ArgumentsInvalid as invalid:
            self._refuse_arguments(agent, tool, call, str(invalid), by_model=True)
            return
        call = call.model_copy(update={"arguments": arguments})
        decision = self._check_tool(agent, tool, call.arguments)
        if decision is None:
            self.state.tell(call, "not executed: blocked by policy")
            return
        ref: str | None = None
        satisfied: set[str] = set()
        for _ in range(MAX_APPROVAL_ROUNDS):
            if decision.action != "require_approval":
                break
            waiting = [r for r in decision.approval_rules if r.name not in satisfied]
            if not waiting:
                break
            rule = waiting[0]
            asked = (
                decision if decision.rule is not None and rule.name == decision.rule.name else None
            )
            verdict = await self.approvals.ask(
                "tool_call", agent, asked, arguments=call.arguments, rule=rule, tool=tool,
                reason=None if asked else (rule.message or f"rule {rule.name!r} matched"),
            )  # fmt: skip
            ref = self.state.last_request_id
            if verdict is None or verdict.action == "reject":
                if rule.on_reject == "end_run":
                    raise RunEnded("rejected", f"{tool.name} not approved: {why(verdict)}")
                self.state.tell(
                    call,
                    f"The call to {tool.name} was not approved ({why(verdict)}). Do not "
                    "retry it; tell the user it could not be done.",
                )
                return
            if verdict.action == "respond":
                self.state.tell(call, verdict.response or "")
                return
            if verdict.action == "edit" and verdict.arguments is not None:
                try:
                    edited = validate_arguments(tool.parameters, verdict.arguments)
                except ArgumentsInvalid as invalid:
                    self._refuse_arguments(agent, tool, call, str(invalid), by_model=False)
                    return
                call = call.model_copy(update={"arguments": edited})
                # The edit is checked again by every rule; the approver who wrote it has
                # approved these arguments for the rules they may decide, and no others.
                satisfied = set()
                decision = self._check_tool(agent, tool, call.arguments)
                if decision is None:
                    self.state.tell(
                        call, "not executed: the edited arguments are blocked by policy"
                    )
                    return
            satisfied |= self._rules_decided_by(verdict.approver, rule, decision.approval_rules)
        else:
            self.state.tell(
                call, f"not executed: {tool.name} was edited too many times in approval"
            )
            return
        await execute(call, ref)

    def _rules_decided_by(self, approver: str, asked: Rule, rules: list[Rule]) -> set[str]:
        """The rules one approval satisfies: the one asked, and every other the same person may
        decide (by name or role, separation of duties kept) that demands no signed token."""
        user = self.state.user
        decided = {asked.name}
        for rule in rules:
            if rule.require_token:
                continue
            if same_person(approver, user) and not rule.allow_self_approval:
                continue
            if may_decide(
                approver,
                names=rule.approvers,
                roles=rule.approver_roles,
                role_map=self.approvals.desk.roles,
            ):
                decided.add(rule.name)
        return decided

    def _refuse_arguments(
        self, agent: AgentSpec, tool: ToolSpec, call: ToolCall, problem: str, *, by_model: bool
    ) -> None:
        """Arguments that do not settle to one value: refused, recorded, told to the model."""
        whose = "" if by_model else "the approver's edited arguments: "
        text = f"invalid arguments for tool {tool.name!r}: {whose}{problem}"
        self.ledger.errors["validation_error"] += 1
        # Recorded as the tool activity used to record bad arguments (a tool_error step whose
        # detail is validation_error), though the tool never ran.
        self.ledger.record(
            "tool_error",
            agent=agent.name,
            turn=self.state.turn,
            at=workflow.now(),
            tool=tool.name,
            arguments=call.arguments if by_model else None,
            output=text[:2000],
            detail="validation_error",
            args_hash=args_hash(call.arguments) if by_model else None,
            spec_hash=self.state.spec_hash(agent),
        )
        self.state.tell(call, f"not executed: {text}. Call the tool again with valid arguments.")

    def _check_tool(
        self, agent: AgentSpec, tool: ToolSpec, arguments: dict[str, Any]
    ) -> Decision | None:
        """The tool-call decision, or ``None`` when blocked (told to the model by the caller)."""
        decision = self.guard.check(
            agent, "tool_call", turn=self.state.turn, at=workflow.now(), spec_hash=self.state.spec_hash(agent),
            tool=tool.name, risk=tool.risk, arguments=arguments,
        )  # fmt: skip
        if decision.action == "block":
            assert decision.rule is not None
            if decision.rule.on_block == "end_run":
                raise RunEnded("rejected", f"{tool.name} blocked by policy: {decision.reason}")
            return None
        return decision

    async def unknown_outcome(
        self, agent: AgentSpec, tool: ToolSpec, call: ToolCall, execute: Execute
    ) -> None:
        """A tool that may not be retried blindly lost its worker mid-call: ask, do not guess."""
        self.ledger.errors["unknown_outcome"] += 1
        review = agent.review
        if not (review.reviewers or review.reviewer_roles):
            self.state.tell(
                call,
                f"The outcome of {tool.name} is unknown (the worker running it stopped "
                "responding). Do not call it again; tell the user a person will check.",
            )
            return
        verdict = await self.approvals.ask(
            "tool_call", agent, None, arguments=call.arguments, rule=None, tool=tool,
            reason=f"the outcome of {tool.name} is unknown: its worker stopped responding. Check "
            "whether it took effect: approve to run it again, respond with what happened, or reject",
        )  # fmt: skip
        if verdict is not None and verdict.action == "approve":
            await execute(call, self.state.last_request_id)
        elif verdict is not None and verdict.action == "respond":
            self.state.tell(call, verdict.response or "")
        else:
            self.state.tell(call, f"{tool.name} could not be completed; tell the user.")
