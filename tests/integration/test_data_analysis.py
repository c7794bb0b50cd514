"""The data-analysis example end to end: real workflows on the dev server, the bundled SQLite
sales database, and pandas and matplotlib jobs run in bubblewrap by a real sandbox worker.

The figures the run reports are checked against figures this test computes itself, with its
own SQL over the same database file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from duragent import RunRequest, RunResult, StepRecord
from duragent.activities.models import ScriptedProvider
from duragent.activities.sandbox import BwrapBackend
from duragent.client import start_run
from duragent.examples.data_analysis import db
from duragent.examples.data_analysis.app import ENTRY_AGENT, SCENARIOS, app
from duragent.settings import Settings
from duragent.workers import build_sandbox_worker
from tests.conftest import new_worker

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FULL_PATH = ["analyst", "query", "processing", "visualization"]
FULL_STEPS = ["model", "handoff"] + ["model", "tool", "model", "handoff"] * 2 + ["model", "tool", "model"]  # fmt: skip


def bwrap() -> BwrapBackend:
    """The bubblewrap backend; skipped where it cannot run, except in CI, where it must."""
    backend = BwrapBackend()
    why = backend.available()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run sandbox jobs in bubblewrap: {why}")
        pytest.skip(why)
    return backend


@dataclass(frozen=True)
class Figures:
    """A quarter's figures, computed here from the orders table with plain SQL."""

    period: str
    total_cents: int
    orders: int
    units: int
    months: list[tuple[str, int]]
    """(month abbreviation, revenue cents), in order."""
    top_region: tuple[str, int]
    top_product: tuple[str, int, int]
    """(name, revenue cents, units)."""


def quarter_figures(path: Path, year: int, quarter: int) -> Figures:
    first = date(year, 3 * quarter - 2, 1)
    after = date(year + (quarter == 4), 1 if quarter == 4 else 3 * quarter + 1, 1)
    span = (first.isoformat(), after.isoformat())
    where = "WHERE o.order_date >= ? AND o.order_date < ?"
    with closing(sqlite3.connect(path)) as conn:
        total, orders, units = conn.execute(
            f"SELECT SUM(amount_cents), COUNT(*), SUM(quantity) FROM orders AS o {where}", span
        ).fetchone()
        months = conn.execute(
            f"SELECT substr(order_date, 1, 7), SUM(amount_cents) FROM orders AS o {where} "
            "GROUP BY 1 ORDER BY 1",
            span,
        ).fetchall()
        regions = conn.execute(
            f"SELECT r.name, SUM(o.amount_cents) AS cents FROM orders AS o "
            f"JOIN regions AS r ON r.region_id = o.region_id {where} "
            "GROUP BY r.name ORDER BY cents DESC",
            span,
        ).fetchall()
        products = conn.execute(
            f"SELECT p.name, SUM(o.amount_cents) AS cents, SUM(o.quantity) FROM orders AS o "
            f"JOIN products AS p ON p.product_id = o.product_id {where} "
            "GROUP BY p.name ORDER BY cents DESC",
            span,
        ).fetchall()
    # A tie for first place would make "top" ambiguous: the data must not have one.
    assert regions[0][1] > regions[1][1] and products[0][1] > products[1][1]
    names = [date.fromisoformat(f"{m}-01").strftime("%b") for m, _ in months]
    return Figures(
        period=f"Q{quarter} {year}",
        total_cents=total,
        orders=orders,
        units=units,
        months=[(name, cents) for name, (_, cents) in zip(names, months, strict=True)],
        top_region=(regions[0][0], regions[0][1]),
        top_product=(products[0][0], products[0][1], products[0][2]),
    )


