"""An evaluation's outcomes, summed up: accuracy overall, per category and per tag, latency
percentiles, tokens and cost, pass@k and pass^k over repeats; and the comparison with a
baseline that a CI gate reads.

Pure: the report is computed from the outcomes alone, so the same outcomes always give the same
report, and ``report.json`` re-loads into the ``EvalReport`` it was written from (what
``--baseline`` reads). Writing files lives in ``_files``.

Definitions, so two reports compare like with like:

- accuracy is correct attempts / attempts; the mean score averages attempts' scores;
- latency percentiles are nearest-rank over attempts (P99 of 10 values is the largest);
- with k attempts per case, pass@k is the share of cases with at least one correct attempt,
  pass^k the share with every attempt correct, and the spread the standard deviation
  (population) of a case's scores, averaged over the group's cases;
- a case passes (for flips) when every one of its attempts is correct.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime

from pydantic import Field, field_validator

from duragent._messages import RunStatus
from duragent._wire import Wire
from duragent.eval._scorers import Score, Verdict

MAX_OUTPUT = 2000
"""Characters of a case's answer kept in its outcome (history and report stay small)."""


class CaseOutcome(Wire):
    """One attempt at one case: its verdict, scores and what the run cost."""

    case_id: str
    category: str = "uncategorized"
    tags: list[str] = Field(default_factory=list)
    attempt: int = Field(default=1, ge=1)
    verdict: Verdict
    score: float = Field(ge=0, le=1)
    scores: list[Score] = Field(default_factory=list)
    workflow_id: str = ""
    status: RunStatus = "completed"
    latency_ms: float = 0.0
    cost_usd: float = 0.0
    tokens: int = 0
    judge_cost_usd: float = 0.0
    errors: dict[str, int] = Field(default_factory=dict)
    output: str = ""
    """The answer, clipped to ``MAX_OUTPUT`` characters."""

    @field_validator("output")
    @classmethod
    def _clip(cls, text: str) -> str:
        return text[:MAX_OUTPUT]


class GroupStats(Wire):
    """The figures of a set of attempts: all, one category, or one tag."""

    attempts: int
    cases: int
    correct: int
    partial: int
    incorrect: int
    accuracy: float
    mean_score: float
    latency_p50_ms: float
    latency_p99_ms: float
    tokens: int
    tokens_per_case: float
    cost_usd: float
    cost_per_case_usd: float
    judge_cost_usd: float
    errors: dict[str, int] = Field(default_factory=dict)
    pass_at_k: float
    pass_all_k: float
    """pass^k: the share of cases with every attempt correct."""
    spread: float
    """Mean over cases of the standard deviation of their attempts' scores (0 with one)."""


class CaseStats(Wire):
    """One case over its attempts."""

    case_id: str
    category: str
    attempts: int
    correct: int
    mean_score: float
    spread: float
    passed_any: bool
    passed_all: bool


class EvalReport(Wire):
    """An evaluation's outcomes and their summary; ``report.json`` is this, as JSON."""

    dataset: str
    agent: str
    model: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    k: int = 1
    """Attempts per case (the most any case had)."""
    overall: GroupStats
    categories: dict[str, GroupStats] = Field(default_factory=dict)
    tags: dict[str, GroupStats] = Field(default_factory=dict)
    cases: list[CaseStats] = Field(default_factory=list)
    outcomes: list[CaseOutcome] = Field(default_factory=list)


