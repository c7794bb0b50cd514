"""The input and output checkpoints of a run: guardrails, redaction, approval and review.

Input rules run once, on the text the run starts with; output rules on every final answer,
with the review policy (confidence below a threshold, risk above one) after them. A human's
rewritten input or answer passes the stage's block and redact rules again. Deterministic: rule
evaluation is pure; only the grader's model call is an activity.
"""

from __future__ import annotations

from temporalio import workflow

from duragent._guardrails import Stage
from duragent._messages import Message, ModelRequest, ModelResponse
from duragent._spec import AgentSpec
from duragent._transcript import PromptRef
from duragent.workflows._asking import Approvals, why
from duragent.workflows._calls import (
    ACTIVITY_FAILURES,
    call_model,
    error_type,
    grading_request,
    parse_grade,
)
from duragent.workflows._guard import Guard
from duragent.workflows._ledger import Ledger
from duragent.workflows._state import RunEnded, RunState


class Checkpoints:
    def __init__(self, state: RunState, ledger: Ledger, guard: Guard, approvals: Approvals) -> None:
        self.state = state
        self.ledger = ledger
        self.guard = guard
        self.approvals = approvals

    async def check_input(self, agent: AgentSpec, text: str) -> str:
        """The input the model will see: blocked, redacted, or approved (maybe edited)."""
        decision = self.guard.check(
            agent, "input", turn=0, at=workflow.now(), spec_hash=self.state.spec_hash(agent),
            text=text,
        )  # fmt: skip
        if decision.action == "block":
            raise RunEnded("rejected", f"input blocked by policy: {decision.reason}")
        if decision.redacted_text is not None:
            # Whichever action decides, a matching redact rule applies: the approver, the
            # model and the record see the redacted text.
            text = decision.redacted_text
        if decision.action == "require_approval":
            assert decision.rule is not None
            verdict = await self.approvals.ask(
                "input", agent, decision, arguments={"input": text}, rule=decision.rule
            )
            if verdict is None or verdict.action == "reject":
                raise RunEnded("rejected", f"input not approved: {why(verdict)}")
            if verdict.action == "edit" and verdict.response:
                return self.recheck_edit(agent, "input", verdict.response)
        return text

    def recheck_edit(self, agent: AgentSpec, stage: Stage, text: str) -> str:
        """A human's rewritten input or answer passes the stage's block and redact rules too
        (the human stands in for its approval or review, not for its other rules)."""
        decision = self.guard.check(
            agent, stage, turn=self.state.turn, at=workflow.now(),
            spec_hash=self.state.spec_hash(agent), text=text,
        )  # fmt: skip
        if decision.action == "block":
            raise RunEnded(
                "rejected", f"the edited {stage} is blocked by policy: {decision.reason}"
            )
        return decision.redacted_text if decision.redacted_text is not None else text

    async def check_output(self, agent: AgentSpec, response: ModelResponse) -> str | None:
        """The answer to return, or ``None`` when a rule sent the model back to try again."""
        state = self.state
        answer = response.message.content
        if response.confidence is None and agent.review.grader is not None:
            response = await self._grade(agent, response)
        decision = self.guard.check(
            agent,
            "output",
            turn=state.turn,
            at=workflow.now(),
            spec_hash=state.spec_hash(agent),
            text=answer,
            confidence=response.confidence,
            risk_score=state.max_risk,
        )
        rule = decision.rule
        if decision.action == "block":
            assert rule is not None
            if rule.on_block == "end_run":
                raise RunEnded("rejected", f"answer blocked by policy: {decision.reason}")
            state.messages.append(
                Message(
                    role="user",
                    content=f"[policy] Your answer was blocked ({decision.reason}). "
                    "Answer again without it.",
                )
            )
            return None
        if decision.redacted_text is not None:  # whichever action decides (see check_input)
            answer = decision.redacted_text
        if decision.action == "require_review" or self._review_needed(agent, response):
            verdict = await self.approvals.ask(
                "review", agent, decision, arguments={"output": answer}, rule=rule, output=answer,
                confidence=response.confidence, confidence_source=response.confidence_source,
            )  # fmt: skip
            if verdict is None or verdict.action == "reject":
                raise RunEnded("rejected", f"answer not approved in review: {why(verdict)}")
            if verdict.action == "edit" and verdict.response:
                answer = self.recheck_edit(agent, "output", verdict.response)
        return answer

    async def _grade(self, agent: AgentSpec, response: ModelResponse) -> ModelResponse:
        """Ask the review policy's grader model for a confidence; unchanged if it cannot say."""
        grader = agent.review.grader
        assert grader is not None
        turn = self.state.turn
        question = next((m.content for m in self.state.messages if m.role == "user"), "")
        specs = self.state.specs
        prompt = specs.prompts.get(agent.name) if specs else None
        scripted = grader.provider == "scripted"
        request = grading_request(
            ModelRequest(
                run_id=workflow.info().run_id, agent=agent.name, turn=turn, model=grader,
                script=agent.script if scripted and not prompt else [],
                # A stored prompt lends a scripted grader its script, nothing else.
                prompt=PromptRef(digest=prompt, instructions=False, tools=False, script=True)
                if prompt and scripted
                else None,
            ),
            grader, question=question, answer=response.message.content,
        )  # fmt: skip
        at = workflow.now()
        try:
            graded = await call_model(
                request, grader, timeouts=agent.limits.timeouts, retry=agent.retry,
                summary=f"grade answer with {grader.label} turn {turn}",
            )  # fmt: skip
        except ACTIVITY_FAILURES as error:
            self.ledger.errors[error_type(error)] += 1
            return response
        self.ledger.add_model(graded, agent=agent.name, turn=turn, at=at)
        score = parse_grade(graded.message.content)
        if score is None:
            return response
        return response.model_copy(update={"confidence": score, "confidence_source": "grader"})

    def _review_needed(self, agent: AgentSpec, response: ModelResponse) -> bool:
        policy, max_risk = agent.review, self.state.max_risk
        if policy.confidence_threshold is not None and (
            response.confidence is None or response.confidence < policy.confidence_threshold
        ):
            return True
        return (
            policy.risk_threshold is not None
            and max_risk is not None
            and max_risk > policy.risk_threshold
        )
