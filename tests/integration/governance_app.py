"""A small governed app for the approval tests: refunds over 100 need a lead's approval."""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from duragent import Agent, App, ToolContext, tool


def ledger_path() -> str:
    return os.environ["GOVERNANCE_TEST_DB"]


def refunds() -> list[tuple[str, str, int]]:
    """Every refund the tool actually made: (idempotency key, order, amount)."""
    with sqlite3.connect(ledger_path()) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS refunds (key TEXT UNIQUE, order_id TEXT, amount INTEGER)"
        )
        rows = db.execute("SELECT key, order_id, amount FROM refunds ORDER BY rowid").fetchall()
    db.close()
    return rows


@tool(risk="write", idempotent=False, timeout=10)
def refund_order(ctx: ToolContext, order_id: str, amount: int) -> dict[str, Any]:
    """Refund an order."""
    with sqlite3.connect(ledger_path()) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS refunds (key TEXT UNIQUE, order_id TEXT, amount INTEGER)"
        )
        db.execute("INSERT INTO refunds VALUES (?, ?, ?)", (ctx.idempotency_key, order_id, amount))
    db.close()
    return {"order_id": order_id, "refunded": amount}


REFUND_RULE = {
    "name": "refund_over_100",
    "stage": "tool_call",
    "when": {"tool": "refund_order", "args": {"amount": {"gt": 100}}},
    "action": "require_approval",
    "approvers": ["alice"],
    "approver_roles": ["lead"],
    "message": "refunds over 100 need a lead",
    "timeout_s": 600,
}

SCRIPT = [
    # A second refund after order 77's: keeps the run open, waiting, for "decided twice" tests.
    {
        "on": "tool",
        "tool": "refund_order",
        "when": '"order_id":"77"',
        "call": {"tool": "refund_order", "arguments": {"order_id": "78", "amount": 300}},
    },
    {"on": "tool", "when": "not approved", "say": "The refund was not approved."},
    {
        "on": "tool",
        "tool": "refund_order",
        "when": "refunded",
        "say": "Refunded {result.refunded} on order {result.order_id}.",
    },
    {"on": "tool", "tool": "refund_order", "when": "(.+)", "say": "Refund answer: {1}"},
    {
        "when": r"refund (\d+) of (\d+)",
        "call": {"tool": "refund_order", "arguments": {"order_id": "{1}", "amount": "{2}"}},
    },
    {"when": "hello", "say": "Hello!", "confidence": 0.4},
    {"say": "I can refund orders."},
]


def make_app(
    *, rules: list[dict[str, Any]] | None = None, review: dict[str, Any] | None = None
) -> App:
    billing = Agent(
        name="billing",
        model="scripted/billing",
        tools=["refund_order"],
        script=SCRIPT,
        guardrails=rules if rules is not None else [REFUND_RULE],
        review=review or {},
    )
    return App(
        agents=[billing],
        tools=[refund_order],
        approvers={"alice": ["lead"], "carol": ["lead"], "bob": ["agent"]},
    )
