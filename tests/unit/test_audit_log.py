"""The audit log: exactly-once appends, a chain that names what was changed, export, the CLI.

Core behaviour runs against SQLite and, when a PostgreSQL server can be started from the
binaries on PATH, against PostgreSQL too. Tampering goes around the log with raw SQL, with
the append-only triggers switched off, as an attacker with database access would.
"""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console
from typer.testing import CliRunner

from duragent._messages import StepRecord
from duragent.audit import (
    GENESIS,
    AuditConflictError,
    AuditEntry,
    AuditError,
    AuditLog,
    SQLiteAuditLog,
    _chain,
    _postgres,
    _store,
    default_audit_log_location,
    open_audit_log,
)
from duragent.cli._audit_cmds import audit_app, parse_when, print_audit

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SPEC_HASH = "5" * 64
ARGS_HASH = "a" * 64


def entry(step_id: str, *, wf: str = "run-x", run: str = "r1", **step: Any) -> AuditEntry:
    fields: dict[str, Any] = {
        "kind": "tool",
        "agent": "support",
        "turn": 1,
        "at": AT,
        "tool": "refund_order",
        "arguments": {"order_id": "1001", "amount": 12.5},
        "args_hash": ARGS_HASH,
    }
    return AuditEntry(
        workflow_id=wf,
        run_id=run,
        agent="support",
        tenant="acme",
        user="u-1",
        step=StepRecord(step_id=step_id, **(fields | step)),
        spec_hash=SPEC_HASH,
    )


def three() -> list[AuditEntry]:
    return [entry("s1"), entry("s2", kind="approval_decided", approver="ana"), entry("s3")]


# --- backends ----------------------------------------------------------------------------


from tests.conftest import PostgresServer  # noqa: E402 - the shared server fixture's type


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "nested" / "audit.db")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database()


@pytest.fixture
def log(location: str) -> Iterator[AuditLog]:
    with open_audit_log(location) as opened:
        yield opened


def tamper(location: str, sql: str, params: Sequence[Any] = ()) -> None:
    """Change the tables behind the log's back, with its append-only triggers off."""
    if location.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(location, autocommit=True) as pg:
            pg.execute("SET session_replication_role = replica")  # skips triggers
            pg.execute(sql.replace("?", "%s"), params)
        return
    conn = sqlite3.connect(location)
    try:
        conn.execute("DROP TRIGGER IF EXISTS duragent_audit_no_update")
        conn.execute("DROP TRIGGER IF EXISTS duragent_audit_no_delete")
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def raw_row(log: AuditLog, seq: int) -> dict[str, Any]:
    return next(row for row in log.export() if row["seq"] == seq)


# --- appending ---------------------------------------------------------------------------


def test_retried_append_writes_each_record_once(log: AuditLog) -> None:
    assert log.append(three()) == 3
    assert log.append(three()) == 0
    assert log.append([entry("s3"), entry("s4")]) == 1
    rows = log.records_for("run-x")
    assert [r["step_id"] for r in rows] == ["s1", "s2", "s3", "s4"]
    assert [r["seq"] for r in rows] == [1, 2, 3, 4]
    assert log.append([]) == 0


def test_same_step_id_in_another_run_is_another_record(log: AuditLog) -> None:
    assert log.append([entry("s1"), entry("s1", run="r2"), entry("s1", wf="run-y")]) == 3


def test_conflicting_reappend_raises_naming_the_key_and_writes_nothing(log: AuditLog) -> None:
    log.append(three())
    changed = entry("s2", kind="approval_decided", approver="mallory")
    with pytest.raises(AuditConflictError, match="run-x/r1/s2") as caught:
        log.append([entry("s9"), changed])
    assert (caught.value.workflow_id, caught.value.run_id, caught.value.step_id) == (
        "run-x",
        "r1",
        "s2",
    )
    assert [r["step_id"] for r in log.records_for("run-x")] == ["s1", "s2", "s3"]
    assert log.verify().ok


def test_record_written_before_a_field_was_added_is_not_a_conflict() -> None:
    # A newer worker re-sends a step whose stored JSON lacks a field that now has a default.
    new = entry("s1")
    stored = json.loads(_chain.canonical_json(new))
    del stored["tenant"], stored["step"]["rule"]
    assert new.tenant == "acme"  # tenant is set: dropping it must be a difference
    assert not _chain.same_content(json.dumps(stored), new, _chain.canonical_json(new))
    stored["tenant"] = "acme"
    assert _chain.same_content(json.dumps(stored), new, _chain.canonical_json(new))


