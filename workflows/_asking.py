"""Asking people: an approval or review request opened on the desk, its wait, and its answer;
and the audit trail, written before anyone is asked (a paused run's record is already durable).

Who decides and how long they have come from the rule that asked, else the agent's review
policy. Deterministic: waiting is the desk's ``wait_condition`` with a timer; the audit write is
a local activity keyed by step, so a retry never writes twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

from duragent._approvals import ApprovalDecision, ApprovalKind, ApprovalRequest, args_hash
from duragent._contracts import AuditTrail
from duragent._guardrails import Decision, Rule
from duragent._messages import AuditBatch, AuditEntry, ToolSpec
from duragent._spec import AgentSpec
from duragent._telemetry import AGENT_NAME, TOOL_NAME, span
from duragent.workflows._desk import ApprovalDesk
from duragent.workflows._ledger import Ledger
from duragent.workflows._state import RunEnded, RunState


def why(verdict: ApprovalDecision | None) -> str:
    """A decision in words, for the model and the run's error: "reject by lee: too much"."""
    if verdict is None:
        return "no decision before the deadline"
    return f"{verdict.action} by {verdict.approver}" + (
        f": {verdict.reason}" if verdict.reason else ""
    )


class Approvals:
    def __init__(self, state: RunState, ledger: Ledger, desk: ApprovalDesk) -> None:
        self.state = state
        self.ledger = ledger
        self.desk = desk

    async def flush_audit(self) -> None:
        """Append the steps not yet in the audit log (keyed, so a retry never writes twice)."""
        state = self.state
        steps = self.ledger.steps[state.audited :]
        if not steps:
            return
        info = workflow.info()
        batch = AuditBatch(
            entries=[
                AuditEntry(
                    workflow_id=info.workflow_id,
                    run_id=info.run_id,
                    agent=step.agent,
                    tenant=state.request.tenant,
                    user=state.request.user,
                    step=step,
                    spec_hash=step.spec_hash
                    or (state.specs.hashes.get(step.agent) if state.specs else None),
                )
                for step in steps
            ]
        )
        await workflow.execute_local_activity_method(
            AuditTrail.append,
            batch,
            start_to_close_timeout=timedelta(seconds=30),
            summary=f"audit {len(steps)} records",
        )
        state.audited += len(steps)

    async def ask(
        self,
        kind: ApprovalKind,
        agent: AgentSpec,
        decision: Decision | None,
        *,
        arguments: dict[str, Any],
        rule: Rule | None,
        tool: ToolSpec | None = None,
        output: str | None = None,
        confidence: float | None = None,
        confidence_source: str | None = None,
        reason: str | None = None,
        deciders: tuple[list[str], list[str]] | None = None,
    ) -> ApprovalDecision | None:
        """Open an approval (or review) request and wait for its decision or timeout.

        Who decides and how long they have: the rule's, else the agent's review policy's;
        ``deciders`` (names, roles) and ``reason`` override them (degraded runs, unknown outcomes).
        """
        review = agent.review
        now = workflow.now()
        if rule is not None:
            approvers, roles = rule.approvers, rule.approver_roles
            timeout_s, on_timeout, escalate_to = rule.timeout_s, rule.on_timeout, rule.escalate_to
            reason = reason or (decision.reason if decision else "")
        else:
            approvers, roles = review.reviewers, review.reviewer_roles
            timeout_s, on_timeout, escalate_to = (
                review.timeout_s,
                review.on_timeout,
                review.escalate_to,
            )
            reason = reason or self.review_reason(agent, confidence)
        if deciders is not None:
            approvers, roles = deciders
        request = ApprovalRequest(
            step_id=self.ledger.next_step_id(),
            kind=kind,
            agent=agent.name,
            rule=rule.name if rule else None,
            reason=reason,
            tool=tool.name if tool else None,
            risk=tool.risk if tool else None,
            arguments=arguments,
            args_hash=args_hash(arguments),
            output=output,
            confidence=confidence,
            confidence_source=confidence_source,
            approvers=list(approvers),
            approver_roles=list(roles),
            allow_self_approval=rule.allow_self_approval if rule else False,
            require_token=rule.require_token if rule else False,
            run_user=self.state.user,
            requested_at=now,
            expires_at=now + timedelta(seconds=timeout_s),
            on_timeout=on_timeout,
            escalate_to=list(escalate_to),
        )
        self.state.last_request_id = request.step_id
        self.desk.open(request, spec_hash=self.state.spec_hash(agent))
        await self.flush_audit()
        if self.state.request.run_config.on_approval == "end":
            raise RunEnded(
                "awaiting_review" if kind == "review" else "awaiting_approval",
                f"{kind} {request.step_id} requested ({request.reason}); the run was started "
                "with on_approval=end, so it ends here instead of waiting for a person",
            )
        with span(
            f"await_approval {request.tool or kind}",
            {
                AGENT_NAME: agent.name,
                "duragent.approval.step_id": request.step_id,
                "duragent.approval.kind": kind,
                "duragent.approval.rule": request.rule,
                TOOL_NAME: request.tool,
            },
            in_workflow=True,
        ) as waiting:
            verdict = await self.desk.wait(request.step_id)
            waiting.set_attribute(
                "duragent.approval.outcome", verdict.action if verdict else "timed_out"
            )
            if verdict is not None:
                waiting.set_attribute("duragent.approval.approver", verdict.approver)
        if verdict is None or verdict.action == "reject":
            self.ledger.errors["approval_rejected"] += 1
        return verdict

    def review_reason(self, agent: AgentSpec, confidence: float | None) -> str:
        threshold = agent.review.confidence_threshold
        if threshold is not None and (confidence is None or confidence < threshold):
            shown = "unknown" if confidence is None else f"{confidence:.2f}"
            return f"confidence {shown} below the review threshold {threshold}"
        return (
            f"risk score {self.state.max_risk} above the review threshold "
            f"{agent.review.risk_threshold}"
        )