def dollars(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


@pytest.fixture(scope="module")
def sales_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    # Module-wide: the workers run in this process, so their tools read this variable.
    path = tmp_path_factory.mktemp("sales") / "sales.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(db.ENV_VAR, str(path))
        yield db.ensure_database()


@pytest.fixture(scope="module")
async def runs(
    client: Client, sales_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, RunResult]:
    """Every demo scenario, run once through a main worker and a bubblewrap sandbox worker."""
    backend = bwrap()
    queue = f"sandbox-{uuid.uuid4().hex[:8]}"
    # Both workers share one transcript store: the main worker reads results the sandbox
    # worker stored there (large tool outputs are kept by reference).
    store = tmp_path_factory.mktemp("store") / "transcripts.db"
    settings = Settings(sandbox_task_queue=queue, transcript_store=str(store))
    sandbox = build_sandbox_worker(client, app, settings, backend=backend, task_queue=queue)
    providers = {"scripted": ScriptedProvider()}
    results = {}
    async with sandbox, new_worker(client, app, settings=settings, providers=providers) as worker:
        for text in SCENARIOS:
            handle = await start_run(
                client, RunRequest(agent=ENTRY_AGENT, input=text), task_queue=worker.task_queue
            )
            results[text] = await handle.result()
    return results


def tool_step(result: RunResult, name: str) -> StepRecord:
    (step,) = [s for s in result.steps if s.kind == "tool" and s.tool == name]
    return step


def test_every_demo_scenario_is_covered() -> None:
    assert SCENARIOS == [
        "Analyze and visualize Q1 sales",
        "Analyze and visualize Q2 2026 sales",
        "How did sales go in Q3?",
        "Compare Q1 and Q2 sales",
    ]


async def test_a_comparison_delegates_both_quarters_in_parallel(
    client: Client, runs: dict[str, RunResult], sales_db: Path
) -> None:
    """The coordinator pattern: analyst delegates each quarter to query as a child run."""
    result = runs["Compare Q1 and Q2 sales"]
    assert result.status == "completed", result.error
    delegated = [s for s in result.steps if s.child is not None]
    assert [s.arguments for s in delegated] == [
        {"task": "Analyze and visualize Q1 sales"},
        {"task": "Analyze and visualize Q2 sales"},
    ]
    output = result.output or ""
    children = []
    for step, quarter in zip(delegated, (1, 2), strict=True):
        workflow_id, run_id = (step.child or "").split("/")
        child = await client.get_workflow_handle(
            workflow_id, run_id=run_id, result_type=RunResult
        ).result()
        assert child.status == "completed" and child.agent_path == FULL_PATH[1:]
        assert f"Chart: out/sales_q{quarter}_2026.png" in (child.output or "")
        assert (child.output or "") in output
        expected = quarter_figures(sales_db, 2026, quarter)
        assert f"{expected.period} revenue: {dollars(expected.total_cents)}" in output
        children.append(child)
    own = sum(s.cost_usd or 0.0 for s in result.steps if s.kind == "model")
    assert result.cost_usd == pytest.approx(own + sum(c.cost_usd for c in children), abs=1e-6)


@pytest.mark.parametrize(
    ("text", "quarter"),
    [("Analyze and visualize Q1 sales", 1), ("Analyze and visualize Q2 2026 sales", 2)],
)
def test_a_quarter_is_queried_summarized_and_charted(
    runs: dict[str, RunResult], sales_db: Path, text: str, quarter: int
) -> None:
    result = runs[text]
    expected = quarter_figures(sales_db, 2026, quarter)

    assert result.status == "completed", result.error
    assert result.agent_path == FULL_PATH
    assert [s.kind for s in result.steps] == FULL_STEPS
    assert [s.tool for s in result.steps if s.kind == "tool"] == ["run_sql", "analyze", "plot"]
    assert result.errors == {}

    # The summary figures in the answer equal the ones computed here.
    output = result.output or ""
    assert "{" not in output, "a template field was left unrendered"
    assert (
        f"{expected.period} revenue: {dollars(expected.total_cents)} from {expected.orders} "
        f"orders ({expected.units} units; average order "
        f"{dollars(round(expected.total_cents / expected.orders))})"
    ) in output
    by_month = re.search(r"By month: (.+)\.", output)
    assert by_month, output
    reported = by_month.group(1).split("; ")
    assert len(reported) == 3
    for i, (line, (name, cents)) in enumerate(zip(reported, expected.months, strict=True)):
        assert line.startswith(f"{name} {dollars(cents)}"), (line, name, cents)
        if i:
            growth = float(re.search(r"\(([+-]\d+\.\d)%\)", line).group(1))  # type: ignore[union-attr]
            assert growth == pytest.approx(100 * (cents / expected.months[i - 1][1] - 1), abs=0.051)
    region, region_cents = expected.top_region
    assert f"Top region: {region}, {dollars(region_cents)}" in output
    share = float(re.search(r"Top region: [^(]+\((\d+\.\d)% of revenue", output).group(1))  # type: ignore[union-attr]
    assert share == pytest.approx(100 * region_cents / expected.total_cents, abs=0.051)
    product, product_cents, product_units = expected.top_product
    assert f"Top product: {product}, {dollars(product_cents)} ({product_units} units)" in output
    chart_name = f"out/sales_q{quarter}_2026.png"
    assert f"Chart: {chart_name}" in output


@pytest.mark.parametrize("text", ["Analyze and visualize Q1 sales"])
def test_the_rows_flow_from_sql_to_pandas_to_matplotlib(
    runs: dict[str, RunResult], sales_db: Path, text: str
) -> None:
    result = runs[text]
    expected = quarter_figures(sales_db, 2026, 1)
    sql, analyze, plot = (tool_step(result, n) for n in ("run_sql", "analyze", "plot"))
    assert [sql.agent, analyze.agent, plot.agent] == FULL_PATH[1:]

    # processing handed the query's rows to pandas unchanged...
    assert analyze.arguments is not None and "import pandas" in analyze.arguments["code"]
    table = json.loads(analyze.arguments["data"])
    revenue = table["columns"].index("revenue_cents")
    assert table["row_count"] == len(table["rows"]) > 0 and not table["truncated"]
    assert sum(row[revenue] for row in table["rows"]) == expected.total_cents
    # ...and visualization handed pandas' summary to matplotlib.
    analyzed = json.loads(analyze.output or "")
    assert analyzed["exit_code"] == 0
    assert plot.arguments is not None and "matplotlib" in plot.arguments["code"]
    summary = json.loads(plot.arguments["data"])
    assert summary == json.loads(analyzed["stdout"])
    assert summary["total_revenue_cents"] == expected.total_cents
    assert [m["revenue_cents"] for m in summary["months"]] == [c for _, c in expected.months]


@pytest.mark.parametrize("text", ["Analyze and visualize Q1 sales"])
def test_the_chart_is_a_png_made_in_bubblewrap(runs: dict[str, RunResult], text: str) -> None:
    import matplotlib.image

    result = runs[text]
    for name in ("analyze", "plot"):
        record = tool_step(result, name).sandbox
        assert record is not None, name
        assert (record.backend, record.isolation, record.exit_code) == ("bwrap", "strong", 0)
        assert record.violation is None and record.run_ms > 0

    assert tool_step(result, "analyze").artifacts == []
    (chart,) = tool_step(result, "plot").artifacts
    assert chart.name == "out/sales_q1_2026.png" and chart.media_type == "image/png"
    content = chart.content()
    assert content[:8] == PNG_MAGIC
    assert chart.size == len(content) and chart.sha256 == hashlib.sha256(content).hexdigest()
    pixels: Any = matplotlib.image.imread(io.BytesIO(content), format="png")
    height, width = pixels.shape[:2]
    assert width >= 800 and height >= 400, pixels.shape
    assert pixels.std() > 0.05, "the chart is blank"


def test_a_quarter_without_orders_stops_at_the_query(runs: dict[str, RunResult]) -> None:
    result = runs["How did sales go in Q3?"]

    assert result.status == "completed", result.error
    assert result.agent_path == ["analyst", "query"]
    sql = tool_step(result, "run_sql")
    assert json.loads(sql.output or "")["row_count"] == 0
    assert "no orders in that period" in (result.output or "")
    assert all(not s.artifacts for s in result.steps)