def test_spec_hash_and_args_hash_round_trip(log: AuditLog) -> None:
    originals = three()
    log.append(originals)
    rows = log.records_for("run-x")
    assert all(r["entry"]["spec_hash"] == SPEC_HASH for r in rows)
    assert all(r["entry"]["step"]["args_hash"] == ARGS_HASH for r in rows)
    assert [AuditEntry.model_validate(r["entry"]) for r in rows] == originals
    first = rows[0]
    assert first["prev_hash"] == GENESIS
    assert rows[1]["prev_hash"] == first["hash"]
    assert datetime.fromisoformat(first["recorded_at"]).tzinfo is not None


def test_records_are_append_only_in_the_database(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    with SQLiteAuditLog(path) as audit:
        audit.append(three())
    conn = sqlite3.connect(path)
    try:
        for sql in ("UPDATE duragent_audit SET entry_json = '{}'", "DELETE FROM duragent_audit"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql)
    finally:
        conn.close()


# --- verifying ---------------------------------------------------------------------------


def test_intact_chain_verifies(log: AuditLog) -> None:
    assert log.verify().ok and log.verify().checked == 0
    log.append(three())
    log.append([entry("s4")])
    report = log.verify()
    assert report.ok and report.checked == 4 and report.problems == []
    assert report.head_seq == 4 and report.head_hash == raw_row(log, 4)["hash"]


def test_modified_record_is_named(log: AuditLog, location: str) -> None:
    log.append(three())
    forged = _chain.canonical_json(entry("s2", kind="approval_decided", approver="mallory"))
    tamper(location, "UPDATE duragent_audit SET entry_json = ? WHERE seq = 2", (forged,))
    report = log.verify()
    assert not report.ok
    assert report.problems == [
        "record seq 2 (run-x/s2) was modified: its hash does not match its content"
    ]


def test_deleted_middle_record_is_reported_missing(log: AuditLog, location: str) -> None:
    log.append(three())
    tamper(location, "DELETE FROM duragent_audit WHERE seq = 2")
    report = log.verify()
    assert not report.ok and report.checked == 2
    assert report.problems == ["record(s) missing before seq 3 (seq 2)"]


def test_deleted_last_record_is_caught_by_the_head(log: AuditLog, location: str) -> None:
    log.append(three())
    tamper(location, "DELETE FROM duragent_audit WHERE seq = 3")
    assert log.verify().problems == ["records after seq 2 are missing: the head records seq 3"]
    tamper(location, "DELETE FROM duragent_audit")
    assert log.verify().problems == ["all records are missing: the head records seq 3"]


def test_rewritten_hash_is_caught_by_the_next_record(log: AuditLog, location: str) -> None:
    log.append(three())
    row = raw_row(log, 2)
    forged = _chain.canonical_json(entry("s2", kind="approval_decided", approver="mallory"))
    new_hash = _chain.chain_hash(row["prev_hash"], 2, row["recorded_at"], forged)
    tamper(
        location,
        "UPDATE duragent_audit SET entry_json = ?, hash = ? WHERE seq = 2",
        (forged, new_hash),
    )
    (problem,) = log.verify().problems
    assert problem.startswith("chain broken at seq 3")
    assert "seq 2 was rewritten" in problem


def test_rewritten_last_record_is_caught_by_the_head(log: AuditLog, location: str) -> None:
    log.append(three())
    row = raw_row(log, 3)
    forged = _chain.canonical_json(entry("s3", tool="delete_everything"))
    new_hash = _chain.chain_hash(row["prev_hash"], 3, row["recorded_at"], forged)
    tamper(
        location,
        "UPDATE duragent_audit SET entry_json = ?, hash = ? WHERE seq = 3",
        (forged, new_hash),
    )
    assert log.verify().problems == [
        "the head does not match record seq 3: the last record was rewritten or replaced"
    ]


def test_edited_key_column_and_recorded_at_are_detected(log: AuditLog, location: str) -> None:
    log.append(three())
    tamper(location, "UPDATE duragent_audit SET step_id = 'sX' WHERE seq = 1")
    tamper(location, "UPDATE duragent_audit SET recorded_at = '2020-01-01' WHERE seq = 2")
    assert log.verify().problems == [
        "record seq 1 (run-x/sX) was modified: its key columns do not match its content "
        "(run-x/r1/s1)",
        "record seq 2 (run-x/s2) was modified: its hash does not match its content",
    ]


def test_missing_head_row_is_reported_and_blocks_appends(log: AuditLog, location: str) -> None:
    log.append(three())
    tamper(location, "DELETE FROM duragent_audit_head")
    assert log.verify().problems == [
        "the head row is missing, so removal of the last records cannot be ruled out"
    ]
    with pytest.raises(AuditError, match="head row"):
        log.append([entry("s4")])


def test_verify_and_export_page_through_long_logs(
    log: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_store, "PAGE", 2)
    log.append([entry(f"s{i}") for i in range(1, 6)])
    assert [r["seq"] for r in log.export()] == [1, 2, 3, 4, 5]
    assert log.verify().checked == 5 and log.verify().ok


# --- exporting ---------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """Times the next appends are stamped with, in order."""
    times: list[datetime] = []
    for db in (_store._SQLiteDb, _postgres._PgDb):
        monkeypatch.setattr(db, "now", lambda self: times.pop(0))
    return times


def test_export_filters_by_time_and_run(log: AuditLog, clock: list[datetime]) -> None:
    t1, t2, t3 = (datetime(2026, 3, 1, h, tzinfo=UTC) for h in (10, 11, 12))
    clock.extend([t1, t2, t3])
    log.append([entry("s1", wf="run-a"), entry("s2", wf="run-a")])
    log.append([entry("s1", wf="run-b")])
    log.append([entry("s3", wf="run-a")])

    def keys(rows: Iterator[dict[str, Any]]) -> list[str]:
        return [f"{r['workflow_id']}/{r['step_id']}" for r in rows]

    assert keys(log.export()) == ["run-a/s1", "run-a/s2", "run-b/s1", "run-a/s3"]
    assert keys(log.export(since=t2)) == ["run-b/s1", "run-a/s3"]
    assert keys(log.export(until=t2)) == ["run-a/s1", "run-a/s2"]
    half = timedelta(minutes=30)
    assert keys(log.export(since=t2 - half, until=t2 + half)) == ["run-b/s1"]
    assert keys(log.export(since=t2.replace(tzinfo=None))) == ["run-b/s1", "run-a/s3"]
    noon_in_berlin = datetime(2026, 3, 1, 12, tzinfo=ZoneInfo("Europe/Berlin"))  # 11:00 UTC
    assert keys(log.export(since=noon_in_berlin)) == ["run-b/s1", "run-a/s3"]
    assert keys(log.export(workflow_id="run-a", since=t2)) == ["run-a/s3"]
    row = next(log.export())
    assert row["recorded_at"] == "2026-03-01T10:00:00.000000+00:00"
    assert set(row) == {
        "seq",
        "workflow_id",
        "run_id",
        "step_id",
        "recorded_at",
        "prev_hash",
        "hash",
        "entry",
    }


# --- concurrency -------------------------------------------------------------------------


@pytest.mark.parametrize("shared", [True, False], ids=["one-instance", "instance-per-thread"])
def test_concurrent_appends_from_threads_keep_one_chain(
    log: AuditLog, location: str, shared: bool
) -> None:
    common = [entry(f"common-{i}") for i in range(20)]

    def work(n: int) -> int:
        own = log if shared else open_audit_log(location)
        try:
            written = 0
            for i in range(10):
                batch = [entry(f"t{n}-{i}"), common[(2 * i + n) % 20], common[(2 * i + n + 1) % 20]]
                written += own.append(batch)
            return written + own.append(common)
        finally:
            if not shared:
                own.close()

    with ThreadPoolExecutor(4) as pool:
        totals = list(pool.map(work, range(4)))
    assert sum(totals) == 4 * 10 + 20
    report = log.verify()
    assert report.ok and report.checked == 60, report.problems
    rows = list(log.export())
    assert [r["seq"] for r in rows] == list(range(1, 61))
    assert len({r["step_id"] for r in rows}) == 60


def _append_from_process(path: str, n: int) -> int:
    with open_audit_log(path) as audit:
        return sum(audit.append([entry(f"p{n}-{i}"), entry(f"common-{i}")]) for i in range(25))


def test_concurrent_appends_from_processes_keep_one_chain(tmp_path: Path) -> None:
    path = str(tmp_path / "audit.db")
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        totals = pool.starmap(_append_from_process, [(path, 0), (path, 1)])
        pool.close()
        pool.join()
    assert sum(totals) == 2 * 25 + 25
    with open_audit_log(path) as audit:
        report = audit.verify()
        assert report.ok and report.checked == 75, report.problems
        assert len({(r["workflow_id"], r["step_id"]) for r in audit.export()}) == 75


# --- opening -----------------------------------------------------------------------------


def test_open_audit_log_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with open_audit_log("sqlite:///relative/a.db") as a, open_audit_log(tmp_path / "b.db") as b:
        assert isinstance(a, SQLiteAuditLog) and isinstance(b, SQLiteAuditLog)
    assert (tmp_path / "relative" / "a.db").exists()
    with open_audit_log(f"sqlite:///{tmp_path}/c.db"):
        assert (tmp_path / "c.db").exists()
    with pytest.raises(AuditError, match="no audit log at"):
        open_audit_log(tmp_path / "missing.db", create=False)
    with pytest.raises(AuditError, match="unsupported audit log"):
        open_audit_log("mysql://db/audit")
    assert default_audit_log_location({}) == ".duragent/audit.db"
    assert default_audit_log_location({"DURAGENT_AUDIT_LOG": "/var/a.db"}) == "/var/a.db"


# --- the CLI -----------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    path = str(tmp_path / "audit.db")
    with open_audit_log(path) as audit:
        audit.append(three())
        audit.append([entry("s1", wf="run-other")])
    return path


def test_cli_verify_intact_then_tampered(db_path: str) -> None:
    result = runner.invoke(audit_app, ["verify", "--log", db_path])
    assert result.exit_code == 0, result.output
    with open_audit_log(db_path) as audit:
        head = audit.verify().head_hash
    assert result.stdout.splitlines() == [
        "ok: 4 records, chain intact",
        f"head: seq 4, hash {head}",
    ]
    tamper(db_path, "DELETE FROM duragent_audit WHERE seq = 2")
    result = runner.invoke(audit_app, ["verify", "--log", db_path])
    assert result.exit_code == 1
    assert "record(s) missing before seq 3 (seq 2)" in result.stderr


def test_cli_verify_reads_the_log_from_the_environment(
    db_path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DURAGENT_AUDIT_LOG", db_path)
    assert runner.invoke(audit_app, ["verify"]).exit_code == 0
    monkeypatch.setenv("DURAGENT_AUDIT_LOG", str(tmp_path / "nowhere.db"))
    result = runner.invoke(audit_app, ["verify"])
    assert result.exit_code == 2 and "no audit log at" in result.stderr
    assert not (tmp_path / "nowhere.db").exists()


def test_cli_export_writes_jsonl(db_path: str, tmp_path: Path) -> None:
    result = runner.invoke(audit_app, ["export", "--log", db_path, "--since", "1h"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["seq"] for r in rows] == [1, 2, 3, 4]
    assert rows[1]["entry"]["step"]["approver"] == "ana"
    assert "exported 4 records" in result.stderr

    out = tmp_path / "run-x.jsonl"
    result = runner.invoke(
        audit_app, ["export", "--log", db_path, "--run", "run-x", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert [json.loads(line)["step_id"] for line in lines] == ["s1", "s2", "s3"]

    result = runner.invoke(audit_app, ["export", "--log", db_path, "--until", "2000-01-01"])
    assert result.exit_code == 0 and result.stdout == ""


def test_cli_export_rejects_a_bad_time(db_path: str) -> None:
    result = runner.invoke(audit_app, ["export", "--log", db_path, "--since", "yesterday"])
    assert result.exit_code == 2
    assert "--since 'yesterday'" in result.stderr


def test_parse_when() -> None:
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    assert parse_when("30m", now=now) == datetime(2026, 5, 1, 11, 30, tzinfo=UTC)
    assert parse_when("2d", now=now) == datetime(2026, 4, 29, 12, tzinfo=UTC)
    assert parse_when("2026-05-01T10:00:00Z") == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert parse_when("2026-05-01T10:00") == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert parse_when("2026-05-01T12:00+02:00") == datetime(2026, 5, 1, 10, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_when("soon")


def test_print_audit_shows_governance_fields(db_path: str) -> None:
    with open_audit_log(db_path) as audit:
        rows = audit.records_for("run-x")
    screen = Console(record=True, width=200)
    print_audit(screen, rows)
    text = screen.export_text()
    assert "audit trail (3 records)" in text
    assert "approval_decided" in text and "ana" in text and ARGS_HASH[:12] in text
