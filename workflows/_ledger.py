"""What a run has done so far: steps, usage, spend, errors and time by layer.

Pure bookkeeping owned by the workflow; everything here is derived from history (activity
results and workflow time), so it is rebuilt identically on replay.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from duragent._approvals import args_hash
from duragent._messages import (
    LatencyBreakdown,
    ModelResponse,
    StepKind,
    StepRecord,
    ToolResult,
    Usage,
)


class Ledger:
    def __init__(self) -> None:
        self.steps: list[StepRecord] = []
        self.usage = Usage()
        self.cost_usd = 0.0
        self.cost_complete = True
        self.errors: Counter[str] = Counter()
        self.input_ms = 0.0
        self.reasoning_ms = 0.0
        self.output_ms = 0.0
        self.tool_ms = 0.0
        self.approval_ms = 0.0
        self._next_step = 1

    @property
    def next_step(self) -> int:
        return self._next_step

    def layers(self) -> dict[str, float]:
        """Time by layer so far, to carry across continue-as-new."""
        return {
            "input": self.input_ms,
            "reasoning": self.reasoning_ms,
            "output": self.output_ms,
            "tool": self.tool_ms,
            "approval": self.approval_ms,
        }

    def restore(
        self,
        *,
        steps: list[StepRecord],
        next_step: int,
        usage: Usage,
        cost_usd: float,
        cost_complete: bool,
        errors: dict[str, int],
        layers_ms: dict[str, float],
    ) -> None:
        """Pick up where the previous execution of the run left off (continue-as-new)."""
        self.steps = list(steps)
        self._next_step = next_step
        self.usage, self.cost_usd, self.cost_complete = usage, cost_usd, cost_complete
        self.errors = Counter(errors)
        self.input_ms = layers_ms.get("input", 0.0)
        self.reasoning_ms = layers_ms.get("reasoning", 0.0)
        self.output_ms = layers_ms.get("output", 0.0)
        self.tool_ms = layers_ms.get("tool", 0.0)
        self.approval_ms = layers_ms.get("approval", 0.0)

    def next_step_id(self) -> str:
        step_id = f"s{self._next_step}"
        self._next_step += 1
        return step_id

    def make(
        self, kind: StepKind, *, step_id: str, agent: str, turn: int, at: datetime, **fields: Any
    ) -> StepRecord:
        return StepRecord(step_id=step_id, kind=kind, agent=agent, turn=turn, at=at, **fields)

    def record(
        self, kind: StepKind, *, agent: str, turn: int, at: datetime, **fields: Any
    ) -> StepRecord:
        """Append a new step with the next step id."""
        step = self.make(kind, step_id=self.next_step_id(), agent=agent, turn=turn, at=at, **fields)
        self.steps.append(step)
        return step

    def add_model(self, response: ModelResponse, *, agent: str, turn: int, at: datetime) -> None:
        self.usage = self.usage + response.usage
        if response.cost_usd is None:
            self.cost_complete = False
        else:
            self.cost_usd += response.cost_usd
        self.reasoning_ms += response.ttft_ms
        self.output_ms += max(response.total_ms - response.ttft_ms, 0.0)
        message = response.message
        called = ", ".join(c.name for c in message.tool_calls)
        self.record(
            "model",
            agent=agent,
            turn=turn,
            at=at,
            duration_ms=response.total_ms,
            model=response.model,
            output=message.content or None,
            usage=response.usage,
            cost_usd=response.cost_usd,
            detail=f"calls {called}" if called else None,
        )

    def add_tool(
        self,
        result: ToolResult,
        *,
        step_id: str,
        agent: str,
        turn: int,
        at: datetime,
        arguments: dict[str, Any],
        ref: str | None = None,
        spec_hash: str | None = None,
    ) -> None:
        self.tool_ms += result.duration_ms
        if result.is_error:
            self.errors[result.error_type or "tool_error"] += 1
        self.steps.append(
            StepRecord(
                step_id=step_id,
                kind="tool_error" if result.is_error else "tool",
                agent=agent,
                turn=turn,
                at=at,
                duration_ms=result.duration_ms,
                tool=result.name,
                arguments=arguments,
                output=result.output,
                detail=result.error_type,
                ref=ref,
                spec_hash=spec_hash,
                args_hash=args_hash(arguments),
                sandbox=result.sandbox,
                artifacts=result.artifacts,
            )
        )

    def latency(self, total_ms: float) -> LatencyBreakdown:
        accounted = (
            self.input_ms + self.reasoning_ms + self.output_ms + self.tool_ms + self.approval_ms
        )
        return LatencyBreakdown(
            total_ms=round(total_ms, 3),
            input_ms=round(self.input_ms, 3),
            reasoning_ms=round(self.reasoning_ms, 3),
            output_ms=round(self.output_ms, 3),
            tool_ms=round(self.tool_ms, 3),
            approval_ms=round(self.approval_ms, 3),
            orchestration_ms=round(max(total_ms - accounted, 0.0), 3),
        )
