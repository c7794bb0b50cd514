"""Evaluation: datasets of cases, scorers, and reports by category with a baseline gate.

Pure, so the ``EvalRun`` workflow imports it inside the sandbox: datasets (``load_dataset`` only
reads files, and only when called), scoring and summaries. Writing report files is an edge and
loads on first use (``write_reports``; PEP 562 ``__getattr__`` below).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from duragent.eval._dataset import (
    Case,
    CaseInput,
    CaseLimits,
    Dataset,
    DatasetError,
    ScorerSpec,
    Turn,
    default_scorers,
    load_dataset,
)
from duragent.eval._report import (
    CaseOutcome,
    CaseStats,
    CategoryDelta,
    Comparison,
    EvalReport,
    Flip,
    GroupStats,
    compare,
    percentile,
    summarize,
    table_columns,
    table_rows,
)
from duragent.eval._requests import (
    EvalCheck,
    EvalProgress,
    EvalRequest,
    EvalResult,
    PythonScoreRequest,
)
from duragent.eval._scorer_specs import (
    DETERMINISTIC,
    SCORER_TYPES,
    ContainsScorer,
    CostScorer,
    ExactScorer,
    HandedOffToScorer,
    JsonScorer,
    JudgeScorer,
    LatencyScorer,
    NumericScorer,
    PythonScorer,
    RegexScorer,
    StatusScorer,
    ToolCalledScorer,
    ToolNotCalledScorer,
    TrajectoryScorer,
)
from duragent.eval._scorers import (
    JUDGE_INSTRUCTIONS,
    Score,
    ScorerFunction,
    ScorerRegistry,
    Verdict,
    coerce_score,
    combine,
    judge_prompt,
    judge_score,
    score_case,
    trajectory,
)

if TYPE_CHECKING:
    from duragent.eval._files import render_junit, render_markdown, write_chart, write_reports

_LAZY = {
    "write_reports": "duragent.eval._files",
    "write_chart": "duragent.eval._files",
    "render_junit": "duragent.eval._files",
    "render_markdown": "duragent.eval._files",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "DETERMINISTIC",
    "JUDGE_INSTRUCTIONS",
    "SCORER_TYPES",
    "Case",
    "CaseInput",
    "CaseLimits",
    "CaseOutcome",
    "CaseStats",
    "CategoryDelta",
    "Comparison",
    "ContainsScorer",
    "CostScorer",
    "Dataset",
    "DatasetError",
    "EvalCheck",
    "EvalProgress",
    "EvalReport",
    "EvalRequest",
    "EvalResult",
    "ExactScorer",
    "Flip",
    "GroupStats",
    "HandedOffToScorer",
    "JsonScorer",
    "JudgeScorer",
    "LatencyScorer",
    "NumericScorer",
    "PythonScoreRequest",
    "PythonScorer",
    "RegexScorer",
    "Score",
    "ScorerFunction",
    "ScorerRegistry",
    "ScorerSpec",
    "StatusScorer",
    "ToolCalledScorer",
    "ToolNotCalledScorer",
    "TrajectoryScorer",
    "Turn",
    "Verdict",
    "coerce_score",
    "combine",
    "compare",
    "default_scorers",
    "judge_prompt",
    "judge_score",
    "load_dataset",
    "percentile",
    "render_junit",
    "render_markdown",
    "score_case",
    "summarize",
    "table_columns",
    "table_rows",
    "trajectory",
    "write_chart",
    "write_reports",
]
