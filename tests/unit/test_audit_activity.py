"""The ``audit.append`` activity: retries write nothing twice; conflicts are not retried."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from duragent._messages import StepRecord
from duragent.activities._audit import AuditActivities
from duragent.audit import AuditBatch, AuditEntry, SQLiteAuditLog

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def entry(step_id: str, approver: str = "ana") -> AuditEntry:
    step = StepRecord(
        step_id=step_id,
        kind="approval_decided",
        agent="support",
        turn=2,
        at=AT,
        tool="refund_order",
        arguments={"order_id": "1001"},
        rule="refunds_need_approval",
        action="approve",
        approver=approver,
        reason="customer is right",
        via="update",
        ref="s3",
        args_hash="a" * 64,
    )
    return AuditEntry(
        workflow_id="run-x", run_id="r1", agent="support", step=step, spec_hash="5" * 64
    )


@pytest.fixture
def log(tmp_path: Path) -> Iterator[SQLiteAuditLog]:
    with SQLiteAuditLog(tmp_path / "audit.db") as opened:
        yield opened


async def test_retried_batch_is_written_once(log: SQLiteAuditLog) -> None:
    activities = AuditActivities(log)
    env = ActivityEnvironment()
    batch = AuditBatch(entries=[entry("s4"), entry("s5")])
    assert await env.run(activities.append, batch) == 2
    assert await env.run(activities.append, batch) == 0
    assert [r["step_id"] for r in log.records_for("run-x")] == ["s4", "s5"]
    assert log.verify().ok


async def test_changed_record_is_a_non_retryable_conflict(log: SQLiteAuditLog) -> None:
    activities = AuditActivities(log)
    env = ActivityEnvironment()
    await env.run(activities.append, AuditBatch(entries=[entry("s4")]))
    with pytest.raises(ApplicationError) as caught:
        await env.run(activities.append, AuditBatch(entries=[entry("s4", approver="mallory")]))
    assert caught.value.type == "audit_conflict"
    assert caught.value.non_retryable
    assert "run-x/r1/s4" in str(caught.value)
    assert caught.value.details == ("run-x", "r1", "s4")


async def test_damaged_log_is_not_retried(log: SQLiteAuditLog) -> None:
    activities = AuditActivities(log)
    env = ActivityEnvironment()
    await env.run(activities.append, AuditBatch(entries=[entry("s4")]))
    conn = sqlite3.connect(log.path)
    try:
        conn.execute("DELETE FROM duragent_audit_head")
        conn.commit()
    finally:
        conn.close()
    with pytest.raises(ApplicationError) as caught:
        await env.run(activities.append, AuditBatch(entries=[entry("s5")]))
    assert caught.value.type == "audit_damaged" and caught.value.non_retryable


async def test_batch_survives_the_data_converter() -> None:
    # What the workflow sends is what the activity hashes: same model after the round trip.
    batch = AuditBatch(entries=[entry("s4"), entry("s5")])
    payloads = await pydantic_data_converter.encode([batch])
    (decoded,) = await pydantic_data_converter.decode(payloads, [AuditBatch])
    assert decoded == batch
