"""The app the crash tests serve: ``duragent worker --app tests.crash.crash_app:app``.

One agent, five turns, four tool calls (``charge``, ``slow_step``, ``notify``, ``slow_step``),
then a final answer. Every tool writes to a SQLite ledger at ``$CRASH_LEDGER``:

- ``attempts`` gets a row each time a tool *starts* (so a test sees retries happen);
- ``effects`` gets the tool's side effect, keyed by ``ctx.idempotency_key`` (workflow id + step
  id, stable across retries and worker restarts) with ``INSERT OR IGNORE``: a retried step finds
  what its first attempt did instead of doing it again.

So a step retried after a crash shows as attempts > 1 with one effect, and a completed step
that recovery wrongly ran again under a new step id shows as an extra effect row.

The model is ``openai/mock`` at ``$CRASH_MODEL_URL`` (``duragent mock-llm``, answering from
``SCRIPT``) when that is set: its calls then take real time, so a kill can land inside one,
and the mock sees every request, so a repeated model call is a visible side effect. Without
it the in-process ``scripted`` model answers from the same rules.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from duragent import Agent, App, Limits, ModelRef, ScriptRule, Timeouts, ToolContext, tool

LEDGER_ENV = "CRASH_LEDGER"
MODEL_URL_ENV = "CRASH_MODEL_URL"
AGENT = "crash"
FIRST_STEP_S = 0.4
SECOND_STEP_S = 0.2
TURNS = 5
EXPECTED_TOOLS = ("charge", "slow_step", "notify", "slow_step")
"""The tool calls of every run, in order."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS effects (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,   -- one effect per tool step, however often retried
    workflow_id     TEXT NOT NULL,
    step_id         TEXT NOT NULL,
    tool            TEXT NOT NULL,
    detail          TEXT NOT NULL,          -- the effect's arguments, JSON
    pid             INTEGER NOT NULL,       -- the worker process that made it
    created_at      REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS attempts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL,          -- one row per attempt: not unique
    workflow_id     TEXT NOT NULL,
    step_id         TEXT NOT NULL,
    tool            TEXT NOT NULL,
    pid             INTEGER NOT NULL,
    at              REAL NOT NULL
);
"""


def _connect(path: str | os.PathLike[str] | None = None) -> sqlite3.Connection:
    # Autocommit, with explicit BEGIN IMMEDIATE where a check and a write must be atomic; the
    # busy timeout covers several workers (and the test reading) sharing the file.
    conn = sqlite3.connect(path or os.environ[LEDGER_ENV], timeout=10.0, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.executescript(SCHEMA)
    return conn


def _attempt(ctx: ToolContext, tool_name: str) -> None:
    with closing(_connect()) as conn:
        conn.execute(
            "INSERT INTO attempts (idempotency_key, workflow_id, step_id, tool, pid, at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                ctx.idempotency_key,
                ctx.workflow_id,
                ctx.step_id,
                tool_name,
                os.getpid(),
                time.time(),
            ),
        )


def _effect(ctx: ToolContext, tool_name: str, detail: dict[str, Any]) -> sqlite3.Row:
    """Make the effect once per idempotency key; return its row (the first attempt's)."""
    with closing(_connect()) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT OR IGNORE INTO effects "
                "(idempotency_key, workflow_id, step_id, tool, detail, pid, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    ctx.idempotency_key,
                    ctx.workflow_id,
                    ctx.step_id,
                    tool_name,
                    json.dumps(detail, sort_keys=True),
                    os.getpid(),
                    time.time(),
                ),
            )
            row: sqlite3.Row = conn.execute(
                "SELECT * FROM effects WHERE idempotency_key = ?", (ctx.idempotency_key,)
            ).fetchone()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return row


@tool(risk="write", idempotent=True, timeout=5)
def charge(ctx: ToolContext, order_id: str, amount: float) -> dict[str, Any]:
    """Charge the customer's card for an order; returns the charge id."""
    _attempt(ctx, "charge")
    row = _effect(ctx, "charge", {"order_id": order_id, "amount": amount})
    detail = json.loads(row["detail"])
    return {"charge_id": f"ch-{row['id']}", **detail}


@tool(risk="write", idempotent=True, timeout=5)
def notify(ctx: ToolContext, user: str, text: str) -> dict[str, Any]:
    """Send the user a message; returns the notification id."""
    _attempt(ctx, "notify")
    row = _effect(ctx, "notify", {"user": user, "text": text})
    return {"notification_id": f"n-{row['id']}", **json.loads(row["detail"])}


