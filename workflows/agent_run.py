"""``AgentRun``: one agent run as a Temporal workflow.

Determinism: this package imports only the Temporal workflow API and pure ``duragent`` modules
(specs, messages, guardrails, names); time comes from ``workflow.now()``. Every side effect
(model calls, tools, reading specs, verifying tokens, writing the audit log) is an activity, so
a crashed worker resumes the run from history without repeating a completed call.

The run is a few composed parts over one explicit state (``RunState``, where the run is; the
``Ledger``, what it has done)::

    ApprovalDesk   pending requests, decisions (signals, update), timeouts    _desk.py
    RunDetails     what the Web UI's Current Details say: the wait, or the work _details.py
    Approvals      asking people, and the audit trail written before asking   _asking.py
    Checkpoints    input and output guardrails, review                        _checkpoints.py
    ModelChain     the model call: primary, fallbacks, degraded outcome       _model_chain.py
    ToolGate       a tool call's arguments, rules and approvals               _tool_gate.py
    ToolDispatch   handoffs, allowlist, tool activities                       _dispatch.py
    Delegation     delegates as child runs, in parallel                       _delegation.py

and the turn loop below: input checkpoint → per turn: model call → tool calls (each through the
gate) → until the model answers without tool calls; then the output checkpoint and review.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from temporalio import workflow
from temporalio.common import RawValue, SearchAttributeUpdate

from duragent._approvals import ApprovalOutcome, ApprovalRequest
from duragent._contracts import SpecResolution
from duragent._messages import (
    Message,
    ResolvedSpecs,
    ResolveRequest,
    RunRequest,
    RunResult,
    RunStatus,
    RunStatusView,
    StepRecord,
)
from duragent._names import (
    QUERY_PENDING,
    QUERY_STATUS,
    QUERY_STEPS,
    QUERY_TRANSCRIPT,
    SA_AGENT,
    SA_COST,
    SA_PENDING,
    SA_STATUS,
    SA_TENANT,
    SIGNAL_APPROVE,
    SIGNAL_REJECT,
    UPDATE_DECIDE,
    WORKFLOW,
)
from duragent._prompt import with_rules
from duragent._spec import AgentSpec
from duragent._telemetry import AGENT_NAME, CONVERSATION_ID, OPERATION, record_run, span
from duragent.errors import SpecError
from duragent.workflows._asking import Approvals
from duragent.workflows._calls import ACTIVITY_FAILURES, error_message, error_type
from duragent.workflows._checkpoints import Checkpoints
from duragent.workflows._continuation import continue_as_new, restore, should_continue_as_new
from duragent.workflows._delegation import Delegation
from duragent.workflows._desk import ApprovalDesk
from duragent.workflows._details import RunDetails
from duragent.workflows._dispatch import ToolDispatch
from duragent.workflows._guard import Guard
from duragent.workflows._ledger import Ledger
from duragent.workflows._model_chain import ModelChain
from duragent.workflows._state import RunEnded, RunState
from duragent.workflows._tool_gate import ToolGate


@workflow.defn(name=WORKFLOW, failure_exception_types=[ValidationError, SpecError])
class AgentRun:
    """Runs an agent (and the agents it hands off to) to a final answer, durably and governed."""

    @workflow.init
    def __init__(self, request: RunRequest) -> None:
        self.state = state = RunState(request=request, started_at=workflow.info().start_time)
        self.ledger = ledger = Ledger()
        self.desk = ApprovalDesk(state, ledger, self._pending_changed, self._decision_noted)
        self.details = RunDetails(state, self.desk)
        guard = Guard(ledger)
        approvals = Approvals(state, ledger, self.desk)
        self.approvals = approvals
        self.checkpoints = Checkpoints(state, ledger, guard, approvals)
        self.models = ModelChain(state, ledger, approvals)
        gate = ToolGate(state, ledger, guard, approvals)
        self.tools = ToolDispatch(state, ledger, gate, Delegation(state, ledger))

    # -- queries, signals, update ------------------------------------------------------------

    @workflow.query(name=QUERY_STATUS)
    def status(self) -> RunStatusView:
        """Where the run is: status, active agent, turn, usage and spend so far."""
        return RunStatusView(
            status=self.state.status,
            agent=self.state.agent,
            turn=self.state.turn,
            usage=self.ledger.usage,
            cost_usd=self.ledger.cost_usd,
            steps=len(self.ledger.steps),
            pending_steps=sorted(self.desk.pending),
        )

    @workflow.query(name=QUERY_STEPS)
    def steps(self, after: int = 0) -> list[StepRecord]:
        """The steps taken so far, from index ``after`` on (for following a run)."""
        return self.ledger.steps[after:]

    @workflow.query(name=QUERY_TRANSCRIPT)
    def transcript(self) -> list[Message]:
        """The conversation so far."""
        return list(self.state.messages)

    @workflow.query(name=QUERY_PENDING)
    def pending_approvals(self) -> list[ApprovalRequest]:
        """Steps waiting for a human decision."""
        return list(self.desk.pending.values())

    # Signals and updates take their inputs as they come (any count, any shape): Temporal
    # cannot refuse a signal, and a handler whose signature does not fit the payload would
    # fail every workflow task of the run from then on. So each input is parsed here, and
    # whatever does not parse is recorded as refused (signals) or rejected before it enters
    # history (updates).

    @workflow.signal(name=SIGNAL_APPROVE)
    async def approve(self, *inputs: Any) -> None:
        """Approve (or edit, or respond to) a pending step. Refusals are recorded, not raised."""
        await self.desk.decide_inputs(inputs, via="signal", action="approve")

    @workflow.signal(name=SIGNAL_REJECT)
    async def reject(self, *inputs: Any) -> None:
        """Reject a pending step. Refusals are recorded, not raised."""
        await self.desk.decide_inputs(inputs, via="signal", action="reject")

    @workflow.signal(dynamic=True)
    def _unknown_signal(self, name: str, inputs: Sequence[RawValue]) -> None:
        # Without a handler the SDK would buffer such signals for the life of the run.
        self.desk.ignore_signal(name, len(inputs))

    @workflow.update(name=UPDATE_DECIDE)
    async def decide(self, *inputs: Any) -> ApprovalOutcome:
        """Decide a pending step; a decision that fails validation never enters history."""
        return await self.desk.decide(ApprovalDesk.parse(inputs), via="update")

    @decide.validator
    def _validate_decide(self, *inputs: Any) -> None:
        self.desk.validate(inputs)

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
        state = self.state
        state.agent = request.agent
        state.path = [request.agent]
        try:
            if request.carry is not None:
                specs = restore(state, self.ledger, request.carry)
                self.desk.configure(specs)
            else:
                self.details.doing(f"resolving the specs of {request.agent}")
                specs = await self._resolve(request)
                self._upsert(
                    [SA_AGENT.value_set(request.agent), SA_STATUS.value_set("running")]
                    + ([SA_TENANT.value_set(request.tenant)] if request.tenant else [])
                )
            await self._turns(request, specs)
            result = self._finish("completed", output=state.output)
        except RunEnded as end:
            result = self._finish(end.status, error=end.reason)
        await self.approvals.flush_audit()
        # Decisions still being handled (a signal verifying its token) finish before the run does.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return result

    async def _resolve(self, request: RunRequest) -> ResolvedSpecs:
        try:
            specs = await workflow.execute_local_activity_method(
                SpecResolution.resolve,
                ResolveRequest(agent=request.agent),
                start_to_close_timeout=timedelta(seconds=10),
                summary=f"resolve specs for {request.agent}",
            )
        except ACTIVITY_FAILURES as error:
            self.ledger.errors[error_type(error)] += 1
            raise RunEnded("failed", error_message(error)) from None
        specs = with_rules(specs)  # the rules are recorded once for all agents
        self.ledger.add_time("input", specs.resolve_ms)
        self.state.specs = specs
        info = workflow.info()
        self.state.transcript_key = self.state.transcript_key or f"{info.workflow_id}/{info.run_id}"
        self.desk.configure(specs)
        return specs

    async def _turns(self, request: RunRequest, specs: ResolvedSpecs) -> None:
        state = self.state
        if request.carry is None:
            agent = specs.agents[specs.entry]
            for earlier in request.history:  # a conversation's earlier turns: users' are checked
                content = earlier.content
                if earlier.role == "user":
                    content = await self.checkpoints.check_input(agent, content)
                state.messages.append(Message(role=earlier.role, content=content))
            text = await self.checkpoints.check_input(agent, request.input)
            state.messages.append(Message(role="user", content=text))
        else:
            agent = specs.agents[state.agent]
        turns_here = 0
        while True:
            if turns_here and should_continue_as_new(
                state, pending=bool(self.desk.pending), turns_here=turns_here
            ):
                await self.approvals.flush_audit()
                await workflow.wait_condition(workflow.all_handlers_finished)
                continue_as_new(state, self.ledger)
            turns_here += 1
            max_turns = request.run_config.max_turns or agent.limits.max_turns
            if state.turn >= max_turns:
                raise RunEnded(
                    "budget_exceeded",
                    f"max_turns ({max_turns}) reached without a final answer; raise "
                    "limits.max_turns or check the agent's instructions for a loop",
                )
            state.turn += 1
            self.details.doing(f"turn {state.turn}: {agent.name} calling model {agent.model.label}")
            with span(
                f"turn {state.turn}",
                {AGENT_NAME: agent.name, "duragent.turn": state.turn},
                in_workflow=True,
                outcomes=(RunEnded,),
            ):
                answered, handed_to = await self._turn(agent, specs)
            if answered:
                return
            if handed_to is not None:
                agent = specs.agents[handed_to]
                state.agent = agent.name
                state.path.append(agent.name)
                self._upsert([SA_AGENT.value_set(agent.name)])

    async def _turn(self, agent: AgentSpec, specs: ResolvedSpecs) -> tuple[bool, str | None]:
        """One model call and its tool calls: (answered, agent handed off to)."""
        response = await self.models.call(agent, specs)
        self.state.messages.append(response.message)
        self._check_budget(agent)
        if not response.message.tool_calls:
            answer = await self.checkpoints.check_output(agent, response)
            if answer is not None:
                self.state.output = answer
                return True, None
            return False, None
        called = ", ".join(dict.fromkeys(c.name for c in response.message.tool_calls))
        self.details.doing(f"turn {self.state.turn}: {agent.name} running {called}")
        handed_to = await self.tools.run_calls(agent, specs, response.message.tool_calls)
        self._check_budget(agent)  # delegated children spend too
        return False, handed_to

    def _check_budget(self, agent: AgentSpec) -> None:
        limits, used, spent = agent.limits, self.ledger.usage.total_tokens, self.ledger.cost_usd
        if limits.max_tokens is not None and used > limits.max_tokens:
            raise RunEnded(
                "budget_exceeded", f"max_tokens ({limits.max_tokens}) exceeded: {used} used"
            )
        for cap in (limits.max_cost_usd, self.state.request.run_config.max_cost_usd):
            if cap is not None and spent > cap:
                raise RunEnded(
                    "budget_exceeded", f"max_cost_usd ({cap}) exceeded: ${spent:.6f} spent"
                )

    def _pending_changed(self) -> None:
        kinds = {r.kind for r in self.desk.pending.values()}
        status: RunStatus = (
            "awaiting_review" if "review" in kinds else "awaiting_approval" if kinds else "running"
        )
        self.state.status = status
        self._upsert([SA_STATUS.value_set(status), SA_PENDING.value_set(len(self.desk.pending))])
        self.details.show()

    def _decision_noted(self, text: str) -> None:
        self.details.decided(text)

    def _upsert(self, updates: list[SearchAttributeUpdate[Any]]) -> None:
        # Off only where the server cannot hold them (the time-skipping test server); the
        # choice comes from the worker through spec resolution, so it is in history.
        specs = self.state.specs
        if specs is None or specs.search_attributes:
            workflow.upsert_search_attributes(updates)

    def _finish(
        self, status: RunStatus, *, output: str | None = None, error: str | None = None
    ) -> RunResult:
        state, ledger = self.state, self.ledger
        state.status = status
        info = workflow.info()
        total_ms = (workflow.now() - state.started_at).total_seconds() * 1000
        self._upsert(
            [
                SA_STATUS.value_set(status),
                SA_COST.value_set(round(ledger.cost_usd, 8)),
                SA_PENDING.value_set(0),
            ]
        )
        self.details.doing(
            f"{status} after {state.turn} turn{'s' if state.turn != 1 else ''}"
            + (f": {error}" if error else "")
        )
        specs = state.specs
        result = RunResult(
            run_id=info.run_id,
            workflow_id=info.workflow_id,
            status=status,
            output=output,
            agent=state.agent,
            agent_path=list(state.path),
            turns=state.turn,
            steps=list(ledger.steps),
            usage=ledger.usage,
            cost_usd=round(ledger.cost_usd, 8),
            cost_complete=ledger.cost_complete,
            latency=ledger.latency(total_ms),
            spec_hashes=dict(specs.hashes) if specs else {},
            degraded=state.degraded,
            errors=dict(ledger.errors),
            error=error,
        )
        record_run(result, entry_agent=state.request.agent)
        return result
