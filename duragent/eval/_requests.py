"""What crosses Temporal boundaries in an evaluation: the ``EvalRun`` workflow's input, result
and progress, and the request to score a case with a Python scorer the App registered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from duragent._messages import RunResult
from duragent._spec import ModelRef
from duragent._wire import Wire
from duragent.eval._dataset import Case, Dataset
from duragent.eval._report import CaseOutcome


class EvalRequest(Wire):
    """Input of the ``EvalRun`` workflow: a dataset run against an agent."""

    dataset: Dataset
    agent: str
    concurrency: int = Field(default=8, ge=1, le=256)
    repeat: int = Field(default=1, ge=1, le=50)
    model: ModelRef | None = None
    """Run every case on this model instead of the agents' own (one side of ``--model A --model B``)."""
    tenant: str | None = None
    user: str | None = None
    case_timeout_s: float = Field(default=600.0, gt=0)
    """A case's run is ended (and the case scored incorrect, ``timeout``) after this long."""
    continue_as_new_every: int | None = Field(default=None, ge=1)
    """Continue as new after this many case attempts, besides whenever Temporal suggests it
    (tests; an evaluation's history otherwise grows with its cases)."""
    carry: list[CaseOutcome] = Field(default_factory=list)
    """Set only by the evaluation itself when it continues as new: the outcomes so far."""
    started_at: datetime | None = None
    """Set only by the evaluation itself when it continues as new: when it started."""


class EvalCheck(Wire):
    """What an evaluation needs from the workers before its first case: these agents, Python
    scorers, judge models and the model the cases run on (``provider/name``)."""

    agents: list[str] = Field(default_factory=list)
    python_scorers: list[str] = Field(default_factory=list)
    judge_models: list[str] = Field(default_factory=list)
    models: list[ModelRef] = Field(default_factory=list)


class EvalProgress(Wire):
    """Answer of the ``progress`` query: what has landed so far."""

    total: int
    done: int = 0
    correct: int = 0
    partial: int = 0
    incorrect: int = 0
    running: int = 0
    cost_usd: float = 0.0
    judge_cost_usd: float = 0.0

    @property
    def accuracy(self) -> float:
        return self.correct / self.done if self.done else 0.0


class EvalResult(Wire):
    """Result of the ``EvalRun`` workflow: every case attempt's outcome, in dataset order.
    ``duragent.eval.summarize`` turns it into the report (outside the workflow)."""

    dataset: str
    agent: str
    model: str | None = None
    started_at: datetime
    finished_at: datetime
    outcomes: list[CaseOutcome]


class PythonScoreRequest(Wire):
    """Score one finished case with the App's Python scorer ``name``."""

    name: str
    case: Case
    result: RunResult
    options: dict[str, Any] = Field(default_factory=dict)
