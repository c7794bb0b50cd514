"""The support agents' tools, backed by the example's SQLite database (``db.py``).

``lookup_order`` and ``account_status`` only read, with a short timeout, so the worker runs them
as local activities (no server round trip). ``create_ticket``, ``refund_order`` and
``reset_password`` write, and are idempotent by construction: the row each one makes has the
call's ``idempotency_key`` (workflow id + step id) as its unique key, and the check and the
insert happen in one ``BEGIN IMMEDIATE`` transaction, so a retried or replayed activity finds
what it already did instead of doing it again.

Whether a write may happen at all is not the tools' business: ``agents.yaml`` holds the rules
(refunds over 100 and every password reset wait for a support lead), and the workflow asks for
the approval before the activity is scheduled. The tools only refuse what can never be right
(an unknown order, more than was paid), as results the model can explain to the customer.
"""

from __future__ import annotations

import math
import sqlite3
from typing import Any, Literal

from duragent import ToolContext, tool
from duragent.examples.customer_support import db

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


# Payment was taken and not (fully) returned yet: the statuses a refund can apply to.
REFUNDABLE = ("processing", "shipped", "delayed", "delivered")
_NOT_REFUNDABLE = {
    "pending": "its payment has not been confirmed yet, so there is nothing to refund",
    "cancelled": "it was cancelled before payment was taken, so there is nothing to refund",
    "refunded": "it has already been refunded in full",
}


@tool(risk="write", idempotent=True, timeout=10)
def refund_order(
    ctx: ToolContext, order_id: str, amount: float, reason: str = ""
) -> dict[str, Any]:
    """Refund part or all of an order to the original payment method.

    amount is in dollars (e.g. 24.99) and may not exceed what is left to refund on the order.
    reason: why the customer wants the refund, in a few words. Refunds over 100 wait for a
    support lead's approval before they are made.
    Returns {"refunded": false, "reason": ...} when the refund cannot be made.
    """
    order_id = order_id.strip().lstrip("#").strip()
    cents = round(amount * 100) if math.isfinite(amount) else 0  # money as integer cents
    key = ctx.idempotency_key
    # The check and the insert share one write transaction: two refunds of one order racing
    # each other cannot both pass the "left to refund" check.
    with db.connect() as conn, db.transaction(conn):
        done = conn.execute("SELECT * FROM refunds WHERE idempotency_key = ?", (key,)).fetchone()
        if done is None:
            order = conn.execute("SELECT * FROM orders WHERE order_id = ?", (order_id,)).fetchone()
            problem = _refund_problem(conn, order_id, order, amount, cents)
            if problem is not None:
                return {"refunded": False, "order_id": order_id, "reason": problem}
            conn.execute(
                "INSERT INTO refunds "
                "(idempotency_key, order_id, amount_cents, reason, agent, workflow_id) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key, order_id, cents, reason.strip(), ctx.agent, ctx.workflow_id),
            )
            # Refunded in full: the order says so, as the seeded refunded orders do.
            conn.execute(
                "UPDATE orders SET status = 'refunded', updated_on = date('now') "
                "WHERE order_id = ? AND total_cents <= "
                "(SELECT SUM(amount_cents) FROM refunds WHERE order_id = ?)",
                (order_id, order_id),
            )
            done = conn.execute(
                "SELECT * FROM refunds WHERE idempotency_key = ?", (key,)
            ).fetchone()
        order = conn.execute(
            "SELECT * FROM orders WHERE order_id = ?", (done["order_id"],)
        ).fetchone()
        refunded = _refunded_cents(conn, done["order_id"])
    return {
        "refunded": True,
        "refund_id": refund_id(done["id"]),
        "order_id": done["order_id"],
        "item": order["item"],
        "amount": _money(done["amount_cents"]),
        "order_total": _money(order["total_cents"]),
        "refunded_so_far": _money(refunded),
        "reason": done["reason"],
        "created_at": done["created_at"],
        "detail": "The refund reaches the original payment method within 5-10 business days.",
    }


