"""Delegation: an agent's ``delegates`` are tools; calling one runs that agent as a child run.

The guide's coordinator pattern. A ``delegate_to_<agent>`` call passes the parent's gate like
any tool call (allowlist, guardrails, approvals; its risk is the highest of the delegate's
tools), then starts a child ``AgentRun``: its own history, guardrails, approvals (decided on
the child's workflow id; ``duragent approvals`` lists them) and audit trail. Children started
in one turn run in parallel and are awaited before the next model call. Each child's spend and
tokens count against the parent's budget (a child gets what the parent has left as its own cap),
and the parent's step for the call records the child's answer and ``<workflow id>/<run id>``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError
from temporalio.workflow import ChildWorkflowHandle

from duragent._approvals import args_hash
from duragent._guardrails import RISK_SCORES
from duragent._messages import Message, ResolvedSpecs, RunConfig, RunRequest, RunResult, ToolCall
from duragent._messages import ToolSpec as _ToolSpec
from duragent._names import DELEGATE_PREFIX
from duragent._spec import AgentSpec
from duragent.workflows._child import start_agent
from duragent.workflows._ledger import Ledger
from duragent.workflows._state import RunState

MAX_DEPTH = 3
"""Delegation chains stop here: a run at this depth is not offered its delegates, so agents that
delegate to each other (or to themselves) cannot recurse without end."""
MAX_PER_TURN = 8
"""Delegations one model turn may start; further delegate calls that turn are refused."""


def offers_delegates(agent: AgentSpec, state: RunState) -> bool:
    """Whether ``agent``'s delegates are offered and run in this run: the specs were resolved
    by a worker that runs them (``ResolvedSpecs.delegation``, in history: a run resolved
    before delegation existed replays as it was recorded) and the chain is not too deep."""
    return (
        bool(agent.delegates)
        and state.specs is not None
        and state.specs.delegation
        and state.request.run_config.delegation_depth < MAX_DEPTH
    )


DELEGATE_PARAMETERS = {
    "type": "object",
    "properties": {
        "task": {
            "type": "string",
            "description": "What the agent should do, with everything it needs to know.",
        }
    },
    "required": ["task"],
    "additionalProperties": False,
}
"""The arguments of a ``delegate_to_<agent>`` tool."""


def delegate_tool(specs: ResolvedSpecs, target: str) -> _ToolSpec:
    """The tool a delegate is offered as: one ``task`` string; as risky as its riskiest tool."""
    agent = specs.agents[target]
    risks = [specs.tools[name].risk for name in agent.tools if name in specs.tools]
    risk = max(risks, key=lambda r: RISK_SCORES.get(r, 1.0), default="read")
    return _ToolSpec(
        name=f"{DELEGATE_PREFIX}{target}",
        description=(
            f"Ask the {target} agent to do a task and answer with its result (it runs apart, "
            f"with its own tools and approvals). {agent.description}"
        ).strip(),
        parameters=DELEGATE_PARAMETERS,
        risk=risk,
        idempotent=False,
    )


@dataclass
class _Child:
    agent: AgentSpec
    target: str
    call: ToolCall
    step_id: str
    at: datetime
    ref: str | None
    handle: ChildWorkflowHandle[object, RunResult]


class Delegation:
    def __init__(self, state: RunState, ledger: Ledger) -> None:
        self.state = state
        self.ledger = ledger
        self._running: list[_Child] = []

    def refusal(self, agent: AgentSpec) -> str | None:
        """Why one more delegation must not start now, or ``None``."""
        if len(self._running) >= MAX_PER_TURN:
            return f"at most {MAX_PER_TURN} delegations may run at once; wait for their answers"
        left = self.remaining_budget(agent)
        if left is not None and left <= 0:
            return "the run's budget is spent: no delegation can start"
        return None

    def remaining_budget(self, agent: AgentSpec) -> float | None:
        caps = [agent.limits.max_cost_usd, self.state.request.run_config.max_cost_usd]
        known = [cap for cap in caps if cap is not None]
        return max(min(known) - self.ledger.cost_usd, 0.0) if known else None

    async def start(
        self, agent: AgentSpec, target: str, call: ToolCall, *, ref: str | None
    ) -> None:
        """Start the child run for a delegate call that passed the gate (not awaited here)."""
        state = self.state
        step_id = self.ledger.next_step_id()
        parent = state.request
        request = RunRequest(
            agent=target,
            input=str(call.arguments.get("task", "")),
            tenant=parent.tenant,
            user=parent.user,
            metadata={
                **parent.metadata,
                "parent_workflow_id": workflow.info().workflow_id,
                "parent_step": step_id,
            },
            run_config=RunConfig(
                model=parent.run_config.model,
                max_cost_usd=self.remaining_budget(agent),
                delegation_depth=parent.run_config.delegation_depth + 1,
            ),
        )
        handle = await start_agent(request, id=f"{workflow.info().workflow_id}-{step_id}-{target}")
        self._running.append(_Child(agent, target, call, step_id, workflow.now(), ref, handle))

    async def wait_all(self) -> None:
        """Await every child started this turn; record each and tell the model its answer."""
        if not self._running:
            return
        running, self._running = self._running, []
        first = min(child.at for child in running)
        outcomes = await asyncio.gather(
            *(child.handle for child in running), return_exceptions=True
        )
        self.ledger.add_time("tool", (workflow.now() - first).total_seconds() * 1000)
        for child, outcome in zip(running, outcomes, strict=True):
            self._record(child, outcome)

    def _record(self, child: _Child, outcome: RunResult | BaseException) -> None:
        state, ledger = self.state, self.ledger
        child_ref = f"{child.handle.id}/{child.handle.first_execution_run_id or ''}".rstrip("/")
        if isinstance(outcome, RunResult):
            ledger.usage = ledger.usage + outcome.usage
            ledger.cost_usd += outcome.cost_usd
            ledger.cost_complete = ledger.cost_complete and outcome.cost_complete
            child_ref = f"{outcome.workflow_id}/{outcome.run_id}"
            ok = outcome.status == "completed"
            text = (
                outcome.output or ""
                if ok
                else f"{child.target} could not finish ({outcome.status}): {outcome.error or ''}"
            )
            detail = f"delegated to {child.target}: {outcome.status}"
            cost, usage = outcome.cost_usd, outcome.usage
        else:
            ok = False
            cause = outcome.cause if isinstance(outcome, ChildWorkflowError) else outcome
            text = f"{child.target} failed: {cause}"
            detail = f"delegated to {child.target}: failed"
            cost, usage = None, None
        if not ok:
            ledger.errors["delegate_failed"] += 1
        ledger.steps.append(
            ledger.make(
                "tool" if ok else "tool_error",
                step_id=child.step_id,
                agent=child.agent.name,
                turn=state.turn,
                at=child.at,
                duration_ms=(workflow.now() - child.at).total_seconds() * 1000,
                tool=child.call.name,
                arguments=child.call.arguments,
                output=text,
                detail=detail,
                ref=child.ref,
                spec_hash=state.spec_hash(child.agent),
                args_hash=args_hash(child.call.arguments),
                cost_usd=cost,
                usage=usage,
                child=child_ref,
            )
        )
        state.messages.append(
            Message(role="tool", content=text, tool_call_id=child.call.id, name=child.call.name)
        )
