"""The support agents' tools, backed by the example's SQLite database (``db.py``).

``lookup_order`` and ``account_status`` only read, with a short timeout, so the worker runs them
as local activities (no server round trip). ``create_ticket`` writes, and is idempotent by
construction: the ticket's unique key is the call's ``idempotency_key`` (workflow id + step id),
so a retried or replayed activity finds the ticket it already made instead of making another.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Literal

from duragent import ToolContext, tool
from examples.customer_support import db

Priority = Literal["low", "normal", "high", "urgent"]

RECENT_ORDERS = 5


def _money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def _status_detail(order: sqlite3.Row) -> str:
    """One sentence a customer can act on, for each order status."""
    status = order["status"]
    carrier, tracking = order["carrier"], order["tracking_number"]
    eta, updated = order["estimated_delivery"], order["updated_on"]
    if status == "pending":
        return f"placed on {order['placed_on']}, it is waiting for payment confirmation"
    if status == "processing":
        return f"we are packing it in our warehouse; estimated delivery {eta}"
    if status == "shipped":
        return (
            f"it left our warehouse on {updated} with {carrier} (tracking {tracking}) "
            f"and should arrive by {eta}"
        )
    if status == "delayed":
        return (
            f"{carrier} reports a delay in transit (tracking {tracking}); "
            f"it should now arrive by {eta}"
        )
    if status == "delivered":
        return f"{carrier} delivered it on {updated}"
    if status == "cancelled":
        return f"the cancellation went through on {updated} and no payment was taken"
    if status == "refunded":
        return (
            f"the refund of {_money(order['total_cents'])} was issued on {updated} and reaches "
            "the original payment method within 5-10 business days"
        )
    return f"its status is {status}"


_ACCOUNT_DETAIL = {
    "active": "The account is in good standing; nothing on our side blocks sign-in.",
    "locked": (
        "Sign-in is locked after 5 failed password attempts; it unlocks by itself after "
        "30 minutes, or at once after a password reset from the sign-in page."
    ),
    "past_due": (
        "The last renewal payment failed, so paid features are paused; updating the card "
        "under Settings > Billing restores them immediately."
    ),
    "closed": "The account was closed at the customer's request.",
}


@tool(risk="read", timeout=5)
def lookup_order(order_id: str) -> dict[str, Any]:
    """Look up an order by its number (e.g. "1001"): status, item, total, shipping and tracking.

    Returns {"found": false, ...} when no such order exists.
    """
    order_id = order_id.strip().lstrip("#").strip()
    with db.connect() as conn:
        row = conn.execute("SELECT * FROM orders WHERE order_id = ?", (order_id,)).fetchone()
    if row is None:
        return {
            "found": False,
            "order_id": order_id,
            "message": f"No order {order_id} exists. Order numbers have 4 digits (e.g. 1001) "
            "and appear in the order confirmation email.",
        }
    return {
        "found": True,
        "order_id": row["order_id"],
        "status": row["status"],
        "status_detail": _status_detail(row),
        "item": row["item"],
        "quantity": row["quantity"],
        "total": _money(row["total_cents"]),
        "placed_on": row["placed_on"],
        "updated_on": row["updated_on"],
        "carrier": row["carrier"],
        "tracking_number": row["tracking_number"],
        "estimated_delivery": row["estimated_delivery"],
        "customer_email": row["email"],
    }


@tool(risk="read", timeout=5)
def account_status(email: str) -> dict[str, Any]:
    """Look up a customer account by email: plan, status (active, locked, past_due, closed),
    what the status means for the customer, open tickets and recent orders.

    Returns {"found": false, ...} when no account has this email.
    """
    email = email.strip().lower()
    with db.connect() as conn:
        account = conn.execute("SELECT * FROM accounts WHERE email = ?", (email,)).fetchone()
        if account is None:
            return {
                "found": False,
                "email": email,
                "message": f"No account is registered with {email}.",
            }
        orders = conn.execute(
            "SELECT order_id, status, placed_on FROM orders WHERE email = ? "
            "ORDER BY placed_on DESC, order_id DESC LIMIT ?",
            (email, RECENT_ORDERS),
        ).fetchall()
        open_tickets = conn.execute(
            "SELECT COUNT(*) FROM tickets WHERE customer_email = ? AND status = 'open'", (email,)
        ).fetchone()[0]
    return {
        "found": True,
        "email": account["email"],
        "name": account["name"],
        "plan": account["plan"],
        "status": account["status"],
        "detail": _ACCOUNT_DETAIL.get(account["status"], ""),
        "member_since": account["member_since"],
        "renews_on": account["renews_on"],
        "open_tickets": open_tickets,
        "recent_orders": [dict(o) for o in orders],
    }


@tool(risk="write", idempotent=True, timeout=10)
def create_ticket(
    ctx: ToolContext,
    subject: str,
    details: str,
    priority: Priority = "normal",
    customer_email: str | None = None,
) -> dict[str, Any]:
    """Open a support ticket for the support team; returns its ticket id.

    priority: "low", "normal" (default), "high" (a person must follow up quickly) or "urgent".
    Put everything the team needs in details: what the customer reported, what was tried,
    order numbers and the account email if known.
    """
    # Idempotent because of the unique key: a retry of this step inserts nothing and returns
    # the ticket the first attempt created.
    key = ctx.idempotency_key
    with db.connect() as conn, db.transaction(conn):
        conn.execute(
            "INSERT OR IGNORE INTO tickets "
            "(idempotency_key, subject, details, priority, customer_email, agent, workflow_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                subject,
                details,
                priority,
                customer_email.strip().lower() if customer_email else None,
                ctx.agent,
                ctx.workflow_id,
            ),
        )
        row = conn.execute("SELECT * FROM tickets WHERE idempotency_key = ?", (key,)).fetchone()
    return {
        "ticket_id": ticket_id(row["id"]),
        "status": row["status"],
        "priority": row["priority"],
        "subject": row["subject"],
        "created_at": row["created_at"],
    }


def ticket_id(row_id: int) -> str:
    """The id customers see for ticket row ``row_id``: ``TCK-01001``."""
    return f"TCK-{1000 + row_id:05d}"


TOOLS = [lookup_order, account_status, create_ticket]
"""Every tool of the example, for ``App(tools=...)``."""
