"""Continue-as-new for long runs: at a turn boundary with nothing pending, start afresh with an
empty history, carrying everything the run has done (a mixin of ``AgentRun``).

What is carried: the specs resolved at the start (a run never switches specs midway), the
active agent and path, turn, steps, usage, spend, errors, time by layer, the transcript
reference and how much of the audit trail is written. Budgets therefore keep counting.
"""

from __future__ import annotations

from datetime import datetime

from duragent.workflows._desk import ApprovalDesk
from duragent.workflows._ledger import Ledger
from temporalio import workflow

from duragent._approvals import normalize_roles
from duragent._messages import Carry, Message, ResolvedSpecs, RunRequest


class Continuation:
    """The continue-as-new part of ``AgentRun`` (state lives on the workflow instance)."""

    _ledger: Ledger
    _desk: ApprovalDesk
    _specs: ResolvedSpecs | None
    _messages: list[Message]
    _transcript_key: str
    _stored: int
    _agent: str
    _path: list[str]
    _turn: int
    _audited: int
    _max_risk: float | None
    _started_at: datetime

    async def _flush_audit(self) -> None:
        raise NotImplementedError

    def _should_continue_as_new(self, request: RunRequest, turns_here: int) -> bool:
        every = request.run_config.continue_as_new_every
        suggested = workflow.info().is_continue_as_new_suggested()
        return not self._desk.pending and (suggested or (every is not None and turns_here >= every))

    async def _continue_as_new(self, request: RunRequest) -> None:
        """Start this run afresh with an empty history, carrying everything it has done."""
        await self._flush_audit()
        await workflow.wait_condition(workflow.all_handlers_finished)
        assert self._specs is not None
        ledger = self._ledger
        carry = Carry(
            specs=self._specs, transcript_key=self._transcript_key, stored=self._stored,
            messages=self._messages, agent=self._agent, path=self._path, turn=self._turn,
            steps=ledger.steps, next_step=ledger.next_step, usage=ledger.usage,
            cost_usd=ledger.cost_usd, cost_complete=ledger.cost_complete, errors=dict(ledger.errors),
            layers_ms=ledger.layers(), audited=self._audited, max_risk=self._max_risk,
            started_at=self._started_at,
            continued=(request.carry.continued + 1) if request.carry else 1,
        )  # fmt: skip
        workflow.continue_as_new(request.model_copy(update={"carry": carry}))

    def _restore(self, carry: Carry) -> ResolvedSpecs:
        self._specs = carry.specs
        self._desk.roles = normalize_roles(carry.specs.approvers)
        self._desk.schemas = {name: t.parameters for name, t in carry.specs.tools.items()}
        self._transcript_key, self._stored = carry.transcript_key, carry.stored
        self._messages = list(carry.messages)
        self._agent = self._desk.agent = carry.agent
        self._path = list(carry.path)
        self._turn = self._desk.turn = carry.turn
        self._audited, self._max_risk = carry.audited, carry.max_risk
        self._started_at = carry.started_at
        self._ledger.restore(
            steps=carry.steps, next_step=carry.next_step, usage=carry.usage,
            cost_usd=carry.cost_usd, cost_complete=carry.cost_complete, errors=carry.errors,
            layers_ms=carry.layers_ms,
        )  # fmt: skip
        return carry.specs
