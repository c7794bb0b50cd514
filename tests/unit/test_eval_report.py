"""Summaries (per category and tag, pass@k and pass^k), the baseline comparison, and the files:
JSON that re-loads, Markdown with the category table, JUnit valid against the CI schema, PNG."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from duragent.eval import (
    CaseOutcome,
    EvalReport,
    Score,
    compare,
    percentile,
    summarize,
    table_columns,
    table_rows,
    write_reports,
)

DATA = Path(__file__).parent / "data"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def outcome(case: str, verdict: str, *, category: str = "faq", attempt: int = 1, **fields: Any) -> CaseOutcome:  # fmt: skip
    score = {"correct": 1.0, "partial": 0.5, "incorrect": 0.0}[verdict]
    reason = [] if verdict == "correct" else [Score(scorer="contains", verdict=verdict, score=score, reason="missing 'x'")]  # type: ignore[arg-type]  # fmt: skip
    base: dict[str, Any] = {"latency_ms": 100.0, "cost_usd": 0.01, "tokens": 50, "output": "answer"}
    return CaseOutcome(case_id=case, category=category, attempt=attempt, verdict=verdict, score=score, scores=reason, **(base | fields))  # type: ignore[arg-type]  # fmt: skip


def report(outcomes: list[CaseOutcome]) -> EvalReport:
    return summarize(outcomes, dataset="support", agent="triage", model="openai/m", started_at=T0, finished_at=T0)  # fmt: skip


def test_summary_per_category_and_tag() -> None:
    r = report(
        [
            outcome("a", "correct", tags=["refunds"], latency_ms=100),
            outcome("b", "partial", tags=["refunds"], latency_ms=300, errors={"timeout": 1}),
            outcome("c", "incorrect", category="escalation", latency_ms=1000, judge_cost_usd=0.002),
        ]
    )
    assert (r.overall.correct, r.overall.partial, r.overall.incorrect) == (1, 1, 1)
    assert r.overall.accuracy == pytest.approx(1 / 3) and r.overall.mean_score == pytest.approx(0.5)
    assert r.overall.latency_p50_ms == 300 and r.overall.latency_p99_ms == 1000
    assert r.overall.cost_usd == pytest.approx(0.03) and r.overall.judge_cost_usd == 0.002
    assert r.overall.tokens == 150 and r.overall.errors == {"timeout": 1}
    assert r.categories["faq"].accuracy == 0.5 and r.categories["escalation"].accuracy == 0
    assert r.tags["refunds"].cases == 2
    rows = table_rows(r)
    assert [row[0] for row in rows] == ["overall", "escalation", "faq", "#refunds"]
    assert len(rows[0]) == len(table_columns(r))


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 50) == 5 and percentile(values, 99) == 10
    assert percentile([], 50) == 0


def test_pass_at_k_and_pass_all_k() -> None:
    r = report(
        [
            outcome("a", "correct", attempt=1), outcome("a", "correct", attempt=2),
            outcome("b", "correct", attempt=1), outcome("b", "incorrect", attempt=2),
            outcome("c", "incorrect", attempt=1), outcome("c", "partial", attempt=2),
        ]
    )  # fmt: skip
    assert r.k == 2
    assert r.overall.pass_at_k == pytest.approx(2 / 3)  # a, b
    assert r.overall.pass_all_k == pytest.approx(1 / 3)  # a
    spreads = {c.case_id: c.spread for c in r.cases}
    assert spreads == {"a": 0.0, "b": 0.5, "c": 0.25}
    assert r.categories["faq"].spread == pytest.approx(0.25)
    assert "pass@2" in table_columns(r)


def test_compare_names_flipped_cases_and_gates() -> None:
    baseline = report([outcome("a", "correct"), outcome("b", "correct"), outcome("c", "incorrect", category="esc")])  # fmt: skip
    broken = report([outcome("a", "correct"), outcome("b", "incorrect"), outcome("c", "incorrect", category="esc")])  # fmt: skip
    result = compare(broken, baseline)
    assert result.regressed and [f.case_id for f in result.broke] == ["b"]
    assert any(r.startswith("faq: accuracy fell") for r in result.reasons)
    faq = next(d for d in result.categories if d.category == "faq")
    assert faq.accuracy_delta == pytest.approx(-0.5)
    # a harmless change: the same verdicts, a little latency jitter
    harmless = report([outcome("a", "correct", latency_ms=120), outcome("b", "correct"), outcome("c", "incorrect", category="esc")])  # fmt: skip
    same = compare(harmless, baseline)
    assert not same.regressed and not same.broke and not same.reasons
    # fixed cases are listed; a cost rise beyond the threshold gates
    pricier = report([outcome("a", "correct", cost_usd=0.02), outcome("b", "correct"), outcome("c", "correct", category="esc")])  # fmt: skip
    change = compare(pricier, baseline)
    assert [f.case_id for f in change.fixed] == ["c"]
    assert change.regressed and "cost per case rose" in change.reasons[0]
    assert not compare(pricier, baseline, max_cost_rise=0.5).regressed


def test_the_files(tmp_path: Path) -> None:
    r = report(
        [
            outcome("a", "correct"),
            outcome("b", "partial", category="escalation"),
            outcome("c", "incorrect", category="escalation", output="x" * 5000),
        ]
    )
    files = write_reports(r, tmp_path / "out")
    assert EvalReport.model_validate_json(files["json"].read_text()) == r
    assert len(r.outcomes[2].output) == 2000
    markdown = files["markdown"].read_text()
    assert "| escalation | 2 | 0 | 1 | 1 | 0.0% |" in markdown
    assert "| c | escalation | 1 | incorrect | contains: missing 'x' |" in markdown
    etree = pytest.importorskip("lxml.etree")
    schema = etree.XMLSchema(etree.parse(str(DATA / "junit.xsd")))
    document = etree.parse(str(files["junit"]))
    assert schema.validate(document), schema.error_log
    suite = document.getroot()[0]
    assert (suite.get("tests"), suite.get("failures")) == ("3", "2")
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("faq", "a"), ("escalation", "b"), ("escalation", "c"),
    ]  # fmt: skip
    assert [f.get("type") for f in suite.iter("failure")] == ["partial", "incorrect"]
    pytest.importorskip("matplotlib")
    assert files["png"].read_bytes().startswith(b"\x89PNG")


def test_the_junit_check_catches_a_broken_file() -> None:
    etree = pytest.importorskip("lxml.etree")
    schema = etree.XMLSchema(etree.parse(str(DATA / "junit.xsd")))
    bad = etree.fromstring(b'<testsuites><testsuite name="x" tests="1"><testcase name="a"/></testsuite></testsuites>')  # fmt: skip
    assert not schema.validate(bad)  # no failures/errors counts, no classname
