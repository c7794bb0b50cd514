"""Guardrail checkpoints of a run: evaluate the agent's rules and record what they decided.

Evaluation is pure (``duragent._guardrails``), so it runs inline in the workflow: no activity,
no round trip. Only decisions where some rule matched are recorded; a run with no matching rule
has nothing to audit at that point.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from duragent._approvals import args_hash
from duragent._guardrails import Decision, EvalContext, RiskLevel, Stage, evaluate
from duragent._spec import AgentSpec
from duragent.workflows._ledger import Ledger


class Guard:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def check(
        self,
        agent: AgentSpec,
        stage: Stage,
        *,
        turn: int,
        at: datetime,
        spec_hash: str | None,
        text: str = "",
        tool: str | None = None,
        risk: RiskLevel | None = None,
        arguments: dict[str, Any] | None = None,
        confidence: float | None = None,
        risk_score: float | None = None,
    ) -> Decision:
        decision = evaluate(
            agent.guardrails,
            EvalContext(
                stage=stage,
                text=text,
                tool=tool,
                risk=risk,
                arguments=arguments,
                confidence=confidence,
                risk_score=risk_score,
            ),
        )
        if decision.matched:
            self._ledger.record(
                "guardrail",
                agent=agent.name,
                turn=turn,
                at=at,
                tool=tool,
                arguments=arguments,
                rule=decision.rule.name if decision.rule else None,
                action=decision.action,
                reason=decision.reason,
                detail=f"{stage}: matched {', '.join(decision.matched)}",
                spec_hash=spec_hash,
                args_hash=args_hash(arguments) if arguments is not None else None,
            )
            if decision.action == "block":
                self._ledger.errors["guardrail_blocked"] += 1
        return decision
