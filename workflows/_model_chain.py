"""The model call of a turn: the primary model, then each fallback, then the degraded outcome.

A mixin of ``AgentRun`` (state lives on the workflow). Only the messages since the last model
call travel in the request; the earlier ones are in the workers' transcript store, which is a
cache of what history already holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from duragent.workflows._calls import (
    ACTIVITY_FAILURES,
    attempt_errors,
    call_model,
    error_message,
    error_type,
)
from duragent.workflows._governance import RunEnded
from duragent.workflows._ledger import Ledger
from temporalio import workflow

from duragent._messages import (
    Message,
    ModelRequest,
    ModelResponse,
    ResolvedSpecs,
    RunRequest,
    ToolSchema,
    ToolSpec,
)
from duragent._names import HANDOFF_PREFIX
from duragent._spec import AgentSpec, ModelRef
from duragent._transcript import TranscriptRef


class ModelChain:
    """Calls a turn's model with failover (a mixin of ``AgentRun``)."""

    _ledger: Ledger
    _messages: list[Message]
    _stored: int
    _transcript_key: str
    _turn: int
    _last_model_error: str

    if TYPE_CHECKING:

        async def _degrade(self, agent: AgentSpec, failure: str) -> ModelResponse: ...

    async def _call_model(
        self, request: RunRequest, agent: AgentSpec, specs: ResolvedSpecs
    ) -> ModelResponse:
        """The primary model, then each fallback in order; ends the run when every one failed."""
        chain: list[ModelRef] = (
            [request.run_config.model]
            if request.run_config.model
            else [agent.model, *agent.fallbacks]
        )
        tools = [self._schema(specs.tools[name]) for name in agent.tools]
        tools += [self._handoff_schema(specs.agents[name]) for name in agent.handoffs]
        # Only the messages since the last model call travel; the rest are in the store.
        start, upto = self._stored, len(self._messages)
        index = 0
        while index < len(chain):
            model = chain[index]
            transcript = TranscriptRef(key=self._transcript_key, start=start)
            model_request = ModelRequest(
                run_id=workflow.info().run_id,
                agent=agent.name,
                turn=self._turn,
                model=model,
                instructions=agent.instructions,
                tools=tools,
                messages=self._messages[start:upto],
                transcript=transcript,
                script=agent.script if model.provider == "scripted" else [],
                want_confidence=agent.review.confidence_threshold is not None,
            )
            summary = f"model {model.label} turn {self._turn}" + (
                f" (fallback {index})" if index else ""
            )
            at = workflow.now()
            try:
                response = await call_model(
                    model_request, model, timeouts=agent.limits.timeouts, retry=agent.retry,
                    summary=summary,
                )  # fmt: skip
            except ACTIVITY_FAILURES as error:
                kind = error_type(error)
                if kind == "transcript_missing" and start > 0:
                    # This worker's store lacks the conversation (not shared, or lost): send it
                    # all once. The store is a cache of what history already holds.
                    start = 0
                    continue
                self._ledger.errors.update(attempt_errors(error))
                self._last_model_error = f"{model.label}: {kind}: {error_message(error)}"
                self._ledger.record(
                    "model_error",
                    agent=agent.name,
                    turn=self._turn,
                    at=at,
                    model=model.label,
                    detail=self._last_model_error,
                )
                index += 1
                continue
            self._ledger.add_model(response, agent=agent.name, turn=self._turn, at=at)
            self._ledger.errors.update(response.attempt_errors)
            self._stored = upto
            return response
        if agent.degraded is not None:
            return await self._degrade(agent, self._last_model_error)
        raise RunEnded("failed", self._last_model_error)

    @staticmethod
    def _schema(tool: ToolSpec) -> ToolSchema:
        return ToolSchema(name=tool.name, description=tool.description, parameters=tool.parameters)

    @staticmethod
    def _handoff_schema(target: AgentSpec) -> ToolSchema:
        return ToolSchema(
            name=f"{HANDOFF_PREFIX}{target.name}",
            description=f"Hand the conversation off to {target.name}. {target.description}".strip(),
            parameters={"type": "object", "properties": {}, "additionalProperties": False},
        )
