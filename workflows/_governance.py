"""Governance checkpoints of a run: input and output guardrails, approvals, review, degrading.

Tool calls pass their own gate (``duragent.workflows._tool_gate``), built on these. A mixin of
``AgentRun`` (its state lives on the workflow instance). Deterministic like the rest
of ``workflows/``: rule evaluation is pure, waiting is ``workflow.wait_condition`` with a timer,
and only the grader's model call is an activity.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from duragent.workflows._calls import (
    ACTIVITY_FAILURES,
    call_model,
    error_type,
    grading_request,
    parse_grade,
)
from duragent.workflows._desk import ApprovalDesk
from duragent.workflows._guard import Guard
from duragent.workflows._ledger import Ledger
from temporalio import workflow

from duragent._approvals import (
    ApprovalDecision,
    ApprovalKind,
    ApprovalRequest,
    args_hash,
)
from duragent._guardrails import Decision, Rule, Stage
from duragent._messages import (
    AuditBatch,
    AuditEntry,
    Message,
    ModelRequest,
    ModelResponse,
    ResolvedSpecs,
    RunRequest,
    RunStatus,
    ToolCall,
    ToolSpec,
)
from duragent._names import ACTIVITY_AUDIT
from duragent._spec import AgentSpec
from duragent._telemetry import AGENT_NAME, TOOL_NAME, span


class RunEnded(Exception):
    """Ends the run early with a status (a block, a rejection, a limit)."""

    def __init__(self, status: RunStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Governance:
    """The governance checkpoints of ``AgentRun`` (a mixin; state lives on the workflow)."""

    _ledger: Ledger
    _guard: Guard
    _desk: ApprovalDesk
    _specs: ResolvedSpecs | None
    _request: RunRequest | None
    _messages: list[Message]
    _turn: int
    _max_risk: float | None
    _last_request_id: str | None
    _degraded: bool
    _audited: int

    async def _flush_audit(self) -> None:
        """Append the steps not yet in the audit log (keyed, so a retry never writes twice)."""
        steps = self._ledger.steps[self._audited :]
        if not steps:
            return
        request = self._request
        info = workflow.info()
        batch = AuditBatch(
            entries=[
                AuditEntry(
                    workflow_id=info.workflow_id,
                    run_id=info.run_id,
                    agent=step.agent,
                    tenant=request.tenant if request else None,
                    user=request.user if request else None,
                    step=step,
                    spec_hash=step.spec_hash
                    or (self._specs.hashes.get(step.agent) if self._specs else None),
                )
                for step in steps
            ]
        )
        await workflow.execute_local_activity(
            ACTIVITY_AUDIT,
            batch,
            result_type=int,
            start_to_close_timeout=timedelta(seconds=30),
            summary=f"audit {len(steps)} records",
        )
        self._audited += len(steps)

    async def _execute_tool(
        self,
        request: RunRequest,
        agent: AgentSpec,
        tool: ToolSpec,
        call: ToolCall,
        *,
        ref: str | None,
    ) -> None:
        raise NotImplementedError

    def _tell(self, call: ToolCall, text: str) -> None:
        raise NotImplementedError

    def _hash(self, agent: AgentSpec) -> str | None:
        return self._specs.hashes.get(agent.name) if self._specs else None

    async def _check_input(self, agent: AgentSpec, text: str) -> str:
        decision = self._guard.check(
            agent, "input", turn=0, at=workflow.now(), spec_hash=self._hash(agent), text=text
        )
        if decision.action == "block":
            raise RunEnded("rejected", f"input blocked by policy: {decision.reason}")
        if decision.redacted_text is not None:
            # Whichever action decides, a matching redact rule applies: the approver, the
            # model and the record see the redacted text.
            text = decision.redacted_text
        if decision.action == "require_approval":
            assert decision.rule is not None
            verdict = await self._ask(
                "input", agent, decision, arguments={"input": text}, rule=decision.rule
            )
            if verdict is None or verdict.action == "reject":
                raise RunEnded("rejected", f"input not approved: {self._why(verdict)}")
            if verdict.action == "edit" and verdict.response:
                return self._recheck_edit(agent, "input", verdict.response)
        return text

    def _recheck_edit(self, agent: AgentSpec, stage: Stage, text: str) -> str:
        """A human's rewritten input or answer passes the stage's block and redact rules too
        (the human stands in for its approval or review, not for its other rules)."""
        decision = self._guard.check(
            agent, stage, turn=self._turn, at=workflow.now(), spec_hash=self._hash(agent),
            text=text,
        )  # fmt: skip
        if decision.action == "block":
            raise RunEnded(
                "rejected", f"the edited {stage} is blocked by policy: {decision.reason}"
            )
        return decision.redacted_text if decision.redacted_text is not None else text

    async def _check_output(self, agent: AgentSpec, response: ModelResponse) -> str | None:
        """The answer to return, or ``None`` when a rule sent the model back to try again."""
        answer = response.message.content
        if response.confidence is None and agent.review.grader is not None:
            response = await self._grade(agent, response)
        decision = self._guard.check(
            agent,
            "output",
            turn=self._turn,
            at=workflow.now(),
            spec_hash=self._hash(agent),
            text=answer,
            confidence=response.confidence,
            risk_score=self._max_risk,
        )
        rule = decision.rule
        if decision.action == "block":
            assert rule is not None
            if rule.on_block == "end_run":
                raise RunEnded("rejected", f"answer blocked by policy: {decision.reason}")
            self._messages.append(
                Message(
                    role="user",
                    content=f"[policy] Your answer was blocked ({decision.reason}). "
                    "Answer again without it.",
                )
            )
            return None
        if decision.redacted_text is not None:  # whichever action decides (see _check_input)
            answer = decision.redacted_text
        if decision.action == "require_review" or self._review_needed(agent, response):
            verdict = await self._ask(
                "review", agent, decision, arguments={"output": answer}, rule=rule, output=answer,
                confidence=response.confidence, confidence_source=response.confidence_source,
            )  # fmt: skip
            if verdict is None or verdict.action == "reject":
                raise RunEnded("rejected", f"answer not approved in review: {self._why(verdict)}")
            if verdict.action == "edit" and verdict.response:
                answer = self._recheck_edit(agent, "output", verdict.response)
        return answer

    async def _grade(self, agent: AgentSpec, response: ModelResponse) -> ModelResponse:
        """Ask the review policy's grader model for a confidence; unchanged if it cannot say."""
        grader = agent.review.grader
        assert grader is not None
        question = next((m.content for m in self._messages if m.role == "user"), "")
        request = grading_request(
            ModelRequest(
                run_id=workflow.info().run_id, agent=agent.name, turn=self._turn, model=grader,
                script=agent.script if grader.provider == "scripted" else [],
            ),
            grader, question=question, answer=response.message.content,
        )  # fmt: skip
        at = workflow.now()
        try:
            graded = await call_model(
                request, grader, timeouts=agent.limits.timeouts, retry=agent.retry,
                summary=f"grade answer with {grader.label} turn {self._turn}",
            )  # fmt: skip
        except ACTIVITY_FAILURES as error:
            self._ledger.errors[error_type(error)] += 1
            return response
        self._ledger.add_model(graded, agent=agent.name, turn=self._turn, at=at)
        score = parse_grade(graded.message.content)
        if score is None:
            return response
        return response.model_copy(update={"confidence": score, "confidence_source": "grader"})

    def _review_needed(self, agent: AgentSpec, response: ModelResponse) -> bool:
        policy = agent.review
        if policy.confidence_threshold is not None and (
            response.confidence is None or response.confidence < policy.confidence_threshold
        ):
            return True
        return (
            policy.risk_threshold is not None
            and self._max_risk is not None
            and self._max_risk > policy.risk_threshold
        )

    @staticmethod
    def _why(verdict: ApprovalDecision | None) -> str:
        if verdict is None:
            return "no decision before the deadline"
        return f"{verdict.action} by {verdict.approver}" + (
            f": {verdict.reason}" if verdict.reason else ""
        )

    async def _ask(
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
            reason = reason or self._review_reason(agent, confidence)
        if deciders is not None:
            approvers, roles = deciders
        request = ApprovalRequest(
            step_id=self._ledger.next_step_id(),
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
            run_user=self._request.user if self._request else None,
            requested_at=now,
            expires_at=now + timedelta(seconds=timeout_s),
            on_timeout=on_timeout,
            escalate_to=list(escalate_to),
        )
        self._last_request_id = request.step_id
        self._desk.open(request, spec_hash=self._hash(agent))
        await self._flush_audit()
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
            verdict = await self._desk.wait(request.step_id)
            waiting.set_attribute(
                "duragent.approval.outcome", verdict.action if verdict else "timed_out"
            )
            if verdict is not None:
                waiting.set_attribute("duragent.approval.approver", verdict.approver)
        if verdict is None or verdict.action == "reject":
            self._ledger.errors["approval_rejected"] += 1
        return verdict

    async def _degrade(self, agent: AgentSpec, failure: str) -> ModelResponse:
        """Every model failed: the spec's fixed answer, or a human's. Ends the run if neither."""
        degraded = agent.degraded
        assert degraded is not None
        self._degraded = True
        self._ledger.record(
            "degraded", agent=agent.name, turn=self._turn, at=workflow.now(), detail=failure
        )
        text = degraded.answer
        if text is None:
            verdict = await self._ask(
                "review", agent, None, arguments={"output": ""}, rule=None, output="",
                reason=f"every model failed ({failure}); write the answer for the user",
                deciders=(degraded.reviewers, degraded.reviewer_roles),
            )  # fmt: skip
            if verdict is None or verdict.action == "reject" or not verdict.response:
                raise RunEnded("failed", f"every model failed and no human answered: {failure}")
            text = verdict.response
        message = Message(role="assistant", content=text, name=agent.name)
        return ModelResponse(
            message=message, model="degraded", confidence=1.0, confidence_source="degraded"
        )

    def _review_reason(self, agent: AgentSpec, confidence: float | None) -> str:
        threshold = agent.review.confidence_threshold
        if threshold is not None and (confidence is None or confidence < threshold):
            shown = "unknown" if confidence is None else f"{confidence:.2f}"
            return f"confidence {shown} below the review threshold {threshold}"
        return (
            f"risk score {self._max_risk} above the review threshold {agent.review.risk_threshold}"
        )
