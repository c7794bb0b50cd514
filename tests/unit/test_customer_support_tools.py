"""The customer-support example's tools against a throwaway SQLite database."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from duragent import ToolContext
from examples.customer_support import db
from examples.customer_support.app import app
from examples.customer_support.tools import account_status, create_ticket, lookup_order


@pytest.fixture(autouse=True)
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "support.db"
    monkeypatch.setenv(db.ENV_VAR, str(path))
    yield path


def context(step_id: str = "s3", workflow_id: str = "run-support-abc") -> ToolContext:
    return ToolContext(run_id="r1", workflow_id=workflow_id, step_id=step_id, agent="tech")


def ticket_rows(path: Path) -> list[tuple[str, str, str]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(
            "SELECT idempotency_key, subject, priority FROM tickets ORDER BY id"
        ).fetchall()


def test_database_created_with_seed_data_on_first_use(database: Path) -> None:
    assert not database.exists()
    lookup_order.fn(order_id="1001")
    with closing(sqlite3.connect(database)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == len(db.ORDERS)
        assert conn.execute("SELECT COUNT(*) FROM accounts").fetchone()[0] == len(db.ACCOUNTS)
        statuses = {s for (s,) in conn.execute("SELECT DISTINCT status FROM orders")}
    assert {"pending", "processing", "shipped", "delayed", "delivered"} <= statuses


def test_default_path_is_under_dot_duragent_in_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(db.ENV_VAR)
    monkeypatch.chdir(tmp_path)
    assert lookup_order.fn(order_id="1002")["found"] is True
    assert (tmp_path / ".duragent" / "customer_support.db").is_file()


def test_found_order_has_status_tracking_and_total() -> None:
    order = lookup_order.fn(order_id="#1001 ")
    assert order["found"] is True
    assert order["order_id"] == "1001"
    assert order["status"] == "shipped"
    assert order["total"] == "$129.99"
    assert order["tracking_number"] == "1Z999AA10123456784"
    assert "UPS" in order["status_detail"] and "2026-11-25" in order["status_detail"]


def test_unknown_order_is_a_result_not_an_exception() -> None:
    order = lookup_order.fn(order_id="9999")
    assert order["found"] is False
    assert order["order_id"] == "9999"
    assert "9999" in order["message"]


def test_account_status_explains_a_locked_account() -> None:
    account = account_status.fn(email=" Alex@Example.com ")
    assert account["found"] is True
    assert (account["name"], account["plan"], account["status"]) == (
        "Alex Kim",
        "business",
        "locked",
    )
    assert "password reset" in account["detail"]
    assert [o["order_id"] for o in account["recent_orders"]] == ["1011", "1005", "1006"]
    assert account["open_tickets"] == 0


def test_unknown_account() -> None:
    assert account_status.fn(email="nobody@example.com") == {
        "found": False,
        "email": "nobody@example.com",
        "message": "No account is registered with nobody@example.com.",
    }


def test_create_ticket_twice_with_one_key_makes_one_ticket(database: Path) -> None:
    ctx = context()
    first = create_ticket.fn(ctx, subject="App crashes", details="on launch", priority="high")
    retried = create_ticket.fn(ctx, subject="App crashes", details="on launch", priority="high")
    assert retried == first
    assert first["ticket_id"].startswith("TCK-")
    assert first["priority"] == "high"
    assert ticket_rows(database) == [("run-support-abc/s3", "App crashes", "high")]


def test_create_ticket_with_different_keys_makes_two_tickets(database: Path) -> None:
    a = create_ticket.fn(context("s3"), subject="A", details="first")
    b = create_ticket.fn(context("s5"), subject="B", details="second")
    assert a["ticket_id"] != b["ticket_id"]
    assert a["priority"] == "normal"
    assert [key for key, _, _ in ticket_rows(database)] == [
        "run-support-abc/s3",
        "run-support-abc/s5",
    ]


async def test_tickets_count_as_open_on_the_account_through_invoke() -> None:
    await create_ticket.invoke(
        context(),
        {
            "subject": "Locked out",
            "details": "cannot sign in",
            "customer_email": "alex@example.com",
        },
    )
    account = await account_status.invoke(context(), {"email": "alex@example.com"})
    assert account["open_tickets"] == 1


async def test_concurrent_first_use_initializes_once_and_keeps_every_ticket(database: Path) -> None:
    # Many threads race to create the file and a ticket each: no error, no lost or double rows.
    results = await asyncio.gather(
        *(
            create_ticket.invoke(context(f"s{i}"), {"subject": f"T{i}", "details": "race"})
            for i in range(16)
        )
    )
    assert len({r["ticket_id"] for r in results}) == 16
    assert len(ticket_rows(database)) == 16
    with closing(sqlite3.connect(database)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == len(db.ORDERS)


def test_invalid_priority_is_refused_before_touching_the_database() -> None:
    with pytest.raises(ValueError, match="priority"):
        create_ticket.parse_arguments({"subject": "x", "details": "y", "priority": "asap"})


def test_read_tools_run_as_local_activities_and_ticket_as_a_regular_one() -> None:
    specs = {name: t.spec for name, t in app.tools.items()}
    assert specs["lookup_order"].execution == "local"
    assert specs["account_status"].execution == "local"
    assert specs["create_ticket"].execution == "activity"
    assert specs["create_ticket"].risk == "write" and specs["create_ticket"].idempotent
    assert "customer_email" in specs["create_ticket"].parameters["properties"]
    assert "ctx" not in specs["create_ticket"].parameters["properties"]
