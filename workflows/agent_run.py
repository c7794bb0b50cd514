"""``AgentRun``: one agent run as a Temporal workflow.

Determinism: this module imports only the Temporal workflow API and pure ``duragent`` modules
(specs, messages, guardrails, names); time comes from ``workflow.now()``. Every side effect
(model calls, tools, reading specs, verifying tokens, writing the audit log) is an activity, so
a crashed worker resumes the run from history without repeating a completed call.

The loop: input guardrails → per turn: model call (primary, then fallbacks) → for each tool
call: handoff, or allowlist → guardrails → approval if required → tool activity → until the
model answers without tool calls; then output guardrails and the review policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from duragent.workflows._calls import (
    ACTIVITY_FAILURES,
    call_tool,
    error_message,
    error_type,
)
from duragent.workflows._continuation import Continuation
from duragent.workflows._desk import ApprovalDesk
from duragent.workflows._governance import RunEnded
from duragent.workflows._guard import Guard
from duragent.workflows._ledger import Ledger
from duragent.workflows._model_chain import ModelChain
from duragent.workflows._tool_gate import ToolGate
from pydantic import ValidationError
from temporalio import workflow
from temporalio.common import RawValue, SearchAttributeUpdate

from duragent._approvals import (
    ApprovalOutcome,
    ApprovalRequest,
    args_hash,
    normalize_roles,
)
from duragent._guardrails import RISK_SCORES
from duragent._messages import (
    Message,
    ResolvedSpecs,
    ResolveRequest,
    RunRequest,
    RunResult,
    RunStatus,
    RunStatusView,
    StepRecord,
    ToolCall,
    ToolCallRequest,
    ToolSpec,
)
from duragent._names import (
    ACTIVITY_RESOLVE,
    HANDOFF_PREFIX,
    QUERY_PENDING,
    QUERY_STATUS,
    QUERY_STEPS,
    QUERY_TRANSCRIPT,
    SA_AGENT,
    SA_COST,
    SA_PENDING,
    SA_STATUS,
    SA_TENANT,
    SANDBOX_TASK_QUEUE,
    SIGNAL_APPROVE,
    SIGNAL_REJECT,
    UPDATE_DECIDE,
    WORKFLOW,
)
from duragent._spec import AgentSpec
from duragent._telemetry import AGENT_NAME, CONVERSATION_ID, OPERATION, record_run, span
from duragent.errors import SpecError


@workflow.defn(name=WORKFLOW, failure_exception_types=[ValidationError, SpecError])
class AgentRun(ToolGate, Continuation, ModelChain):
    """Runs an agent (and the agents it hands off to) to a final answer, durably and governed."""

    def __init__(self) -> None:
        self._ledger = Ledger()
        self._status: RunStatus = "running"
        self._agent = ""
        self._turn = 0
        self._messages: list[Message] = []
        self._specs: ResolvedSpecs | None = None
        self._last_model_error = ""
        self._max_risk: float | None = None
        self._audited = 0
        self._request: RunRequest | None = None
        self._output: str | None = None
        self._degraded = False
        self._stored = 0
        """Messages [0, _stored) are in the workers' transcript store."""
        self._transcript_key = ""
        self._path: list[str] = []
        self._last_request_id: str | None = None
        self._desk = ApprovalDesk(self._ledger, self._pending_changed)
        self._guard = Guard(self._ledger)

    # -- queries, signals, update ------------------------------------------------------------

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
            pending_steps=sorted(self._desk.pending),
        )

    @workflow.query(name=QUERY_STEPS)
    def steps(self, after: int = 0) -> list[StepRecord]:
        """The steps taken so far, from index ``after`` on (for following a run)."""
        return self._ledger.steps[after:]

    @workflow.query(name=QUERY_TRANSCRIPT)
    def transcript(self) -> list[Message]:
        """The conversation so far."""
        return list(self._messages)

    @workflow.query(name=QUERY_PENDING)
    def pending_approvals(self) -> list[ApprovalRequest]:
        """Steps waiting for a human decision."""
        return list(self._desk.pending.values())

    # Signals and updates take their inputs as they come (any count, any shape): Temporal
    # cannot refuse a signal, and a handler whose signature does not fit the payload would
    # fail every workflow task of the run from then on. So each input is parsed here, and
    # whatever does not parse is recorded as refused (signals) or rejected before it enters
    # history (updates).

    @workflow.signal(name=SIGNAL_APPROVE)
    async def approve(self, *inputs: Any) -> None:
        """Approve (or edit, or respond to) a pending step. Refusals are recorded, not raised."""
        await self._desk.decide_inputs(inputs, via="signal", action="approve")

    @workflow.signal(name=SIGNAL_REJECT)
    async def reject(self, *inputs: Any) -> None:
        """Reject a pending step. Refusals are recorded, not raised."""
        await self._desk.decide_inputs(inputs, via="signal", action="reject")

    @workflow.signal(dynamic=True)
    def _unknown_signal(self, name: str, inputs: Sequence[RawValue]) -> None:
        # Without a handler the SDK would buffer such signals for the life of the run.
        self._desk.ignore_signal(name, len(inputs))

    @workflow.update(name=UPDATE_DECIDE)
    async def decide(self, *inputs: Any) -> ApprovalOutcome:
        """Decide a pending step; a decision that fails validation never enters history."""
        return await self._desk.decide(ApprovalDesk.parse(inputs), via="update")

    @decide.validator
    def _validate_decide(self, *inputs: Any) -> None:
        self._desk.validate(ApprovalDesk.parse(inputs))

    # -- the run -----------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: RunRequest) -> RunResult:
        info = workflow.info()
        # One span per execution of the run; continue-as-new carries the trace on.
        with span(
            f"invoke_agent {request.agent}",
            {
                OPERATION: "invoke_agent",
                AGENT_NAME: request.agent,
                CONVERSATION_ID: info.workflow_id,
                "duragent.run_id": info.run_id,
            },
            in_workflow=True,
            outcomes=(workflow.ContinueAsNewError,),
        ) as run_span:
            result = await self._run_to_end(request)
            run_span.set_attributes(
                {
                    "duragent.status": result.status,
                    "duragent.turns": result.turns,
                    "gen_ai.usage.input_tokens": result.usage.input_tokens,
                    "gen_ai.usage.output_tokens": result.usage.output_tokens,
                    "duragent.cost_usd": result.cost_usd,
                }
            )
        return result

    async def _run_to_end(self, request: RunRequest) -> RunResult:
        self._request = request
        self._agent = request.agent
        self._desk.agent = request.agent
        self._path = [request.agent]
        self._started_at = workflow.info().start_time
        try:
            if request.carry is not None:
                specs = self._restore(request.carry)
            else:
                specs = await self._resolve(request)
                self._upsert(
                    [SA_AGENT.value_set(request.agent), SA_STATUS.value_set("running")]
                    + ([SA_TENANT.value_set(request.tenant)] if request.tenant else [])
                )
            await self._run(request, specs)
            result = self._finish("completed", output=self._output)
        except RunEnded as end:
            result = self._finish(end.status, error=end.reason)
        await self._flush_audit()
        # Decisions still being handled (a signal verifying its token) finish before the run does.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return result

    async def _resolve(self, request: RunRequest) -> ResolvedSpecs:
        try:
            specs = await workflow.execute_local_activity(
                ACTIVITY_RESOLVE,
                ResolveRequest(agent=request.agent),
                result_type=ResolvedSpecs,
                start_to_close_timeout=timedelta(seconds=10),
                summary=f"resolve specs for {request.agent}",
            )
        except ACTIVITY_FAILURES as error:
            self._ledger.errors[error_type(error)] += 1
            raise RunEnded("failed", error_message(error)) from None
        self._ledger.input_ms += specs.resolve_ms
        self._specs = specs
        info = workflow.info()
        self._transcript_key = self._transcript_key or f"{info.workflow_id}/{info.run_id}"
        self._desk.roles = normalize_roles(specs.approvers)
        self._desk.schemas = {name: t.parameters for name, t in specs.tools.items()}
        return specs

    async def _run(self, request: RunRequest, specs: ResolvedSpecs) -> None:
        if request.carry is None:
            agent = specs.agents[specs.entry]
            text = await self._check_input(agent, request.input)
            self._messages.append(Message(role="user", content=text))
        else:
            agent = specs.agents[self._agent]
        turns_here = 0
        while True:
            if turns_here and self._should_continue_as_new(request, turns_here):
                await self._continue_as_new(request)
            turns_here += 1
            max_turns = request.run_config.max_turns or agent.limits.max_turns
            if self._turn >= max_turns:
                raise RunEnded(
                    "budget_exceeded",
                    f"max_turns ({max_turns}) reached without a final answer; raise "
                    "limits.max_turns or check the agent's instructions for a loop",
                )
            self._turn += 1
            self._desk.turn = self._turn
            with span(
                f"turn {self._turn}",
                {AGENT_NAME: agent.name, "duragent.turn": self._turn},
                in_workflow=True,
                outcomes=(RunEnded,),
            ):
                answered, handed_to = await self._take_turn(request, agent, specs)
            if answered:
                return
            if handed_to is not None:
                agent = specs.agents[handed_to]
                self._agent = self._desk.agent = agent.name
                self._path.append(agent.name)
                self._upsert([SA_AGENT.value_set(agent.name)])

    async def _take_turn(
        self, request: RunRequest, agent: AgentSpec, specs: ResolvedSpecs
    ) -> tuple[bool, str | None]:
        """One model call and its tool calls: (answered, agent handed off to)."""
        response = await self._call_model(request, agent, specs)
        self._messages.append(response.message)
        over = self._over_budget(agent)
        if over:
            raise RunEnded("budget_exceeded", over)
        if not response.message.tool_calls:
            answer = await self._check_output(agent, response)
            if answer is not None:
                self._output = answer
                return True, None
            return False, None
        handed_to = await self._run_tool_calls(request, agent, specs, response.message.tool_calls)
        return False, handed_to

    def _pending_changed(self) -> None:
        kinds = {r.kind for r in self._desk.pending.values()}
        status: RunStatus = (
            "awaiting_review" if "review" in kinds else "awaiting_approval" if kinds else "running"
        )
        self._status = status
        self._upsert([SA_STATUS.value_set(status), SA_PENDING.value_set(len(self._desk.pending))])

    def _upsert(self, updates: list[SearchAttributeUpdate[Any]]) -> None:
        # Off only where the server cannot hold them (the time-skipping test server); the
        # choice comes from the worker through spec resolution, so it is in history.
        if self._specs is None or self._specs.search_attributes:
            workflow.upsert_search_attributes(updates)

    # -- model and tools ---------------------------------------------------------------------

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
                        "handoff", agent=agent.name, turn=self._turn, at=at, detail=target
                    )
                    with span(
                        f"handoff {agent.name} -> {target}",
                        {AGENT_NAME: agent.name, "duragent.handoff.to": target},
                        in_workflow=True,
                    ):
                        pass
                    self._tell(call, f"Transferred to {target}.")
                    handed_to = target
                    continue
            if call.name not in agent.tools:
                self._refuse_unlisted(agent, call)
                continue
            await self._governed_tool_call(request, agent, specs.tools[call.name], call)
        return handed_to

    def _refuse_unlisted(self, agent: AgentSpec, call: ToolCall) -> None:
        # The allowlist is enforced here, not trusted to the model: refuse, record, tell.
        allowed = ", ".join(agent.tools + [HANDOFF_PREFIX + h for h in agent.handoffs])
        refusal = f"tool {call.name!r} is not allowed for agent {agent.name!r}; allowed: {allowed or 'none'}"
        self._ledger.errors["tool_not_allowed"] += 1
        self._ledger.record(
            "tool_refused",
            agent=agent.name,
            turn=self._turn,
            at=workflow.now(),
            tool=call.name,
            arguments=call.arguments,
            detail=refusal,
            args_hash=args_hash(call.arguments),
            spec_hash=self._hash(agent),
        )
        self._tell(call, refusal)

    async def _execute_tool(
        self,
        request: RunRequest,
        agent: AgentSpec,
        tool: ToolSpec,
        call: ToolCall,
        *,
        ref: str | None,
    ) -> None:
        step_id = self._ledger.next_step_id()
        tool_request = ToolCallRequest(
            run_id=workflow.info().run_id,
            workflow_id=workflow.info().workflow_id,
            step_id=step_id,
            agent=agent.name,
            call=call,
            tenant=request.tenant,
            user=request.user,
            sandbox=agent.sandbox if tool.sandboxed else None,
        )
        at = workflow.now()
        queue = self._specs.sandbox_task_queue if self._specs else SANDBOX_TASK_QUEUE
        result = await call_tool(
            tool_request, tool, timeouts=agent.limits.timeouts, sandbox_queue=queue
        )
        if result.is_error and result.error_type == "timeout" and tool.max_attempts == 1:
            self._ledger.add_tool(
                result, step_id=step_id, agent=agent.name, turn=self._turn, at=at,
                arguments=call.arguments, ref=ref, spec_hash=self._hash(agent),
            )  # fmt: skip
            await self._unknown_outcome(request, agent, tool, call)
            return
        score = RISK_SCORES.get(tool.risk)
        if score is not None and not result.is_error:
            self._max_risk = max(self._max_risk or 0.0, score)
        self._ledger.add_tool(
            result, step_id=step_id, agent=agent.name, turn=self._turn, at=at,
            arguments=call.arguments, ref=ref, spec_hash=self._hash(agent),
        )  # fmt: skip
        self._messages.append(
            Message(
                role="tool",
                content=result.output,
                content_ref=result.output_ref,
                tool_call_id=call.id,
                name=call.name,
            )
        )

    def _tell(self, call: ToolCall, text: str) -> None:
        self._messages.append(
            Message(role="tool", content=text, tool_call_id=call.id, name=call.name)
        )

    def _over_budget(self, agent: AgentSpec) -> str | None:
        limits, used = agent.limits, self._ledger.usage.total_tokens
        if limits.max_tokens is not None and used > limits.max_tokens:
            return f"max_tokens ({limits.max_tokens}) exceeded: {used} used"
        if limits.max_cost_usd is not None and self._ledger.cost_usd > limits.max_cost_usd:
            return (
                f"max_cost_usd ({limits.max_cost_usd}) exceeded: ${self._ledger.cost_usd:.6f} spent"
            )
        return None

    # -- the record --------------------------------------------------------------------------

    def _finish(
        self, status: RunStatus, *, output: str | None = None, error: str | None = None
    ) -> RunResult:
        self._status = status
        info = workflow.info()
        total_ms = (workflow.now() - self._started_at).total_seconds() * 1000
        self._upsert(
            [
                SA_STATUS.value_set(status),
                SA_COST.value_set(round(self._ledger.cost_usd, 8)),
                SA_PENDING.value_set(0),
            ]
        )
        specs = self._specs
        result = RunResult(
            run_id=info.run_id,
            workflow_id=info.workflow_id,
            status=status,
            output=output,
            agent=self._agent,
            agent_path=list(self._path),
            turns=self._turn,
            steps=list(self._ledger.steps),
            usage=self._ledger.usage,
            cost_usd=round(self._ledger.cost_usd, 8),
            cost_complete=self._ledger.cost_complete,
            latency=self._ledger.latency(total_ms),
            spec_hashes=dict(specs.hashes) if specs else {},
            degraded=self._degraded,
            errors=dict(self._ledger.errors),
            error=error,
        )
        if self._request is not None:
            record_run(result, entry_agent=self._request.agent)
        return result
