"""The customer-support example end to end: real workflows on the dev server, real SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from duragent import RunRequest, RunResult
from duragent.activities.models import ScriptedProvider
from duragent.client import start_run
from duragent.examples.customer_support import db
from duragent.examples.customer_support.app import ENTRY_AGENT, SCENARIOS, app
from tests.conftest import new_worker


@dataclass(frozen=True)
class Expected:
    path: list[str]
    tools: list[str]
    output: list[str]
    """Substrings of the answer, taken from the database."""
    ticket_priority: str | None = None


EXPECTED = {
    "Where is my order 1001?": Expected(
        path=["support", "info"],
        tools=["lookup_order"],
        output=["Order 1001", "Wireless headphones", "$129.99", "shipped", "1Z999AA10123456784",
                "2026-11-25"],
    ),
    "Can you check order 9999? It never arrived.": Expected(
        path=["support", "info"],
        tools=["lookup_order"],
        output=["couldn't find order 9999"],
    ),
    "I can't log in, my email is alex@example.com": Expected(
        path=["support", "tech"],
        tools=["account_status"],
        output=["alex@example.com", "locked", "password reset"],
    ),
    "The app keeps crashing on startup and it still fails after reinstalling.": Expected(
        path=["support", "tech"],
        tools=["create_ticket"],
        output=["TCK-", "normal priority"],
        ticket_priority="normal",
    ),
    "This is unacceptable, I want to talk to a manager about my delayed order 1005.": Expected(
        path=["support", "human"],
        tools=["create_ticket"],
        output=["TCK-", "high priority", "A person will follow up"],
        ticket_priority="high",
    ),
}  # fmt: skip


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The worker runs in this process, so its tools see this variable.
    path = tmp_path / "support.db"
    monkeypatch.setenv(db.ENV_VAR, str(path))
    return path


@pytest.fixture
async def worker(client: Client, database: Path) -> AsyncIterator[Worker]:
    async with new_worker(client, app, providers={"scripted": ScriptedProvider()}) as w:
        yield w


async def run(client: Client, worker: Worker, text: str) -> RunResult:
    handle = await start_run(
        client, RunRequest(agent=ENTRY_AGENT, input=text), task_queue=worker.task_queue
    )
    return await handle.result()


def tickets(path: Path) -> list[sqlite3.Row]:
    with closing(sqlite3.connect(path)) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("SELECT * FROM tickets ORDER BY id").fetchall()


def test_every_demo_scenario_is_covered() -> None:
    assert list(EXPECTED) == SCENARIOS


@pytest.mark.parametrize("text", SCENARIOS)
async def test_scenario(client: Client, worker: Worker, database: Path, text: str) -> None:
    expected = EXPECTED[text]
    result = await run(client, worker, text)

    assert result.status == "completed", result.error
    assert result.agent_path == expected.path
    assert result.agent == expected.path[-1]
    assert [s.kind for s in result.steps] == ["model", "handoff", "model", "tool", "model"]
    assert [s.tool for s in result.steps if s.kind == "tool"] == expected.tools
    assert result.steps[1].detail == expected.path[-1]
    assert result.output is not None
    for part in expected.output:
        assert part in result.output
    assert "{" not in result.output, "a template field was left unrendered"
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    assert result.cost_usd > 0 and result.cost_complete
    assert set(result.spec_hashes) == {"support", "info", "tech", "human"}

    rows = tickets(database)
    if expected.ticket_priority is None:
        assert rows == []
        return
    # The ticket the answer names is in the database, keyed by this run's tool step.
    (row,) = rows
    tool_step = next(s for s in result.steps if s.kind == "tool")
    assert row["idempotency_key"] == f"{result.workflow_id}/{tool_step.step_id}"
    assert row["priority"] == expected.ticket_priority
    assert row["details"] == text
    assert row["agent"] == expected.path[-1]
    assert f"TCK-{1000 + row['id']:05d}" in result.output


async def test_runs_share_one_database(client: Client, worker: Worker, database: Path) -> None:
    # Two escalations in a row: two tickets with distinct ids, one per run.
    first = await run(client, worker, "I want to speak to a human")
    second = await run(client, worker, "I'm going to call my lawyer about this")
    rows = tickets(database)
    assert [r["subject"] for r in rows] == [
        "Customer asked to talk to a person",
        "Legal concern raised by customer",
    ]
    assert [r["workflow_id"] for r in rows] == [first.workflow_id, second.workflow_id]
    assert first.output != second.output


@pytest.mark.parametrize(
    ("text", "path", "tools", "output"),
    [
        ("I can't log in", ["support", "tech"], [], "Forgot password"),
        ("My PC is so slow today", ["support", "tech"], [], "status.example.com"),
        (
            "Why are paid features paused? I'm maria@example.com",
            ["support", "info"],
            ["account_status"],
            "Settings > Billing",
        ),
    ],
)
async def test_more_paths(
    client: Client, worker: Worker, text: str, path: list[str], tools: list[str], output: str
) -> None:
    result = await run(client, worker, text)
    assert result.status == "completed"
    assert result.agent_path == path
    assert [s.tool for s in result.steps if s.kind == "tool"] == tools
    assert result.output is not None and output in result.output


async def test_unclear_request_gets_a_clarifying_question(client: Client, worker: Worker) -> None:
    result = await run(client, worker, "I have a question")
    assert result.status == "completed"
    assert result.agent_path == ["support"]
    assert [s.kind for s in result.steps] == ["model"]
    assert result.output is not None and result.output.endswith("?")
