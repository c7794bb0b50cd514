"""The figures of ``duragent report`` and its alert rules, on hand-made runs."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from duragent import LatencyBreakdown, RunResult, StepRecord, Usage
from duragent.errors import SpecError
from duragent.report import (
    DEFAULT_RULES,
    METRICS,
    AlertRule,
    RunSample,
    build_report,
    evaluate_alerts,
    load_alert_rules,
    percentile,
)

T0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


def result(
    status: str = "completed",
    *,
    path: tuple[str, ...] = ("support",),
    total_ms: float = 100.0,
    cost: float = 0.01,
    errors: dict[str, int] | None = None,
    approval_ms: float | None = None,
    **latency: float,
) -> RunResult:
    steps = []
    if approval_ms is not None:
        steps.append(
            StepRecord(step_id="s1", kind="approval_requested", agent=path[0], turn=1, at=T0)
        )
        latency["approval_ms"] = approval_ms
    return RunResult(
        run_id="r",
        workflow_id="w",
        status=status,  # type: ignore[arg-type]
        agent=path[-1],
        agent_path=list(path),
        turns=1,
        steps=steps,
        usage=Usage(input_tokens=100, output_tokens=20, cached_tokens=10),
        cost_usd=cost,
        latency=LatencyBreakdown(total_ms=total_ms, **latency),
        errors=errors or {},
    )


def sample(res: RunResult | None = None, execution: str = "completed", **fields: Any) -> RunSample:
    agent = res.agent_path[0] if res else fields.pop("agent", "support")
    return RunSample(
        workflow_id=fields.pop("workflow_id", "run-x"),
        agent=agent,
        execution_status=execution,  # type: ignore[arg-type]
        started_at=fields.pop("started_at", T0),
        result=res,
        **fields,
    )


def report_of(samples: list[RunSample], agent: str | None = None):  # type: ignore[no-untyped-def]
    return build_report(samples, since=T0 - timedelta(hours=1), until=T0, agent=agent)


# --- percentiles --------------------------------------------------------------------------


def test_nearest_rank_percentiles() -> None:
    twenty = [float(v) for v in range(20, 0, -1)]
    assert (percentile(twenty, 50), percentile(twenty, 99), percentile(twenty, 99.9)) == (
        10,
        20,
        20,
    )
    thousand = [float(v) for v in range(1, 1001)]
    # Exact rank arithmetic: 99.9% of 1000 is the 999th value, not the 1000th.
    assert (percentile(thousand, 50), percentile(thousand, 99), percentile(thousand, 99.9)) == (
        500,
        990,
        999,
    )
    assert percentile([7.0], 99.9) == 7.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


@given(
    st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=300),
    st.sampled_from([50, 90, 99, 99.9, 100]),
)
def test_percentile_is_the_smallest_value_with_p_percent_at_or_below(
    values: list[float], p: float
) -> None:
    value = percentile(values, p)
    assert value in values
    at_or_below = sum(1 for v in values if v <= value)
    below = sum(1 for v in values if v < value)
    assert at_or_below * 100 >= p * len(values) - 1e-9
    assert below * 100 < p * len(values) + 1e-9


# --- the report ---------------------------------------------------------------------------


def test_outcomes_error_rate_and_error_types() -> None:
    samples = [
        sample(result(errors={"rate_limit": 2})),  # recovered by retrying: not an error run
        sample(result(errors={"timeout": 1})),
        sample(result("failed", errors={"server_error": 3}, cost=0.0)),
        sample(result("budget_exceeded")),
        sample(result("rejected")),  # a human said no: governance, not an error
        sample(None, "terminated"),
        sample(None, "running"),
    ]
    report = report_of(samples)
    assert (report.runs, report.finished, report.in_flight) == (7, 6, 1)
    assert report.outcomes == {
        "budget_exceeded": 1,
        "completed": 2,
        "failed": 1,
        "rejected": 1,
        "terminated": 1,
    }
    assert report.error_runs == 3
    assert report.error_rate == pytest.approx(3 / 6)
    assert report.error_types == {"server_error": 3, "rate_limit": 2, "timeout": 1, "terminated": 1}
    # Cost, tokens and latency cover the five runs with a result.
    assert report.total_cost_usd == pytest.approx(0.04)
    assert report.cost_per_request_usd == pytest.approx(0.04 / 5)
    assert report.tokens.input == 500 and report.tokens.per_request == 120
    assert report.latency_s["total"].count == 5


def test_latency_per_layer_in_seconds() -> None:
    totals = [100.0] * 17 + [1500.0, 1600.0, 4000.0]
    samples = [sample(result(total_ms=t, reasoning_ms=t / 2)) for t in totals]
    report = report_of(samples)
    total = report.latency_s["total"]
    assert (total.p50, total.p99, total.p999, total.max) == (0.1, 4.0, 4.0, 4.0)
    assert total.mean == pytest.approx(sum(totals) / 20 / 1000)
    assert report.latency_s["reasoning"].p99 == 2.0
    assert report.latency_s["tool"].p99 == 0.0
    assert report.metrics()["p99_latency_s"] == 4.0
    assert report.metrics()["p50_reasoning_s"] == 0.05


def test_approval_rate_and_wait_cover_the_runs_that_asked() -> None:
    samples = [sample(result()) for _ in range(6)] + [
        sample(result(approval_ms=ms, total_ms=ms + 100)) for ms in (2000.0, 30_000.0)
    ]
    report = report_of(samples)
    assert report.approval_runs == 2
    assert report.approval_rate == pytest.approx(2 / 8)
    wait = report.approval_wait_s
    assert (wait.count, wait.p50, wait.p99, wait.mean) == (2, 2.0, 30.0, 16.0)


def test_agent_filter_goes_by_the_entry_agent() -> None:
    samples = [
        sample(result(path=("support", "info"))),  # handed off: still a support run
        sample(result(path=("billing",))),
        sample(None, "running", agent="support"),
    ]
    assert report_of(samples, "support").runs == 2
    assert report_of(samples, "info").runs == 0
    assert report_of(samples, "billing").finished == 1


def test_no_runs_is_no_data_and_fires_nothing() -> None:
    report = report_of([])
    assert report.runs == 0 and report.error_rate is None
    assert report.cost_per_request_usd is None and report.latency_s["total"].p99 is None
    verdicts = evaluate_alerts(report)
    assert [v.firing for v in verdicts] == [False, False, False]
    assert all(v.value is None for v in verdicts)
    assert "no data" in verdicts[0].message


# --- alert rules --------------------------------------------------------------------------


def test_default_rules_are_the_guides() -> None:
    assert {(r.name, r.metric, r.op, r.threshold) for r in DEFAULT_RULES} == {
        ("DuragentHighP99Latency", "p99_latency_s", ">", 5.0),
        ("DuragentHighCostPerRequest", "cost_per_request_usd", ">", 0.10),
        ("DuragentHighErrorRate", "error_rate", ">", 0.05),
    }


def test_each_default_rule_fires_on_its_own_breach() -> None:
    def firing(samples: list[RunSample]) -> list[str]:
        return [v.rule.name for v in evaluate_alerts(report_of(samples)) if v.firing]

    healthy = [sample(result(total_ms=200, cost=0.01)) for _ in range(100)]
    assert firing(healthy) == []
    slow = healthy[:98] + [sample(result(total_ms=5001, cost=0.01))] * 2
    assert firing(slow) == ["DuragentHighP99Latency"]
    exactly_five = healthy[:98] + [sample(result(total_ms=5000, cost=0.01))] * 2
    assert firing(exactly_five) == [], "the rule is P99 > 5 s, not >="
    costly = [sample(result(cost=0.11)) for _ in range(10)]
    assert firing(costly) == ["DuragentHighCostPerRequest"]
    failing = healthy[:94] + [sample(result("failed", cost=0.0))] * 6
    assert firing(failing) == ["DuragentHighErrorRate"]
    message = evaluate_alerts(report_of(failing))[2].message
    assert "DuragentHighErrorRate FIRING" in message and "error_rate = 0.06" in message
    assert "> 0.05" in message


def test_a_rule_with_another_operator() -> None:
    rule = AlertRule(name="TooFewApprovals", metric="approval_rate", op="<", threshold=0.5)
    [verdict] = evaluate_alerts(report_of([sample(result())]), [rule])
    assert verdict.firing and verdict.value == 0.0


def test_rules_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(
        "rules:\n"
        "  - name: SlowReasoning\n"
        "    metric: p99_reasoning_s\n"
        "    op: '>='\n"
        "    threshold: 2.5\n"
        "    description: models are slow to start answering\n"
    )
    [rule] = load_alert_rules(path)
    assert (rule.name, rule.metric, rule.op, rule.threshold) == (
        "SlowReasoning",
        "p99_reasoning_s",
        ">=",
        2.5,
    )


@pytest.mark.parametrize(
    ("text", "field", "says"),
    [
        (
            "rules:\n  - {name: A, metric: p99_latency, threshold: 5}\n",
            "rules.0.metric",
            "p99_latency_s",
        ),
        ("rules:\n  - {name: A, metric: error_rate}\n", "rules.0.threshold", "Field required"),
        (
            "rules:\n  - {name: A, metric: error_rate, threshold: 1, op: '=='}\n",
            "rules.0.op",
            "'>'",
        ),
        (
            "rules:\n  - {name: A, metric: error_rate, threshold: lots}\n",
            "rules.0.threshold",
            "number",
        ),
        ("rules: []\n", "rules", "at least 1"),
        ("alerts: []\n", "rules", "Field required"),
        ("- name: A\n", None, "mapping with one key, rules"),
        ("rules: [\n", None, "not valid YAML"),
    ],
)
def test_a_bad_rules_file_names_the_file_and_the_field(
    tmp_path: Path, text: str, field: str | None, says: str
) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_alert_rules(path)
    assert str(path) in str(caught.value)
    assert caught.value.field == field
    assert says in str(caught.value)


def test_a_missing_rules_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"nope\.yaml: cannot read the alert rules"):
        load_alert_rules(tmp_path / "nope.yaml")


def test_every_metric_is_a_number_or_no_data() -> None:
    report = report_of([sample(result(approval_ms=10.0))])
    values = report.metrics()
    assert tuple(values) == METRICS
    assert all(v is None or math.isfinite(v) for v in values.values())


# --- the plot -----------------------------------------------------------------------------


def test_plot_is_a_png_even_without_results(tmp_path: Path) -> None:
    from duragent.report import write_plot

    mixed = [
        sample(
            result(total_ms=100.0 * i, errors={"timeout": i % 2}),
            started_at=T0 + timedelta(seconds=i),
        )
        for i in range(1, 30)
    ] + [sample(None, "terminated"), sample(None, "running")]
    only_terminated = [sample(None, "terminated"), sample(None, "timed_out")]
    for name, samples in (("mixed", mixed), ("terminated", only_terminated)):
        report = build_report(
            samples, since=T0 - timedelta(minutes=5), until=T0 + timedelta(minutes=1)
        )
        path = write_plot(report, samples, tmp_path / f"{name}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1024


def test_plot_without_matplotlib_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from duragent.report import PlotUnavailableError, write_plot

    for module in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    report = report_of([sample(result())])
    with pytest.raises(PlotUnavailableError, match=r"pip install 'duragent\[plot\]'"):
        write_plot(report, [sample(result())], tmp_path / "x.png")
