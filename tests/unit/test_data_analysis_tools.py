"""The data-analysis example's database and tools, without Temporal."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from duragent import SandboxJob, ToolError
from duragent._scripted import render
from duragent.examples.data_analysis import db, tools
from duragent.examples.data_analysis.app import app
from duragent.examples.data_analysis.tools import MAX_ROWS, analyze, plot, run_sql


@pytest.fixture(autouse=True)
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "sales.db"
    monkeypatch.setenv(db.ENV_VAR, str(path))
    yield path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_database_is_generated_on_first_use_the_same_every_time(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not database.exists()
    assert run_sql.fn(query="SELECT COUNT(*) FROM orders")["rows"] == [[len(db.generate_orders())]]
    other = tmp_path / "again.db"
    monkeypatch.setenv(db.ENV_VAR, str(other))
    db.ensure_database()
    with closing(sqlite3.connect(database)) as a, closing(sqlite3.connect(other)) as b:
        query = "SELECT * FROM orders ORDER BY order_id"
        assert a.execute(query).fetchall() == b.execute(query).fetchall()


def test_orders_cover_the_first_half_of_2026_with_consistent_amounts(database: Path) -> None:
    db.ensure_database()
    with closing(sqlite3.connect(database)) as conn:
        first, last, count = conn.execute(
            "SELECT MIN(order_date), MAX(order_date), COUNT(*) FROM orders"
        ).fetchone()
        wrong = conn.execute(
            "SELECT COUNT(*) FROM orders AS o JOIN products AS p USING (product_id) "
            "WHERE o.unit_price_cents != p.unit_price_cents "
            "OR o.amount_cents != o.quantity * o.unit_price_cents * (100 - o.discount_pct) / 100"
        ).fetchone()[0]
        months = conn.execute("SELECT COUNT(DISTINCT substr(order_date, 1, 7)) FROM orders")
        regions = conn.execute("SELECT COUNT(DISTINCT region_id) FROM orders").fetchone()[0]
        products = conn.execute("SELECT COUNT(DISTINCT product_id) FROM orders").fetchone()[0]
        assert months.fetchone()[0] == 6
    assert first.startswith("2026-01") and last.startswith("2026-06")
    assert 200 <= count <= 600
    assert wrong == 0
    assert (regions, products) == (len(db.REGIONS), len(db.PRODUCTS))


def test_default_path_is_the_duragent_home_then_dot_duragent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(db.ENV_VAR)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DURAGENT_HOME", raising=False)
    assert db.ensure_database() == Path(".duragent") / "sales.db"
    monkeypatch.setenv("DURAGENT_HOME", str(tmp_path / "home"))
    assert db.ensure_database() == tmp_path / "home" / "sales.db"
    assert (tmp_path / "home" / "sales.db").is_file()


@pytest.mark.parametrize("content", [b"", b"not a database at all", None])
def test_a_broken_or_outdated_file_is_rebuilt(database: Path, content: bytes | None) -> None:
    if content is None:  # a database from an older generator
        with closing(sqlite3.connect(database)) as conn:
            conn.execute("CREATE TABLE orders (x)")
            conn.execute(f"PRAGMA user_version = {db.DATA_VERSION - 1}")
    else:
        database.write_bytes(content)
    result = run_sql.fn(query="SELECT COUNT(*) FROM regions")
    assert result["rows"] == [[len(db.REGIONS)]]
    assert [p.name for p in database.parent.iterdir()] == ["sales.db"], "no scratch file left"


def test_rows_come_back_as_columns_and_json_values() -> None:
    result = run_sql.fn(
        query="  -- regions by name\nSELECT region_id, name FROM regions ORDER BY name;  "
    )
    assert result == {
        "columns": ["region_id", "name"],
        "rows": [[3, "East"], [1, "North"], [2, "South"], [4, "West"]],
        "row_count": 4,
        "truncated": False,
    }
    json.dumps(result)  # what the model sees


def test_at_most_max_rows_come_back_with_a_note() -> None:
    result = run_sql.fn(
        query="WITH n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 2000) SELECT i FROM n"
    )
    assert result["row_count"] == len(result["rows"]) == MAX_ROWS
    assert result["truncated"] is True and "GROUP BY" in result["note"]


REFUSED = {
    "DROP TABLE orders": "DROP is not allowed",
    "delete from orders": "DELETE is not allowed",
    "SELECT 1; DELETE FROM orders": "exactly one statement",
    "SELECT * FROM regions; DROP TABLE orders;": "exactly one statement",
    "PRAGMA user_version = 0": "PRAGMA is not allowed",
    "PRAGMA query_only = OFF": "PRAGMA is not allowed",
    "WITH doomed AS (SELECT 1) DELETE FROM orders": "tries DELETE (orders)",
    "WITH x AS (SELECT 1) INSERT INTO regions VALUES (9, 'Moon')": "tries INSERT (regions)",
    "ATTACH DATABASE 'elsewhere.db' AS e": "ATTACH is not allowed",
    "/* looks harmless */ UPDATE orders SET amount_cents = 0": "UPDATE is not allowed",
    "SELECT * FROM pragma_journal_mode('delete')": "is not allowed",
    "": "an empty query is not allowed",
}  # fmt: skip


@pytest.mark.parametrize("query", list(REFUSED))
def test_anything_but_one_select_is_refused_and_changes_nothing(
    database: Path, query: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    db.ensure_database()
    before = digest(database)
    with pytest.raises(ToolError) as refused:
        run_sql.fn(query=query)
    message = str(refused.value)
    assert REFUSED[query] in message
    assert "SELECT" in message, "the error says what to send instead"
    assert digest(database) == before
    assert not (tmp_path / "elsewhere.db").exists()


def test_a_bad_query_is_told_the_schema() -> None:
    with pytest.raises(ToolError, match=r"no such column: revenue\..*orders\(order_id"):
        run_sql.fn(query="SELECT SUM(revenue) FROM orders")


def test_a_runaway_query_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools, "QUERY_TIME_S", 0.2)
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT MAX(i) FROM n"
    with pytest.raises(ToolError, match=r"longer than 0\.2 s"):
        run_sql.fn(query=endless)


@pytest.mark.parametrize("sandboxed", [analyze, plot])
def test_sandboxed_tools_return_a_job_with_the_data_as_json(sandboxed: Any) -> None:
    assert sandboxed.sandboxed and sandboxed.spec.execution == "activity"
    job = sandboxed.fn(code="print(1)", data='{"rows": [[1, 2]]}')
    assert isinstance(job, SandboxJob)
    assert job.python == "print(1)" and job.data == {"rows": [[1, 2]]}
    assert job.collect == ["out/*"]
    assert sandboxed.fn(code="print(1)", data={"a": 1}).data == {"a": 1}
    assert sandboxed.fn(code="print(1)", data="plain text").data == "plain text"


def test_run_sql_is_a_local_read_only_activity() -> None:
    assert run_sql.spec.risk == "read" and run_sql.spec.execution == "local"


def test_sandboxed_agents_require_strong_isolation_without_network() -> None:
    for name in ("processing", "visualization"):
        policy = app.agents[name].sandbox
        assert policy.isolation == "required" and policy.network is False, name
        assert policy.wall_s <= min(analyze.timeout_s, plot.timeout_s)


def test_scripted_code_survives_template_rendering() -> None:
    # The code in a rule's arguments is rendered like any other text: a Python f-string
    # field that happened to name a template variable would be replaced.
    variables = {"result": {"stdout": "x"}, "input": "x", "0": "x", "quarter": "1", "year": "2026"}
    codes = [
        rule.call.arguments["code"]
        for spec in app.agents.values()
        for rule in spec.script
        if rule.call is not None and "code" in rule.call.arguments
    ]
    assert len(codes) == 2
    for code in codes:
        assert render(code, variables) == code
        compile(code, "code", "exec")
