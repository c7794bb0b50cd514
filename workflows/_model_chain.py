"""The model call of a turn: the primary model, then each fallback, then the degraded outcome.

Only the messages since the last model call travel in the request; the earlier ones are in the
workers' transcript store, which is a cache of what history already holds. Retries of one model
follow its retry policy (``duragent.errors.RETRY_SEMANTICS`` says what a retry can fix).

A run remembers its failovers: a model that failed over because it is down or refused the key
(``duragent.errors.UNAVAILABLE_KINDS``) cools for ``RetrySpec.cooldown_s``, during which later
turns ask the other models first and it goes last in the chain: skipped, never removed, so
cooling can reorder a turn's models but never leave it with fewer to ask. The deadline is
``workflow.now()`` plus the period, kept in ``RunState.cooling`` (carried across
continue-as-new), so a replay skips exactly what the run skipped. Runs whose specs were resolved
before this existed (``ResolvedSpecs.failover_memory`` false) start every turn at the primary,
as they were recorded. Across runs, the worker's circuit breaker remembers.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from duragent._messages import Message, ModelRequest, ModelResponse, ResolvedSpecs
from duragent._prompt import handoff_schema, tool_schema
from duragent._spec import AgentSpec, ModelRef
from duragent._transcript import PromptRef, TranscriptRef
from duragent.errors import UNAVAILABLE_KINDS
from duragent.workflows._asking import Approvals
from duragent.workflows._calls import (
    ACTIVITY_FAILURES,
    attempt_errors,
    call_model,
    error_message,
    error_type,
)
from duragent.workflows._delegation import delegate_tool, offers_delegates
from duragent.workflows._ledger import Ledger
from duragent.workflows._state import RunEnded, RunState


class ModelChain:
    def __init__(self, state: RunState, ledger: Ledger, approvals: Approvals) -> None:
        self.state = state
        self.ledger = ledger
        self.approvals = approvals

    async def call(self, agent: AgentSpec, specs: ResolvedSpecs) -> ModelResponse:
        """The primary model, then each fallback in order; degraded or ended when all failed."""
        state = self.state
        override = state.request.run_config.model
        chain: list[ModelRef] = [override] if override else [agent.model, *agent.fallbacks]
        prompt = specs.prompts.get(agent.name)
        tools = []
        if prompt is None:  # specs resolved before prompt references: the prompt travels
            tools += [tool_schema(specs.tools[name]) for name in agent.tools]
            tools += [handoff_schema(specs.agents[name]) for name in agent.handoffs]
        if offers_delegates(agent, state):  # depends on the run, so never in the stored prompt
            tools += [tool_schema(delegate_tool(specs, name)) for name in agent.delegates]
        # Only the messages since the last model call travel; the rest are in the store.
        start, upto = state.stored, len(state.messages)
        order, ready = self._order(chain)
        index = 0
        while index < len(order):
            position, model = order[index]
            request = ModelRequest(
                run_id=workflow.info().run_id,
                agent=agent.name,
                turn=state.turn,
                model=model,
                instructions=agent.instructions,
                tools=tools,
                messages=state.messages[start:upto],
                transcript=TranscriptRef(key=state.transcript_key, start=start),
                script=agent.script if model.provider == "scripted" and not prompt else [],
                prompt=PromptRef(digest=prompt, script=model.provider == "scripted")
                if prompt
                else None,
                want_confidence=agent.review.confidence_threshold is not None,
            )
            summary = model_summary(
                model, position, state.turn, skipped=order[ready:], asked_last=index >= ready
            )
            at = workflow.now()
            try:
                response = await call_model(
                    request, model, timeouts=agent.limits.timeouts, retry=agent.retry,
                    summary=summary,
                )  # fmt: skip
            except ACTIVITY_FAILURES as error:
                kind = error_type(error)
                if kind == "transcript_missing" and start > 0:
                    # This worker's store lacks the conversation (not shared, or lost): send it
                    # all once. The store is a cache of what history already holds.
                    start = 0
                    continue
                self.ledger.errors.update(attempt_errors(error))
                if kind == "spec_missing":
                    # No worker can know what this agent is told: every model would fail alike,
                    # and a degraded answer would hide a deployment fault. Fail closed.
                    message = f"{model.label}: {kind}: {error_message(error)}"
                    raise RunEnded("failed", message) from None
                state.last_model_error = f"{model.label}: {kind}: {error_message(error)}"
                detail = state.last_model_error
                if kind in UNAVAILABLE_KINDS and specs.failover_memory:
                    until = workflow.now() + timedelta(seconds=agent.retry.cooldown_s)
                    state.cooling[model.key] = until
                    detail += f" (this run asks it last until {until:%H:%M:%S} UTC)"
                self.ledger.record(
                    "model_error",
                    agent=agent.name,
                    turn=state.turn,
                    at=at,
                    model=model.label,
                    detail=detail,
                )
                index += 1
                continue
            state.cooling.pop(model.key, None)
            self.ledger.add_model(response, agent=agent.name, turn=state.turn, at=at)
            self.ledger.errors.update(response.attempt_errors)
            state.stored = upto
            return response
        if agent.degraded is not None:
            return await self._degrade(agent, state.last_model_error)
        raise RunEnded("failed", state.last_model_error)

    def _order(self, chain: list[ModelRef]) -> tuple[list[tuple[int, ModelRef]], int]:
        """The chain's models with their positions, those cooling after a failover moved to
        the end in chain order, and how many are not cooling. Expired periods end here."""
        now = workflow.now()
        cooling = self.state.cooling
        for key in [key for key, until in cooling.items() if until <= now]:
            del cooling[key]
        ready = [(i, model) for i, model in enumerate(chain) if model.key not in cooling]
        resting = [(i, model) for i, model in enumerate(chain) if model.key in cooling]
        return ready + resting, len(ready)

    async def _degrade(self, agent: AgentSpec, failure: str) -> ModelResponse:
        """Every model failed: the spec's fixed answer, or a human's. Ends the run if neither."""
        degraded = agent.degraded
        assert degraded is not None
        self.state.degraded = True
        self.ledger.record(
            "degraded", agent=agent.name, turn=self.state.turn, at=workflow.now(), detail=failure
        )
        text = degraded.answer
        if text is None:
            verdict = await self.approvals.ask(
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


def model_summary(
    model: ModelRef,
    position: int,
    turn: int,
    *,
    skipped: list[tuple[int, ModelRef]],
    asked_last: bool,
) -> str:
    """The call's line in the Web UI: which model, which turn, and why not an earlier one."""
    notes = [f"fallback {position}"] if position else []
    if asked_last:
        notes.append("cooling, asked last")
    else:
        passed = [m.label for i, m in skipped if i < position]
        if passed:
            notes.append(f"{', '.join(passed)} cooling")
    text = f"model {model.label} turn {turn}"
    return f"{text} ({'; '.join(notes)})" if notes else text
