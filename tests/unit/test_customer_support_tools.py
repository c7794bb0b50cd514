"""The customer-support example's tools against a throwaway SQLite database."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from duragent import ToolContext
from duragent._guardrails import EvalContext, evaluate
from duragent.examples.customer_support import db
from duragent.examples.customer_support.app import (
    APPROVAL_SCENARIO,
    PASSWORD_RESET_SCENARIO,
    REVIEW_SCENARIO,
    SCENARIOS,
    app,
)
from duragent.examples.customer_support.tools import (
    account_status,
    create_ticket,
    lookup_order,
    refund_order,
    reset_password,
)


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


# --- refund_order ---------------------------------------------------------------------------


def refund_rows(path: Path) -> list[tuple[str, str, int]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(
            "SELECT idempotency_key, order_id, amount_cents FROM refunds ORDER BY id"
        ).fetchall()


def order_status(path: Path, order_id: str) -> str:
    with closing(sqlite3.connect(path)) as conn:
        return str(
            conn.execute("SELECT status FROM orders WHERE order_id = ?", (order_id,)).fetchone()[0]
        )


def test_refund_records_a_row_and_says_what_was_refunded(database: Path) -> None:
    result = refund_order.fn(context(), order_id="#1006", amount=150, reason="arrived damaged")
    assert result["refunded"] is True
    assert result["refund_id"].startswith("RFD-")
    assert (result["order_id"], result["item"], result["amount"]) == (
        "1006",
        "Ergonomic office chair",
        "$150.00",
    )
    assert (result["order_total"], result["refunded_so_far"]) == ("$349.00", "$150.00")
    assert refund_rows(database) == [("run-support-abc/s3", "1006", 15000)]
    assert order_status(database, "1006") == "delivered"  # partly refunded: status unchanged


def test_refund_twice_with_one_key_makes_one_refund(database: Path) -> None:
    first = refund_order.fn(context(), order_id="1006", amount=150)
    retried = refund_order.fn(context(), order_id="1006", amount=150)
    assert retried == first
    assert refund_rows(database) == [("run-support-abc/s3", "1006", 15000)]


def test_a_retry_returns_its_refund_even_when_a_second_one_would_not_fit(database: Path) -> None:
    # 300 of 349 refunded, then the same step is retried: it must find its own refund, not
    # refuse itself because only 49 are left.
    first = refund_order.fn(context("s3"), order_id="1006", amount=300)
    assert refund_order.fn(context("s3"), order_id="1006", amount=300) == first
    assert refund_order.fn(context("s5"), order_id="1006", amount=300)["refunded"] is False
    assert len(refund_rows(database)) == 1


def test_refund_above_the_order_total_is_refused(database: Path) -> None:
    result = refund_order.fn(context(), order_id="1002", amount=150)
    assert result == {
        "refunded": False,
        "order_id": "1002",
        "reason": "$150.00 is more than the $23.98 left to refund on order 1002 "
        "(order total $23.98)",
    }
    assert refund_rows(database) == []


def test_refunds_add_up_to_at_most_the_order_total(database: Path) -> None:
    assert refund_order.fn(context("s3"), order_id="1002", amount=20)["refunded"] is True
    refused = refund_order.fn(context("s5"), order_id="1002", amount=5)
    assert refused["refunded"] is False and "$3.98 left to refund" in refused["reason"]
    last = refund_order.fn(context("s7"), order_id="1002", amount=3.98)
    assert last["refunded"] is True and last["refunded_so_far"] == "$23.98"
    assert [amount for _, _, amount in refund_rows(database)] == [2000, 398]
    # Refunded in full: the order now says so, and a further refund is refused.
    assert lookup_order.fn(order_id="1002")["status"] == "refunded"
    again = refund_order.fn(context("s9"), order_id="1002", amount=1)
    assert again == {
        "refunded": False,
        "order_id": "1002",
        "reason": "order 1002 is refunded: it has already been refunded in full",
    }


def test_refund_of_an_unknown_order_is_refused(database: Path) -> None:
    result = refund_order.fn(context(), order_id="9999", amount=10)
    assert result["refunded"] is False and result["order_id"] == "9999"
    assert "no order 9999 exists" in result["reason"]
    assert refund_rows(database) == []


@pytest.mark.parametrize(
    ("order_id", "status"), [("1007", "pending"), ("1008", "cancelled"), ("1004", "refunded")]
)
def test_orders_without_a_payment_to_return_are_not_refunded(
    database: Path, order_id: str, status: str
) -> None:
    result = refund_order.fn(context(), order_id=order_id, amount=10)
    assert result["refunded"] is False
    assert result["reason"].startswith(f"order {order_id} is {status}: ")
    assert refund_rows(database) == []


@pytest.mark.parametrize("amount", [0, -5, 0.001, float("nan"), float("inf")])
def test_refund_amount_must_be_positive(database: Path, amount: float) -> None:
    result = refund_order.fn(context(), order_id="1006", amount=amount)
    assert result["refunded"] is False and "positive number" in result["reason"]
    assert refund_rows(database) == []


async def test_concurrent_refunds_of_one_order_never_exceed_its_total(database: Path) -> None:
    # 16 refunds of $30 race for an order of $349.00: exactly 11 fit ($330), the rest are refused.
    results = await asyncio.gather(
        *(
            refund_order.invoke(context(f"s{i}"), {"order_id": "1006", "amount": 30})
            for i in range(16)
        )
    )
    assert sum(r["refunded"] for r in results) == 11
    assert sum(amount for _, _, amount in refund_rows(database)) == 33000


# --- reset_password -------------------------------------------------------------------------


def reset_rows(path: Path) -> list[tuple[str, str, int]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(
            "SELECT idempotency_key, email, unlocked FROM password_resets ORDER BY id"
        ).fetchall()


def test_reset_password_unlocks_and_confirms_with_a_masked_address(database: Path) -> None:
    result = reset_password.fn(context(), email=" Alex@Example.com ")
    assert result["reset"] is True and result["reset_id"].startswith("PWR-")
    assert result["sent_to"] == "a***@example.com"
    assert result["unlocked"] is True and "lock was lifted" in result["detail"]
    assert "alex@example.com" not in str(result)
    assert not {"password", "new_password", "temporary_password"} & set(result)
    assert reset_rows(database) == [("run-support-abc/s3", "alex@example.com", 1)]
    assert account_status.fn(email="alex@example.com")["status"] == "active"


def test_reset_password_twice_with_one_key_resets_once(database: Path) -> None:
    first = reset_password.fn(context(), email="jane@example.com")
    assert reset_password.fn(context(), email="jane@example.com") == first
    assert first["unlocked"] is False and "no longer works" in first["detail"]
    assert reset_rows(database) == [("run-support-abc/s3", "jane@example.com", 0)]


def test_reset_password_of_an_unknown_account_is_refused(database: Path) -> None:
    assert reset_password.fn(context(), email="nobody@example.com") == {
        "reset": False,
        "email": "nobody@example.com",
        "reason": "no account is registered with nobody@example.com",
    }
    assert reset_rows(database) == []


def test_reset_password_of_a_closed_account_is_refused(database: Path) -> None:
    with db.connect() as conn:
        conn.execute("UPDATE accounts SET status = 'closed' WHERE email = 'sam@example.com'")
    result = reset_password.fn(context(), email="sam@example.com")
    assert result["reset"] is False and "closed" in result["reason"]
    assert reset_rows(database) == []


# --- schema upgrade -------------------------------------------------------------------------


def test_a_version_1_database_gains_the_new_tables_and_keeps_its_rows(database: Path) -> None:
    ticket = create_ticket.fn(context("s1"), subject="Old", details="from version 1")
    with closing(sqlite3.connect(database)) as conn:  # back to what version 1 created
        conn.execute("DROP TABLE refunds")
        conn.execute("DROP TABLE password_resets")
        conn.execute("PRAGMA user_version = 1")
        conn.commit()
    assert refund_order.fn(context("s3"), order_id="1006", amount=10)["refunded"] is True
    assert reset_password.fn(context("s5"), email="jane@example.com")["reset"] is True
    with closing(sqlite3.connect(database)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION == 2
        assert conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == len(db.ORDERS)
    assert [key for key, _, _ in ticket_rows(database)] == ["run-support-abc/s1"]
    assert ticket["ticket_id"] == "TCK-01001"


def test_a_newer_database_is_used_as_it_is(database: Path) -> None:
    lookup_order.fn(order_id="1001")
    with closing(sqlite3.connect(database)) as conn:
        conn.execute(f"PRAGMA user_version = {db.SCHEMA_VERSION + 1}")
    assert lookup_order.fn(order_id="1001")["found"] is True
    with closing(sqlite3.connect(database)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION + 1


# --- the governed tools in the app ----------------------------------------------------------


def test_governed_tools_are_idempotent_regular_activities() -> None:
    specs = {name: t.spec for name, t in app.tools.items()}
    for name, risk in (("refund_order", "write"), ("reset_password", "destructive")):
        assert specs[name].execution == "activity"
        assert specs[name].risk == risk and specs[name].idempotent
        assert "ctx" not in specs[name].parameters["properties"]
    assert specs["refund_order"].parameters["required"] == ["order_id", "amount"]
    assert app.agent("info").tools == ["lookup_order", "account_status", "refund_order"]
    assert app.agent("tech").tools == ["account_status", "create_ticket", "reset_password"]
    assert app.approvers == {"lee": ["support_lead"], "sam": ["support_agent"]}


def decide_tool(agent: str, tool: str, **arguments: object) -> tuple[str, str | None]:
    decision = evaluate(
        app.agent(agent).guardrails,
        EvalContext(stage="tool_call", tool=tool, arguments=dict(arguments)),
    )
    return decision.action, decision.rule.name if decision.rule else None


@pytest.mark.parametrize(
    ("agent", "tool", "arguments", "expected"),
    [
        ("info", "refund_order", {"order_id": "1006", "amount": 100}, ("allow", None)),
        (
            "info",
            "refund_order",
            {"order_id": "1006", "amount": 100.01},
            ("require_approval", "refund_over_100"),
        ),
        ("info", "lookup_order", {"order_id": "1006"}, ("allow", None)),
        (
            "tech",
            "reset_password",
            {"email": "a@example.com"},
            ("require_approval", "password_reset"),
        ),
        ("tech", "account_status", {"email": "a@example.com"}, ("allow", None)),
        ("tech", "create_ticket", {"subject": "x", "details": "y"}, ("allow", None)),
    ],
)
def test_which_tool_calls_wait_for_a_support_lead(
    agent: str, tool: str, arguments: dict[str, object], expected: tuple[str, str | None]
) -> None:
    assert decide_tool(agent, tool, **arguments) == expected
    if expected[0] == "require_approval":
        rule = next(r for r in app.agent(agent).guardrails if r.name == expected[1])
        assert rule.approver_roles == ["support_lead"] and rule.approvers == []
        assert rule.timeout_s == 3600 and rule.on_timeout == "reject"


@pytest.mark.parametrize("agent", ["support", "info", "tech", "human"])
def test_every_agent_redacts_card_numbers_from_the_input_and_keeps_emails(agent: str) -> None:
    text = "card 4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 7654 32, email jane@example.com"
    decision = evaluate(app.agent(agent).guardrails, EvalContext(stage="input", text=text))
    assert decision.action == "redact" and decision.rule is not None
    assert decision.rule.name == "redact_sensitive_numbers"
    assert decision.redacted_text == (
        "card [REDACTED:credit_card], IBAN [REDACTED:iban], email jane@example.com"
    )
    plain = evaluate(app.agent(agent).guardrails, EvalContext(stage="input", text=SCENARIOS[0]))
    assert plain.action == "allow"


def test_only_the_refund_policy_answer_is_unsure_enough_for_a_review() -> None:
    # info reviews answers below its threshold, and no confidence counts as below: an info
    # answer without one would stop every demo run that ends in info.
    info = app.agent("info")
    threshold = info.review.confidence_threshold
    assert threshold == 0.6 and info.review.reviewer_roles == ["support_lead"]
    unsure = [
        rule
        for rule in info.script
        if rule.say is not None and (rule.confidence is None or rule.confidence < threshold)
    ]
    assert [rule.confidence for rule in unsure] == [0.5]
    assert unsure[0].when is not None and "polic" in unsure[0].when


def test_the_governed_scenarios_are_not_in_the_unattended_demo() -> None:
    for text in (APPROVAL_SCENARIO, REVIEW_SCENARIO, PASSWORD_RESET_SCENARIO):
        assert text not in SCENARIOS
