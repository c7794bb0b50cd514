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
from duragent._vocab import LAYERS, Layer

MEASURED: tuple[Layer, ...] = tuple(layer for layer in LAYERS if layer != "orchestration")
"""The layers a run measures; orchestration is what is left of the wall time."""


class Ledger:
    def __init__(self) -> None:
        self.steps: list[StepRecord] = []
        self.usage = Usage()
        self.cost_usd = 0.0
        self.cost_complete = True
        self.errors: Counter[str] = Counter()
        self.layers_ms: dict[Layer, float] = dict.fromkeys(MEASURED, 0.0)
        """Time by layer so far (``duragent._vocab.LAYERS``; orchestration is the remainder)."""
        self._next_step = 1

    @property
    def next_step(self) -> int:
        return self._next_step

    def layers(self) -> dict[str, float]:
        """Time by layer so far, to carry across continue-as-new."""
        return {str(layer): ms for layer, ms in self.layers_ms.items()}

    def add_time(self, layer: Layer, ms: float) -> None:
        self.layers_ms[layer] += ms

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
        self.layers_ms = {layer: layers_ms.get(layer, 0.0) for layer in MEASURED}

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
        self.add_time("reasoning", response.ttft_ms)
        self.add_time("output", max(response.total_ms - response.ttft_ms, 0.0))
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
        self.add_time("tool", result.duration_ms)
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
        accounted = sum(self.layers_ms.values())
        return LatencyBreakdown(
            total_ms=round(total_ms, 3),
            orchestration_ms=round(max(total_ms - accounted, 0.0), 3),
            **{f"{layer}_ms": round(ms, 3) for layer, ms in self.layers_ms.items()},
        )
