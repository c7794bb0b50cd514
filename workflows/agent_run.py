"""``AgentRun``: one agent run as a Temporal workflow.

Determinism: this module imports only the Temporal workflow API and pure ``duragent`` modules
(specs, messages, names); time comes from ``workflow.now()``. Every side effect (model calls,
tools, reading specs) is an activity, so a crashed worker resumes the run from history without
repeating a completed call.

The loop, per turn: model call (primary, then fallbacks) → for each tool call: allowlist →
handoff, or tool activity → next turn, until the model answers without tool calls, a limit is
reached, or every model failed.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import ValidationError
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from duragent._messages import (
    Message,
    ModelRequest,
    ModelResponse,
    ResolvedSpecs,
    ResolveRequest,
    RunRequest,
    RunResult,
    RunStatus,
    RunStatusView,
    StepRecord,
    ToolCall,
    ToolCallRequest,
    ToolResult,
    ToolSchema,
    ToolSpec,
)
from duragent._names import (
    ACTIVITY_MODEL,
    ACTIVITY_RESOLVE,
    ACTIVITY_TOOL,
    HANDOFF_PREFIX,
    QUERY_STATUS,
    QUERY_STEPS,
    QUERY_TRANSCRIPT,
    SA_AGENT,
    SA_COST,
    SA_STATUS,
    SA_TENANT,
    SANDBOX_TASK_QUEUE,
    WORKFLOW,
)
from duragent._spec import AgentSpec, ModelRef
from duragent.errors import SpecError
from workflows._ledger import Ledger

MODEL_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=100),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=3,
    non_retryable_error_types=["auth", "invalid_request", "content_filter", "context_length"],
)
"""Per model: 100 ms, 200 ms, then the next model in the fallback chain."""

IDEMPOTENT_TOOL_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0, maximum_attempts=3
)
ONE_ATTEMPT = RetryPolicy(maximum_attempts=1)
"""Non-idempotent tools are never retried blindly."""


ACTIVITY_FAILURES = (ActivityError, ApplicationError)
"""What an activity call raises once its attempts are spent: a regular activity's failure
arrives as ``ActivityError`` wrapping the cause; a local activity's may arrive as the bare
``ApplicationError``."""


def _error_type(error: BaseException) -> str:
    cause = error.cause if isinstance(error, ActivityError) else error
    if isinstance(cause, ApplicationError) and cause.type:
        return cause.type
    if cause is not None and type(cause).__name__ == "TimeoutError":
        return "timeout"
    return "provider_error"


def _error_message(error: BaseException) -> str:
    cause = error.cause if isinstance(error, ActivityError) and error.cause else error
    return getattr(cause, "message", None) or str(cause)


@workflow.defn(name=WORKFLOW, failure_exception_types=[ValidationError, SpecError])
class AgentRun:
    """Runs an agent (and the agents it hands off to) to a final answer, durably."""

    def __init__(self) -> None:
        self._ledger = Ledger()
        self._status: RunStatus = "running"
        self._agent = ""
        self._turn = 0
        self._messages: list[Message] = []
        self._specs: ResolvedSpecs | None = None
        self._last_model_error = ""

    @workflow.query(name=QUERY_STATUS)
    def status(self) -> RunStatusView:
        """Where the run is: status, active agent, turn, usage and spend so far."""
        return RunStatusView(
            status=self._status,
            agent=self._agent,
            turn=self._turn,
            usage=self._ledger.usage,
            cost_usd=self._ledger.cost_usd,
            steps=len(self._ledger.steps),
        )

    @workflow.query(name=QUERY_STEPS)
    def steps(self, after: int = 0) -> list[StepRecord]:
        """The steps taken so far, from index ``after`` on (for following a run)."""
        return self._ledger.steps[after:]

    @workflow.query(name=QUERY_TRANSCRIPT)
    def transcript(self) -> list[Message]:
        """The conversation so far."""
        return list(self._messages)

    @workflow.run
    async def run(self, request: RunRequest) -> RunResult:
        self._agent = request.agent
        workflow.upsert_search_attributes(
            [SA_AGENT.value_set(request.agent), SA_STATUS.value_set("running")]
            + ([SA_TENANT.value_set(request.tenant)] if request.tenant else [])
        )
        try:
            specs = await workflow.execute_local_activity(
                ACTIVITY_RESOLVE,
                ResolveRequest(agent=request.agent),
                result_type=ResolvedSpecs,
                start_to_close_timeout=timedelta(seconds=10),
                summary=f"resolve specs for {request.agent}",
            )
        except ACTIVITY_FAILURES as error:
            self._ledger.errors[_error_type(error)] += 1
            return self._finish(
                request, "failed", error=_error_message(error), path=[request.agent]
            )
        self._ledger.input_ms += specs.resolve_ms
        self._specs = specs
        self._messages.append(Message(role="user", content=request.input))
        return await self._loop(request, specs)

    async def _loop(self, request: RunRequest, specs: ResolvedSpecs) -> RunResult:
        agent = specs.agents[specs.entry]
        path = [agent.name]
        while True:
            max_turns = request.run_config.max_turns or agent.limits.max_turns
            if self._turn >= max_turns:
                return self._finish(
                    request,
                    "budget_exceeded",
                    path=path,
                    error=f"max_turns ({max_turns}) reached without a final answer; "
                    "raise limits.max_turns or check the agent's instructions for a loop",
                )
            self._turn += 1
            response = await self._call_model(request, agent, specs)
            if response is None:
                return self._finish(request, "failed", path=path, error=self._last_model_error)
            self._messages.append(response.message)
            over = self._over_budget(agent)
            if over:
                return self._finish(request, "budget_exceeded", path=path, error=over)
            if not response.message.tool_calls:
                return self._finish(
                    request, "completed", path=path, output=response.message.content
                )
            handed_to = await self._run_tool_calls(
                request, agent, specs, response.message.tool_calls
            )
            if handed_to is not None:
                agent = specs.agents[handed_to]
                self._agent = agent.name
                path.append(agent.name)
                workflow.upsert_search_attributes([SA_AGENT.value_set(agent.name)])

    async def _call_model(
        self, request: RunRequest, agent: AgentSpec, specs: ResolvedSpecs
    ) -> ModelResponse | None:
        """The primary model, then each fallback in order; ``None`` when every one failed."""
        chain: list[ModelRef] = (
            [request.run_config.model]
            if request.run_config.model
            else [agent.model, *agent.fallbacks]
        )
        tools = [self._schema(specs.tools[name]) for name in agent.tools]
        tools += [self._handoff_schema(specs.agents[name]) for name in agent.handoffs]
        for index, model in enumerate(chain):
            model_request = ModelRequest(
                run_id=workflow.info().run_id,
                agent=agent.name,
                turn=self._turn,
                model=model,
                instructions=agent.instructions,
                tools=tools,
                messages=list(self._messages),
                script=agent.script if model.provider == "scripted" else [],
            )
            summary = f"model {model.label} turn {self._turn}"
            if index:
                summary += f" (fallback {index})"
            at = workflow.now()
            try:
                if model.execution == "local":
                    response = await workflow.execute_local_activity(
                        ACTIVITY_MODEL,
                        model_request,
                        result_type=ModelResponse,
                        start_to_close_timeout=timedelta(seconds=agent.limits.timeouts.model_s),
                        retry_policy=MODEL_RETRY,
                        summary=summary,
                    )
                else:
                    response = await workflow.execute_activity(
                        ACTIVITY_MODEL,
                        model_request,
                        result_type=ModelResponse,
                        start_to_close_timeout=timedelta(seconds=agent.limits.timeouts.model_s),
                        retry_policy=MODEL_RETRY,
                        summary=summary,
                    )
            except ACTIVITY_FAILURES as error:
                kind = _error_type(error)
                self._ledger.errors[kind] += 1
                self._last_model_error = f"{model.label}: {kind}: {_error_message(error)}"
                self._ledger.record(
                    "model_error",
                    agent=agent.name,
                    turn=self._turn,
                    at=at,
                    model=model.label,
                    detail=self._last_model_error,
                )
                continue
            self._ledger.add_model(response, agent=agent.name, turn=self._turn, at=at)
            return response
        return None

    async def _run_tool_calls(
        self, request: RunRequest, agent: AgentSpec, specs: ResolvedSpecs, calls: list[ToolCall]
    ) -> str | None:
        """Execute a turn's tool calls in order; return the agent handed off to, if any."""
        handed_to: str | None = None
        for call in calls:
            at = workflow.now()
            if handed_to is not None:
                self._tell(call, f"not executed: the conversation was handed off to {handed_to}")
                continue
            if call.name.startswith(HANDOFF_PREFIX):
                target = call.name.removeprefix(HANDOFF_PREFIX)
                if target in agent.handoffs:
                    self._ledger.record(
                        "handoff",
                        agent=agent.name,
                        turn=self._turn,
                        at=at,
                        detail=target,
                    )
                    self._tell(call, f"Transferred to {target}.")
                    handed_to = target
                    continue
            if call.name not in agent.tools:
                # The allowlist is enforced here, not trusted to the model: refuse, record, tell.
                allowed = ", ".join(agent.tools + [HANDOFF_PREFIX + h for h in agent.handoffs])
                refusal = (
                    f"tool {call.name!r} is not allowed for agent {agent.name!r}; "
                    f"allowed: {allowed or 'none'}"
                )
                self._ledger.errors["tool_not_allowed"] += 1
                self._ledger.record(
                    "tool_refused",
                    agent=agent.name,
                    turn=self._turn,
                    at=at,
                    tool=call.name,
                    arguments=call.arguments,
                    detail=refusal,
                )
                self._tell(call, refusal)
                continue
            result = await self._call_tool(request, agent, specs.tools[call.name], call)
            self._messages.append(
                Message(role="tool", content=result.output, tool_call_id=call.id, name=call.name)
            )
        return handed_to

    async def _call_tool(
        self, request: RunRequest, agent: AgentSpec, tool: ToolSpec, call: ToolCall
    ) -> ToolResult:
        step_id = self._ledger.next_step_id()
        tool_request = ToolCallRequest(
            run_id=workflow.info().run_id,
            workflow_id=workflow.info().workflow_id,
            step_id=step_id,
            agent=agent.name,
            call=call,
            tenant=request.tenant,
            user=request.user,
        )
        timeout = timedelta(seconds=min(tool.timeout_s, agent.limits.timeouts.tool_s))
        retry = IDEMPOTENT_TOOL_RETRY if tool.idempotent else ONE_ATTEMPT
        at = workflow.now()
        try:
            if tool.execution == "local":
                result = await workflow.execute_local_activity(
                    ACTIVITY_TOOL,
                    tool_request,
                    result_type=ToolResult,
                    start_to_close_timeout=timeout,
                    retry_policy=retry,
                    summary=f"tool {call.name}",
                    activity_id=step_id,
                )
            else:
                result = await workflow.execute_activity(
                    ACTIVITY_TOOL,
                    tool_request,
                    result_type=ToolResult,
                    start_to_close_timeout=timeout,
                    retry_policy=retry,
                    summary=f"tool {call.name}",
                    activity_id=step_id,
                    task_queue=SANDBOX_TASK_QUEUE if tool.sandboxed else None,
                )
        except ACTIVITY_FAILURES as error:
            result = ToolResult(
                call_id=call.id,
                name=call.name,
                is_error=True,
                error_type=_error_type(error),
                output=f"tool {call.name!r} failed: {_error_message(error)}",
            )
        self._ledger.add_tool(
            result,
            step_id=step_id,
            agent=agent.name,
            turn=self._turn,
            at=at,
            arguments=call.arguments,
        )
        return result

    def _tell(self, call: ToolCall, text: str) -> None:
        self._messages.append(
            Message(role="tool", content=text, tool_call_id=call.id, name=call.name)
        )

    def _over_budget(self, agent: AgentSpec) -> str | None:
        limits = agent.limits
        if limits.max_tokens is not None and self._ledger.usage.total_tokens > limits.max_tokens:
            return (
                f"max_tokens ({limits.max_tokens}) exceeded: {self._ledger.usage.total_tokens} used"
            )
        if limits.max_cost_usd is not None and self._ledger.cost_usd > limits.max_cost_usd:
            return (
                f"max_cost_usd ({limits.max_cost_usd}) exceeded: ${self._ledger.cost_usd:.6f} spent"
            )
        return None

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

    def _finish(
        self,
        request: RunRequest,
        status: RunStatus,
        *,
        path: list[str],
        output: str | None = None,
        error: str | None = None,
    ) -> RunResult:
        self._status = status
        info = workflow.info()
        total_ms = (workflow.now() - info.start_time).total_seconds() * 1000
        workflow.upsert_search_attributes(
            [SA_STATUS.value_set(status), SA_COST.value_set(round(self._ledger.cost_usd, 8))]
        )
        specs = self._specs
        return RunResult(
            run_id=info.run_id,
            workflow_id=info.workflow_id,
            status=status,
            output=output,
            agent=self._agent,
            agent_path=path,
            turns=self._turn,
            steps=list(self._ledger.steps),
            usage=self._ledger.usage,
            cost_usd=round(self._ledger.cost_usd, 8),
            cost_complete=self._ledger.cost_complete,
            latency=self._ledger.latency(total_ms),
            spec_hashes=dict(specs.hashes) if specs else {},
            errors=dict(self._ledger.errors),
            error=error,
        )
