"""The analysts' tools: read-only SQL over the sales database, and Python in the sandbox.

``run_sql`` is trusted code around an untrusted query. Three layers keep it read-only, each
enough on its own: the file is opened with ``mode=ro`` and ``PRAGMA query_only``; only one
statement, starting with SELECT or WITH, is accepted; and an SQLite authorizer lets the
statement read tables and call functions, nothing else (no writes, ATTACH, or settings). A
progress handler stops a runaway query, and at most ``MAX_ROWS`` rows come back, so one
question cannot flood the conversation.

``analyze`` and ``plot`` run code a model wrote. They are ``sandboxed``: the worker serving the
sandbox task queue runs the ``SandboxJob`` they return under the calling agent's ``sandbox:``
policy (no network, a private filesystem, limits on time, memory and processes), and files the
code writes under ``out/`` come back as the step's artifacts. Two tools with one body, so that
each specialist's allowlist says what it may do: processing computes, visualization draws.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from typing import Any

from duragent import SandboxJob, ToolError, tool
from duragent.examples.data_analysis import db

MAX_ROWS = 500
QUERY_TIME_S = 2.0

_SCHEMA_HINT = (
    "Tables: regions(region_id, name); products(product_id, name, category, unit_price_cents); "
    "orders(order_id, order_date 'YYYY-MM-DD', region_id, product_id, channel, quantity, "
    "unit_price_cents, discount_pct, amount_cents). Money is in integer cents."
)
_LEADING_COMMENTS = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.DOTALL)
_FIRST_WORD = re.compile(r"[A-Za-z]+")
_READ_ACTIONS = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    sqlite3.SQLITE_RECURSIVE,  # WITH RECURSIVE
}
_ACTION_NAMES = {
    getattr(sqlite3, f"SQLITE_{name}"): name.replace("_", " ")
    for name in (
        "INSERT", "UPDATE", "DELETE", "PRAGMA", "ATTACH", "DETACH", "TRANSACTION", "SAVEPOINT",
        "CREATE_TABLE", "CREATE_TEMP_TABLE", "CREATE_INDEX", "CREATE_VIEW", "CREATE_TRIGGER",
        "DROP_TABLE", "DROP_INDEX", "DROP_VIEW", "DROP_TRIGGER", "ALTER_TABLE", "ANALYZE",
        "REINDEX",
    )
}  # fmt: skip


@tool(risk="read", timeout=5)
def run_sql(query: str) -> dict[str, Any]:
    """Run one read-only SQL query (SQLite) on the sales database and return its rows.

    Tables: regions(region_id, name); products(product_id, name, category, unit_price_cents);
    orders(order_id, order_date 'YYYY-MM-DD', region_id, product_id, channel, quantity,
    unit_price_cents, discount_pct, amount_cents). Money is in integer cents: amount_cents is
    what was charged for the order. Orders run from 2026-01-01 to 2026-06-30.

    Send exactly one SELECT (or WITH ... SELECT) statement; aggregate with GROUP BY rather
    than fetching raw orders. Returns {"columns": [...], "rows": [[...], ...], "row_count": n,
    "truncated": false}; at most 500 rows come back.
    """
    statement = _single_select(query)
    with db.connect_readonly() as conn:
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1")  # load the schema before the guard
        denied: list[str] = []
        conn.set_authorizer(lambda action, arg1, *_: _authorize(action, arg1, denied))
        deadline = time.monotonic() + QUERY_TIME_S
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            cursor = conn.execute(statement)
            rows = cursor.fetchmany(MAX_ROWS + 1)
        except sqlite3.ProgrammingError as exc:
            if "one statement" in str(exc):
                raise ToolError(
                    "run_sql runs exactly one statement: send a single SELECT, without a "
                    "second statement after the ';'"
                ) from None
            raise ToolError(f"SQL error: {exc}. {_SCHEMA_HINT}") from None
        except sqlite3.DatabaseError as exc:
            raise _query_error(exc, denied) from None
        columns = [d[0] for d in cursor.description or ()]
    truncated = len(rows) > MAX_ROWS
    result: dict[str, Any] = {
        "columns": columns,
        "rows": [[_json_value(v) for v in row] for row in rows[:MAX_ROWS]],
        "row_count": min(len(rows), MAX_ROWS),
        "truncated": truncated,
    }
    if truncated:
        result["note"] = (
            f"only the first {MAX_ROWS} rows are shown; aggregate with GROUP BY or add a LIMIT"
        )
    return result


def _single_select(query: str) -> str:
    """The query without trailing semicolons, if it is a SELECT or WITH statement."""
    statement = query.strip().rstrip(";").strip()
    body = _LEADING_COMMENTS.sub("", statement)
    word = _FIRST_WORD.match(body)
    keyword = word.group(0).upper() if word else ""
    if keyword not in ("SELECT", "WITH"):
        shown = keyword or (body[:20] or "an empty query")
        raise ToolError(
            f"run_sql only reads: {shown} is not allowed. Send one SELECT (or WITH ... SELECT) "
            f"statement; the sales database cannot be changed. {_SCHEMA_HINT}"
        )
    return statement


def _authorize(action: int, arg1: str | None, denied: list[str]) -> int:
    if action in _READ_ACTIONS:
        return sqlite3.SQLITE_OK
    what = _ACTION_NAMES.get(action, f"operation {action}")
    denied.append(f"{what} ({arg1})" if arg1 else what)
    return sqlite3.SQLITE_DENY


def _query_error(exc: sqlite3.DatabaseError, denied: list[str]) -> ToolError:
    message = str(exc)
    if denied or "not authorized" in message:
        what = denied[0] if denied else "that statement"
        return ToolError(
            f"run_sql only reads: the query tries {what}, which is not allowed. Send one "
            f"SELECT statement that reads the tables. {_SCHEMA_HINT}"
        )
    if "interrupted" in message:
        return ToolError(
            f"the query ran longer than {QUERY_TIME_S:g} s and was stopped; filter by "
            "order_date and aggregate with GROUP BY"
        )
    if "readonly" in message:
        return ToolError("run_sql only reads: the sales database is read-only")
    return ToolError(f"SQL error: {message}. {_SCHEMA_HINT}")


def _json_value(value: object) -> object:
    return value.hex() if isinstance(value, bytes) else value


def _json_input(data: Any) -> Any:
    """``data`` as a JSON value: models (and scripts) often pass JSON as a string of text."""
    if isinstance(data, str):
        try:
            return json.loads(data)
        except ValueError:
            return data
    return data


@tool(sandboxed=True, timeout=90)
def analyze(code: str, data: Any = None) -> SandboxJob:
    """Run Python code (pandas and numpy available) in an isolated sandbox to compute figures.

    ``data`` (a JSON value, or JSON text) is written to ``input.json`` in the working
    directory: read it with ``json.load(open("input.json"))``. There is no network and no
    access to the database; print the results (one JSON object is easiest to pass on) to
    stdout. Returns {"exit_code", "stdout", "stderr", "files"}.
    """
    return SandboxJob(python=code, data=_json_input(data))


@tool(sandboxed=True, timeout=90)
def plot(code: str, data: Any = None) -> SandboxJob:
    """Run Python code (matplotlib available, Agg backend) in an isolated sandbox to draw charts.

    ``data`` (a JSON value, or JSON text) is written to ``input.json`` in the working
    directory. Save each chart as a PNG under ``out/`` (e.g. ``fig.savefig("out/chart.png")``):
    files in ``out/`` are returned to the user. Returns {"exit_code", "stdout", "stderr",
    "files": [{"name", "size"}]}.
    """
    return SandboxJob(python=code, data=_json_input(data))


TOOLS = [run_sql, analyze, plot]
"""Every tool of the example, for ``App(tools=...)``."""