def summarize(
    outcomes: Iterable[CaseOutcome],
    *,
    dataset: str,
    agent: str,
    model: str | None,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
) -> EvalReport:
    """The report of ``outcomes`` (one per case attempt)."""
    items = list(outcomes)
    by_category: dict[str, list[CaseOutcome]] = defaultdict(list)
    by_tag: dict[str, list[CaseOutcome]] = defaultdict(list)
    for outcome in items:
        by_category[outcome.category].append(outcome)
        for tag in dict.fromkeys(outcome.tags):
            by_tag[tag].append(outcome)
    cases = _cases(items)
    return EvalReport(
        dataset=dataset,
        agent=agent,
        model=model,
        started_at=started_at,
        finished_at=finished_at,
        k=max((c.attempts for c in cases), default=1),
        overall=_stats(items),
        categories={name: _stats(group) for name, group in sorted(by_category.items())},
        tags={name: _stats(group) for name, group in sorted(by_tag.items())},
        cases=cases,
        outcomes=items,
    )


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..100) of ``values``; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _stats(items: list[CaseOutcome]) -> GroupStats:
    n = len(items)
    verdicts = Counter(o.verdict for o in items)
    cases = _cases(items)
    errors: Counter[str] = Counter()
    for o in items:
        errors.update(o.errors)
    latencies = [o.latency_ms for o in items]
    tokens = sum(o.tokens for o in items)
    cost = sum(o.cost_usd for o in items)
    return GroupStats(
        attempts=n,
        cases=len(cases),
        correct=verdicts["correct"],
        partial=verdicts["partial"],
        incorrect=verdicts["incorrect"],
        accuracy=verdicts["correct"] / n if n else 0.0,
        mean_score=sum(o.score for o in items) / n if n else 0.0,
        latency_p50_ms=percentile(latencies, 50),
        latency_p99_ms=percentile(latencies, 99),
        tokens=tokens,
        tokens_per_case=tokens / n if n else 0.0,
        cost_usd=cost,
        cost_per_case_usd=cost / n if n else 0.0,
        judge_cost_usd=sum(o.judge_cost_usd for o in items),
        errors=dict(sorted(errors.items())),
        pass_at_k=_share(c.passed_any for c in cases),
        pass_all_k=_share(c.passed_all for c in cases),
        spread=sum(c.spread for c in cases) / len(cases) if cases else 0.0,
    )


def _cases(items: list[CaseOutcome]) -> list[CaseStats]:
    grouped: dict[str, list[CaseOutcome]] = defaultdict(list)
    for o in items:
        grouped[o.case_id].append(o)
    stats = []
    for case_id, attempts in grouped.items():
        scores = [o.score for o in attempts]
        mean = sum(scores) / len(scores)
        correct = sum(o.verdict == "correct" for o in attempts)
        stats.append(
            CaseStats(
                case_id=case_id,
                category=attempts[0].category,
                attempts=len(attempts),
                correct=correct,
                mean_score=mean,
                spread=math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores)),
                passed_any=correct > 0,
                passed_all=correct == len(attempts),
            )
        )
    return stats


def _share(flags: Iterable[bool]) -> float:
    values = list(flags)
    return sum(values) / len(values) if values else 0.0


# -- the terminal table ------------------------------------------------------------------------


def table_columns(report: EvalReport) -> list[str]:
    """Headers of ``table_rows``: pass@k and pass^k only when cases were repeated."""
    columns = ["group", "cases", "correct", "partial", "incorrect", "accuracy", "score"]
    columns += ["p50 ms", "p99 ms", "tokens", "tokens/case", "cost $", "cost/case $"]
    if report.k > 1:
        columns += [f"pass@{report.k}", f"pass^{report.k}", "spread"]
    return columns


def table_rows(report: EvalReport) -> list[list[str]]:
    """The report as text cells, one row per group: overall, each category, each tag
    (``#tag``); the CLI only lays them out (``table_columns`` are the headers)."""
    groups = [("overall", report.overall)]
    groups += [(name, stats) for name, stats in report.categories.items()]
    groups += [(f"#{name}", stats) for name, stats in report.tags.items()]
    return [_row(name, stats, report.k) for name, stats in groups]


def _row(name: str, s: GroupStats, k: int) -> list[str]:
    row = [name, str(s.cases), str(s.correct), str(s.partial), str(s.incorrect)]
    row += [f"{s.accuracy:.1%}", f"{s.mean_score:.2f}"]
    row += [f"{s.latency_p50_ms:.0f}", f"{s.latency_p99_ms:.0f}"]
    row += [str(s.tokens), f"{s.tokens_per_case:.0f}", f"{s.cost_usd:.4f}"]
    row += [f"{s.cost_per_case_usd:.5f}"]
    if k > 1:
        row += [f"{s.pass_at_k:.1%}", f"{s.pass_all_k:.1%}", f"{s.spread:.2f}"]
    return row


# -- comparing with a baseline -----------------------------------------------------------------


class CategoryDelta(Wire):
    """One category, before (the baseline) and after."""

    category: str
    accuracy_before: float | None
    accuracy_after: float | None
    score_before: float | None
    score_after: float | None

    @property
    def accuracy_delta(self) -> float | None:
        if self.accuracy_before is None or self.accuracy_after is None:
            return None
        return self.accuracy_after - self.accuracy_before


class Flip(Wire):
    """A case that passed in one report and not in the other."""

    case_id: str
    category: str
    before: str
    """The baseline's verdicts over attempts, e.g. ``correct`` or ``correct,partial``."""
    after: str