@tool(risk="external", idempotent=True, timeout=5, execution="activity")
async def slow_step(ctx: ToolContext, seconds: float, note: str = "") -> dict[str, Any]:
    """Work for ``seconds``, heartbeating, then record that the work was done."""
    await asyncio.to_thread(_attempt, ctx, "slow_step")
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ctx.heartbeat(left)  # a killed worker is noticed after heartbeat_s, not tool_s
        await asyncio.sleep(min(left, 0.05))
    await asyncio.to_thread(_effect, ctx, "slow_step", {"seconds": seconds, "note": note})
    return {"slept_s": seconds, "note": note}


SCRIPT = [
    ScriptRule(
        on="user",
        when=r"charge (?P<order>\S+) (?P<amount>\d+\.\d\d) to (?P<user>\S+)",
        call={"tool": "charge", "arguments": {"order_id": "{order}", "amount": "{amount}"}},
    ),
    ScriptRule(
        on="tool",
        tool="charge",
        call={"tool": "slow_step", "arguments": {"seconds": FIRST_STEP_S, "note": "{input}"}},
    ),
    ScriptRule(
        on="tool",
        tool="slow_step",
        when=r'"note":"charge (\S+) (\S+) to (\S+)"',
        call={"tool": "notify", "arguments": {"user": "{3}", "text": "Charged {2} for order {1}."}},
    ),
    ScriptRule(
        on="tool",
        tool="notify",
        call={
            "tool": "slow_step",
            "arguments": {
                "seconds": SECOND_STEP_S,
                "note": "notified {result.user}: {result.text}",
            },
        },
    ),
    ScriptRule(
        on="tool",
        tool="slow_step",
        when=r'"note":"notified (\S+): ([^"]*)"',
        say="Done: {2} ({1} notified)",
    ),
]
"""Five turns; every rule's input comes from the last message, so each turn is deterministic."""


def request_text(order_id: str, amount: str, user: str) -> str:
    """A run's input; ``amount`` is written with two decimals, e.g. ``"12.50"``."""
    return f"charge {order_id} {amount} to {user}"


def expected_output(order_id: str, amount: str, user: str) -> str:
    return f"Done: Charged {amount} for order {order_id}. ({user} notified)"


def _model() -> ModelRef:
    url = os.environ.get(MODEL_URL_ENV)
    if url:
        return ModelRef(provider="openai", name="mock", base_url=url)
    return ModelRef(provider="scripted", name="crash")


agent = Agent(
    name=AGENT,
    description="Charges an order, works a while, notifies the customer.",
    instructions="Charge the order, then notify the customer.",
    model=_model(),
    tools=["charge", "notify", "slow_step"],
    script=SCRIPT,
    # Short timeouts: an activity in flight on a killed worker is retried after heartbeat_s
    # (tools that heartbeat) or model_s/tool_s, so recovery takes seconds, not minutes.
    limits=Limits(max_turns=8, timeouts=Timeouts(model_s=5, tool_s=5, heartbeat_s=2)),
    environment="test",
)

app = App(agents=[agent], tools=[charge, notify, slow_step], name="crash")


# -- reading the ledger (the tests' side) -----------------------------------------------------


@dataclass(frozen=True)
class Effect:
    workflow_id: str
    step_id: str
    tool: str
    detail: dict[str, Any]
    pid: int


def effects(ledger: str | os.PathLike[str], workflow_id: str) -> list[Effect]:
    """Every side effect made for the run ``workflow_id``, in order."""
    with closing(_connect(ledger)) as conn:
        rows = conn.execute(
            "SELECT * FROM effects WHERE workflow_id = ? ORDER BY id", (workflow_id,)
        ).fetchall()
    return [
        Effect(r["workflow_id"], r["step_id"], r["tool"], json.loads(r["detail"]), r["pid"])
        for r in rows
    ]


def attempts(ledger: str | os.PathLike[str], workflow_id: str) -> Counter[str]:
    """How many times each step of the run ``workflow_id`` started, by step id."""
    with closing(_connect(ledger)) as conn:
        rows = conn.execute(
            "SELECT step_id, COUNT(*) FROM attempts WHERE workflow_id = ? GROUP BY step_id",
            (workflow_id,),
        ).fetchall()
    return Counter({step_id: count for step_id, count in rows})
