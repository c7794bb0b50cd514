"""The figures of ``duragent report``, computed from the runs themselves.

Percentiles are nearest-rank over the exact per-run values, not interpolated and not bucketed:
P99 of 20 runs is the slowest of them, and with fewer than 1,000 runs P999 is the maximum.
Nothing here does I/O; ``duragent.cli`` lists the runs from Temporal and hands them over.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from fractions import Fraction
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from duragent import _vocab
from duragent._messages import RunResult


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


LAYERS = ("total", *_vocab.LAYERS)
"""Keys of ``Report.latency_s``: the run's wall time, then each layer of ``LatencyBreakdown``."""

ERROR_STATUSES = frozenset({"failed", "budget_exceeded"})
"""``RunResult.status`` values counted as errors. A human's rejection is a governance outcome."""

CLOSED_WITHOUT_RESULT = {
    "terminated": "terminated",
    "timed_out": "timed_out",
    "canceled": "canceled",
    "failed": "workflow_failed",
}
"""Temporal statuses of runs that ended without a ``RunResult``, to the outcome reported: each
counts as an error run, and as one error of that type."""


class RunSample(_Frozen):
    """One run as listed by Temporal: its execution status, times and, once closed, its result."""

    workflow_id: str
    run_id: str = ""
    agent: str | None = None
    """The entry agent: ``result.agent_path[0]`` when there is a result, else read from the
    workflow id (``run-<agent>-<id>``) or, failing that, the ``DuragentAgent`` attribute."""
    execution_status: Literal[
        "running", "completed", "failed", "terminated", "canceled", "timed_out"
    ]
    """Temporal's status of the execution, lower case."""
    started_at: datetime
    closed_at: datetime | None = None
    result: RunResult | None = None

    @property
    def in_flight(self) -> bool:
        return self.execution_status == "running"

    @property
    def outcome(self) -> str | None:
        """``RunResult.status`` for a closed run, ``terminated``/``timed_out``/``canceled``/
        ``workflow_failed`` for one that ended without a result, ``None`` while in flight."""
        if self.result is not None:
            return self.result.status
        if self.in_flight:
            return None
        return CLOSED_WITHOUT_RESULT.get(self.execution_status, self.execution_status)

    @property
    def is_error(self) -> bool:
        outcome = self.outcome
        return outcome in ERROR_STATUSES or outcome in CLOSED_WITHOUT_RESULT.values()

    @property
    def asked_for_approval(self) -> bool:
        return self.result is not None and any(
            step.kind == "approval_requested" for step in self.result.steps
        )


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``p`` percent at or below it.

    Exact arithmetic on the rank, so P99.9 of 1,000 values is the 999th, not the 1,000th.
    """
    if not values:
        raise ValueError("no values: a percentile needs at least one")
    if not 0 < p <= 100:
        raise ValueError(f"percentile {p} is outside (0, 100]")
    ordered = sorted(values)
    rank = math.ceil(Fraction(str(p)) * len(ordered) / 100)
    return ordered[max(rank, 1) - 1]


class Distribution(_Frozen):
    """Count, mean, P50, P99, P999 and maximum of per-run values; ``None`` with no values."""

    count: int = 0
    mean: float | None = None
    p50: float | None = None
    p99: float | None = None
    p999: float | None = None
    max: float | None = None

    @classmethod
    def of(cls, values: Sequence[float]) -> Distribution:
        if not values:
            return cls()
        return cls(
            count=len(values),
            mean=sum(values) / len(values),
            p50=percentile(values, 50),
            p99=percentile(values, 99),
            p999=percentile(values, 99.9),
            max=max(values),
        )


class Tokens(_Frozen):
    """Model tokens summed over the runs with a result, and per run."""

    input: int = 0
    output: int = 0
    cached: int = 0
    per_request: float | None = None
    """Input plus output tokens per run."""


class Report(_Frozen):
    """Latency, cost, tokens, errors and approvals of the runs started in a time window.

    Latencies are in seconds. Figures over runs cover the finished runs that returned a
    ``RunResult``; runs still in flight are only counted, and runs Temporal ended without a
    result (terminated, timed out, cancelled) count as errors.
    """

    since: datetime
    until: datetime
    agent: str | None = None
    """Only runs whose entry agent is this one, when set."""
    runs: int = 0
    """Every run started in the window: finished and in flight."""
    finished: int = 0
    in_flight: int = 0
    outcomes: dict[str, int] = Field(default_factory=dict)
    """Finished runs by outcome: completed, failed, rejected, budget_exceeded, terminated, ..."""
    latency_s: dict[str, Distribution] = Field(default_factory=dict)
    """Per-run seconds by layer (``LAYERS``): total, input, reasoning, output, tool, approval,
    orchestration."""
    total_cost_usd: float = 0.0
    cost_per_request_usd: float | None = None
    """Total cost over the runs with a result: the mean cost of a request."""
    cost_usd: Distribution = Field(default_factory=Distribution)
    cost_complete: bool = True
    """False when some run used a model of unknown price: the costs are then lower bounds."""
    tokens: Tokens = Field(default_factory=Tokens)
    error_runs: int = 0
    """Finished runs that failed, exceeded their budget or ended without a result."""
    error_rate: float | None = None
    """``error_runs / finished``."""
    error_types: dict[str, int] = Field(default_factory=dict)
    """Failures by type, summed over the runs' ``RunResult.errors``: every failed attempt,
    those a retry or a fallback recovered from included; plus one per run Temporal ended."""
    degraded: int = 0
    """Runs answered by their degraded outcome after every model failed."""
    approval_runs: int = 0
    """Runs with a result that asked a human at least once."""
    approval_rate: float | None = None
    """``approval_runs`` over the finished runs with a result."""
    approval_wait_s: Distribution = Field(default_factory=Distribution)
    """Time those runs spent waiting for humans (``LatencyBreakdown.approval_ms``)."""

    def metrics(self) -> dict[str, float | None]:
        """Every figure an alert rule may name (``METRICS``), ``None`` where there is no data."""
        values: dict[str, float | None] = {}
        for layer in LAYERS:
            dist = self.latency_s.get(layer, Distribution())
            prefix = "latency" if layer == "total" else layer
            for stat in STATS:
                values[f"{stat}_{prefix}_s"] = getattr(dist, stat)
        for name, dist in (("approval_wait_s", self.approval_wait_s), ("cost_usd", self.cost_usd)):
            for stat in STATS:
                values[f"{stat}_{name}"] = getattr(dist, stat)
        values["cost_per_request_usd"] = self.cost_per_request_usd
        values["total_cost_usd"] = self.total_cost_usd if self.finished else None
        values["tokens_per_request"] = self.tokens.per_request
        values["error_rate"] = self.error_rate
        values["approval_rate"] = self.approval_rate
        values["runs"] = float(self.runs)
        values["in_flight"] = float(self.in_flight)
        return values


STATS = ("p50", "p99", "p999", "mean", "max")
METRICS: tuple[str, ...] = tuple(Report(since=datetime.min, until=datetime.min).metrics())
"""Names of the figures alert rules can test: ``p99_latency_s``, ``p50_reasoning_s``,
``cost_per_request_usd``, ``error_rate``, ``approval_rate``, ``p99_approval_wait_s``, ..."""


def build_report(
    samples: Iterable[RunSample], *, since: datetime, until: datetime, agent: str | None = None
) -> Report:
    """The report over ``samples`` (those of another entry agent left out when ``agent`` is set)."""
    runs = [s for s in samples if agent is None or s.agent == agent]
    finished = [s for s in runs if not s.in_flight]
    closed = [(s, s.result) for s in finished if s.result is not None]
    results = [result for _, result in closed]
    error_types: Counter[str] = Counter()
    for result in results:
        error_types.update(result.errors)
    error_types.update(s.outcome for s in finished if s.result is None and s.outcome)
    latency = {
        layer: Distribution.of([getattr(r.latency, f"{layer}_ms") / 1000 for r in results])
        for layer in LAYERS
    }
    costs = [r.cost_usd for r in results]
    asked = [result for s, result in closed if s.asked_for_approval]
    error_runs = sum(1 for s in finished if s.is_error)
    input_tokens = sum(r.usage.input_tokens for r in results)
    output_tokens = sum(r.usage.output_tokens for r in results)
    return Report(
        since=since,
        until=until,
        agent=agent,
        runs=len(runs),
        finished=len(finished),
        in_flight=len(runs) - len(finished),
        outcomes=dict(sorted(Counter(str(s.outcome) for s in finished).items())),
        latency_s=latency,
        total_cost_usd=sum(costs),
        cost_per_request_usd=sum(costs) / len(costs) if costs else None,
        cost_usd=Distribution.of(costs),
        cost_complete=all(r.cost_complete for r in results),
        tokens=Tokens(
            input=input_tokens,
            output=output_tokens,
            cached=sum(r.usage.cached_tokens for r in results),
            per_request=(input_tokens + output_tokens) / len(results) if results else None,
        ),
        error_runs=error_runs,
        error_rate=error_runs / len(finished) if finished else None,
        error_types=dict(error_types.most_common()),
        degraded=sum(1 for r in results if r.degraded),
        approval_runs=len(asked),
        approval_rate=len(asked) / len(results) if results else None,
        approval_wait_s=Distribution.of([r.latency.approval_ms / 1000 for r in asked]),
    )
