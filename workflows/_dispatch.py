"""A turn's tool calls, in order: handoffs, the allowlist, the gate, then the tool or the
delegate that runs it.

Handoffs switch the run's agent; a name not on the agent's list is refused and told to the
model; everything else passes the gate (``ToolGate``) and runs as a tool activity or, for a
``delegate_to_<agent>`` call, as a child ``AgentRun`` (``Delegation``: started at once, so the
delegates of one turn run in parallel, and awaited at the end of the turn).
"""

from __future__ import annotations

from temporalio import workflow

from duragent._approvals import args_hash
from duragent._guardrails import RISK_SCORES
from duragent._messages import Message, ResolvedSpecs, ToolCall, ToolCallRequest, ToolSpec
from duragent._names import DELEGATE_PREFIX, HANDOFF_PREFIX, SANDBOX_TASK_QUEUE
from duragent._spec import AgentSpec
from duragent._telemetry import AGENT_NAME, span
from duragent.workflows._calls import call_tool
from duragent.workflows._delegation import Delegation, delegate_tool, offers_delegates
from duragent.workflows._ledger import Ledger
from duragent.workflows._state import RunState
from duragent.workflows._tool_gate import ToolGate


class ToolDispatch:
    def __init__(
        self, state: RunState, ledger: Ledger, gate: ToolGate, delegation: Delegation
    ) -> None:
        self.state = state
        self.ledger = ledger
        self.gate = gate
        self.delegation = delegation

    async def run_calls(
        self, agent: AgentSpec, specs: ResolvedSpecs, calls: list[ToolCall]
    ) -> str | None:
        """Execute a turn's tool calls in order; return the agent handed off to, if any."""
        state = self.state
        handed_to: str | None = None
        delegating = offers_delegates(agent, state)
        for call in calls:
            at = workflow.now()
            if handed_to is not None:
                state.tell(call, f"not executed: the conversation was handed off to {handed_to}")
                continue
            if call.name.startswith(HANDOFF_PREFIX):
                target = call.name.removeprefix(HANDOFF_PREFIX)
                if target in agent.handoffs:
                    self.ledger.record(
                        "handoff", agent=agent.name, turn=state.turn, at=at, detail=target
                    )
                    with span(
                        f"handoff {agent.name} -> {target}",
                        {AGENT_NAME: agent.name, "duragent.handoff.to": target},
                        in_workflow=True,
                    ):
                        pass
                    state.tell(call, f"Transferred to {target}.")
                    handed_to = target
                    continue
            target = call.name.removeprefix(DELEGATE_PREFIX)
            if call.name.startswith(DELEGATE_PREFIX) and target in agent.delegates and delegating:
                refusal = self.delegation.refusal(agent)
                if refusal is not None:
                    self._refuse(agent, call, refusal, kind="delegation_refused")
                    continue
                tool = delegate_tool(specs, target)

                async def start(call: ToolCall, ref: str | None, target: str = target) -> None:
                    await self.delegation.start(agent, target, call, ref=ref)

                await self.gate.governed(agent, tool, call, start)
                continue
            if call.name not in agent.tools:
                self._refuse_unlisted(agent, call, delegating=delegating)
                continue
            tool = specs.tools[call.name]

            async def execute(call: ToolCall, ref: str | None, tool: ToolSpec = tool) -> None:
                await self.execute(agent, tool, call, ref=ref)

            await self.gate.governed(agent, tool, call, execute)
        await self.delegation.wait_all()
        return handed_to

    def _refuse_unlisted(self, agent: AgentSpec, call: ToolCall, *, delegating: bool) -> None:
        # The allowlist is enforced here, not trusted to the model: refuse, record, tell.
        offered = (
            agent.tools
            + [HANDOFF_PREFIX + h for h in agent.handoffs]
            + [DELEGATE_PREFIX + d for d in agent.delegates if delegating]
        )
        refusal = (
            f"tool {call.name!r} is not allowed for agent {agent.name!r}; allowed: "
            f"{', '.join(offered) or 'none'}"
        )
        self._refuse(agent, call, refusal, kind="tool_not_allowed")

    def _refuse(self, agent: AgentSpec, call: ToolCall, refusal: str, *, kind: str) -> None:
        self.ledger.errors[kind] += 1
        self.ledger.record(
            "tool_refused",
            agent=agent.name,
            turn=self.state.turn,
            at=workflow.now(),
            tool=call.name,
            arguments=call.arguments,
            detail=refusal,
            args_hash=args_hash(call.arguments),
            spec_hash=self.state.spec_hash(agent),
        )
        self.state.tell(call, refusal)

    async def execute(
        self, agent: AgentSpec, tool: ToolSpec, call: ToolCall, *, ref: str | None
    ) -> None:
        """Run a tool call that passed the gate, as an activity, and record it."""
        state = self.state
        step_id = self.ledger.next_step_id()
        info = workflow.info()
        tool_request = ToolCallRequest(
            run_id=info.run_id,
            workflow_id=info.workflow_id,
            step_id=step_id,
            agent=agent.name,
            call=call,
            tenant=state.request.tenant,
            user=state.request.user,
            sandbox=agent.sandbox if tool.sandboxed else None,
        )
        at = workflow.now()
        queue = state.specs.sandbox_task_queue if state.specs else SANDBOX_TASK_QUEUE
        result = await call_tool(
            tool_request, tool, timeouts=agent.limits.timeouts, sandbox_queue=queue
        )
        self.ledger.add_tool(
            result, step_id=step_id, agent=agent.name, turn=state.turn, at=at,
            arguments=call.arguments, ref=ref, spec_hash=state.spec_hash(agent),
        )  # fmt: skip
        if result.is_error and result.error_type == "timeout" and tool.max_attempts == 1:
            # A tool that may not be retried blindly lost its worker mid-call: ask, not guess.
            async def again(call: ToolCall, ref: str | None) -> None:
                await self.execute(agent, tool, call, ref=ref)

            await self.gate.unknown_outcome(agent, tool, call, again)
            return
        score = RISK_SCORES.get(tool.risk)
        if score is not None and not result.is_error:
            state.max_risk = max(state.max_risk or 0.0, score)
        state.messages.append(
            Message(
                role="tool",
                content=result.output,
                content_ref=result.output_ref,
                tool_call_id=call.id,
                name=call.name,
            )
        )
