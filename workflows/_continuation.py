"""Continue-as-new for long runs: at a turn boundary with nothing pending, start afresh with an
empty history, carrying everything the run has done.

What is carried: the specs resolved at the start (a run never switches specs midway), the
active agent and path, turn, steps, usage, spend, errors, time by layer, the transcript
reference, how much of the audit trail is written and the models the run is skipping after a
failover (and until when). Budgets therefore keep counting, and a dead primary stays skipped.
"""

from __future__ import annotations

from temporalio import workflow

from duragent._messages import Carry, ResolvedSpecs
from duragent._prompt import with_rules
from duragent.workflows._ledger import Ledger
from duragent.workflows._state import RunState


def should_continue_as_new(state: RunState, *, pending: bool, turns_here: int) -> bool:
    every = state.request.run_config.continue_as_new_every
    suggested = workflow.info().is_continue_as_new_suggested()
    return not pending and (suggested or (every is not None and turns_here >= every))


def continue_as_new(state: RunState, ledger: Ledger) -> None:
    """Start this run afresh with an empty history, carrying everything it has done (the
    caller has flushed the audit trail and let every handler finish)."""
    assert state.specs is not None
    request = state.request
    carry = Carry(
        specs=state.specs, transcript_key=state.transcript_key, stored=state.stored,
        messages=state.messages, agent=state.agent, path=state.path, turn=state.turn,
        steps=ledger.steps, next_step=ledger.next_step, usage=ledger.usage,
        cost_usd=ledger.cost_usd, cost_complete=ledger.cost_complete, errors=dict(ledger.errors),
        layers_ms=ledger.layers(), audited=state.audited, max_risk=state.max_risk,
        started_at=state.started_at, cooling=dict(state.cooling),
        continued=(request.carry.continued + 1) if request.carry else 1,
    )  # fmt: skip
    workflow.continue_as_new(request.model_copy(update={"carry": carry}))


def restore(state: RunState, ledger: Ledger, carry: Carry) -> ResolvedSpecs:
    """Pick up where the previous execution of the run left off."""
    state.specs = specs = with_rules(carry.specs)  # carried with them in place: idempotent
    state.transcript_key, state.stored = carry.transcript_key, carry.stored
    state.messages = list(carry.messages)
    state.agent = carry.agent
    state.path = list(carry.path)
    state.turn = carry.turn
    state.audited, state.max_risk = carry.audited, carry.max_risk
    state.started_at = carry.started_at
    state.cooling = dict(carry.cooling)
    ledger.restore(
        steps=carry.steps, next_step=carry.next_step, usage=carry.usage,
        cost_usd=carry.cost_usd, cost_complete=carry.cost_complete, errors=carry.errors,
        layers_ms=carry.layers_ms,
    )  # fmt: skip
    return specs