def _refunded_cents(conn: sqlite3.Connection, order_id: str) -> int:
    row = conn.execute(
        "SELECT COALESCE(SUM(amount_cents), 0) FROM refunds WHERE order_id = ?", (order_id,)
    ).fetchone()
    return int(row[0])


def _refund_problem(
    conn: sqlite3.Connection, order_id: str, order: sqlite3.Row | None, amount: float, cents: int
) -> str | None:
    """Why this refund cannot be made (a sentence for the customer), or ``None``."""
    if order is None:
        return (
            f"no order {order_id} exists; order numbers have 4 digits (e.g. 1001) and appear "
            "in the order confirmation email"
        )
    if cents <= 0:
        return f"the amount must be a positive number of dollars, not {amount!r}"
    if order["status"] not in REFUNDABLE:
        return f"order {order_id} is {order['status']}: " + _NOT_REFUNDABLE.get(
            order["status"], "it cannot be refunded"
        )
    left = order["total_cents"] - _refunded_cents(conn, order_id)
    if left <= 0:
        return f"order {order_id} has already been refunded in full"
    if cents > left:
        return (
            f"{_money(cents)} is more than the {_money(left)} left to refund "
            f"on order {order_id} (order total {_money(order['total_cents'])})"
        )
    return None


def refund_id(row_id: int) -> str:
    """The id customers see for refund row ``row_id``: ``RFD-01001``."""
    return f"RFD-{1000 + row_id:05d}"


def mask_email(email: str) -> str:
    """``alex@example.com`` -> ``a***@example.com``: enough to recognise, not to harvest."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


@tool(risk="destructive", idempotent=True, timeout=10)
def reset_password(ctx: ToolContext, email: str) -> dict[str, Any]:
    """Reset the password of the account with this email: the current password stops working,
    a reset link (valid 1 hour) is emailed to the account's address, and a sign-in lock is lifted.

    Every reset waits for a support lead's approval. Never returns a password.
    Returns {"reset": false, "reason": ...} when no reset can be made.
    """
    email = email.strip().lower()
    key = ctx.idempotency_key
    with db.connect() as conn, db.transaction(conn):
        done = conn.execute(
            "SELECT * FROM password_resets WHERE idempotency_key = ?", (key,)
        ).fetchone()
        if done is None:
            account = conn.execute(
                "SELECT status FROM accounts WHERE email = ?", (email,)
            ).fetchone()
            if account is None:
                return {
                    "reset": False,
                    "email": email,
                    "reason": f"no account is registered with {email}",
                }
            if account["status"] == "closed":
                return {
                    "reset": False,
                    "email": email,
                    "reason": "the account was closed at the customer's request",
                }
            unlocked = account["status"] == "locked"
            conn.execute(
                "INSERT INTO password_resets "
                "(idempotency_key, email, unlocked, agent, workflow_id) VALUES (?, ?, ?, ?, ?)",
                (key, email, int(unlocked), ctx.agent, ctx.workflow_id),
            )
            if unlocked:
                conn.execute("UPDATE accounts SET status = 'active' WHERE email = ?", (email,))
            done = conn.execute(
                "SELECT * FROM password_resets WHERE idempotency_key = ?", (key,)
            ).fetchone()
    return {
        "reset": True,
        "reset_id": reset_id(done["id"]),
        "sent_to": mask_email(done["email"]),
        "link_expires_in": "1 hour",
        "unlocked": bool(done["unlocked"]),
        "detail": (
            "The sign-in lock was lifted, so the new password works at once."
            if done["unlocked"]
            else "The old password no longer works."
        ),
        "created_at": done["created_at"],
    }


def reset_id(row_id: int) -> str:
    """The reference customers see for password reset row ``row_id``: ``PWR-01001``."""
    return f"PWR-{1000 + row_id:05d}"


TOOLS = [lookup_order, account_status, create_ticket, refund_order, reset_password]
"""Every tool of the example, for ``App(tools=...)``."""