class Comparison(Wire):
    """A report against its baseline: ``regressed`` is what a CI gate exits on."""

    accuracy_before: float
    accuracy_after: float
    cost_per_case_before: float
    cost_per_case_after: float
    p99_before_ms: float
    p99_after_ms: float
    categories: list[CategoryDelta]
    broke: list[Flip]
    """Passed in the baseline, not now."""
    fixed: list[Flip]
    """Did not pass in the baseline, passes now."""
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    regressed: bool
    reasons: list[str] = Field(default_factory=list)


def compare(
    report: EvalReport,
    baseline: EvalReport,
    *,
    max_accuracy_drop: float = 0.0,
    max_cost_rise: float = 0.10,
    max_p99_rise: float = 0.25,
    p99_slack_ms: float = 50.0,
) -> Comparison:
    """Compare ``report`` with ``baseline``. It regressed when accuracy, overall or in a category
    both ran, dropped by more than ``max_accuracy_drop`` (a fraction: 0.05 is five points); or
    cost per case rose by more than ``max_cost_rise`` (0.10 is 10 %); or overall P99 latency
    rose by more than ``max_p99_rise`` and by more than ``p99_slack_ms`` (so a 20 ms jitter on a
    60 ms run is not a regression). Flipped cases are listed either way; a case that broke while
    another was fixed leaves accuracy where it was, and gates only through its category."""
    reasons: list[str] = []
    eps = 1e-9
    now, before = report.overall, baseline.overall
    if before.accuracy - now.accuracy > max_accuracy_drop + eps:
        reasons.append(f"accuracy fell from {before.accuracy:.1%} to {now.accuracy:.1%}")
    deltas = []
    for name in sorted(set(report.categories) | set(baseline.categories)):
        a, b = report.categories.get(name), baseline.categories.get(name)
        deltas.append(
            CategoryDelta(
                category=name,
                accuracy_before=b.accuracy if b else None,
                accuracy_after=a.accuracy if a else None,
                score_before=b.mean_score if b else None,
                score_after=a.mean_score if a else None,
            )
        )
        if a and b and b.accuracy - a.accuracy > max_accuracy_drop + eps:
            reasons.append(f"{name}: accuracy fell from {b.accuracy:.1%} to {a.accuracy:.1%}")
    cost_now, cost_before = now.cost_per_case_usd, before.cost_per_case_usd
    if cost_now > cost_before * (1 + max_cost_rise) + eps:
        rise = f"{cost_now / cost_before - 1:+.0%}" if cost_before else "from nothing"
        reasons.append(f"cost per case rose {rise} (${cost_before:.5f} to ${cost_now:.5f})")
    p99_now, p99_before = now.latency_p99_ms, before.latency_p99_ms
    if p99_now > p99_before * (1 + max_p99_rise) and p99_now - p99_before > p99_slack_ms:
        reasons.append(f"P99 latency rose from {p99_before:.0f} ms to {p99_now:.0f} ms")
    broke, fixed = _flips(report, baseline)
    ids_now = {c.case_id for c in report.cases}
    ids_before = {c.case_id for c in baseline.cases}
    return Comparison(
        accuracy_before=before.accuracy,
        accuracy_after=now.accuracy,
        cost_per_case_before=cost_before,
        cost_per_case_after=cost_now,
        p99_before_ms=p99_before,
        p99_after_ms=p99_now,
        categories=deltas,
        broke=broke,
        fixed=fixed,
        added=sorted(ids_now - ids_before),
        removed=sorted(ids_before - ids_now),
        regressed=bool(reasons),
        reasons=reasons,
    )


def _flips(report: EvalReport, baseline: EvalReport) -> tuple[list[Flip], list[Flip]]:
    def verdicts(r: EvalReport) -> dict[str, list[CaseOutcome]]:
        out: dict[str, list[CaseOutcome]] = defaultdict(list)
        for o in sorted(r.outcomes, key=lambda o: o.attempt):
            out[o.case_id].append(o)
        return out

    now, before = verdicts(report), verdicts(baseline)
    broke: list[Flip] = []
    fixed: list[Flip] = []
    for case_id in [c for c in now if c in before]:
        passed_now = all(o.verdict == "correct" for o in now[case_id])
        passed_before = all(o.verdict == "correct" for o in before[case_id])
        if passed_now == passed_before:
            continue
        flip = Flip(
            case_id=case_id,
            category=now[case_id][0].category,
            before=",".join(o.verdict for o in before[case_id]),
            after=",".join(o.verdict for o in now[case_id]),
        )
        (fixed if passed_now else broke).append(flip)
    return broke, fixed
