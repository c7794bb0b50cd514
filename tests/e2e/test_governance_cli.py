"""Governance as a user drives it: a run waits, `duragent approvals` lists it, a human approves
it (with the stock `temporal workflow signal` command, or `duragent approve`), the audit log
shows who and when, and `duragent audit verify` vouches for the chain."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_cli import BIN, DURAGENT, ROOT, env_for, free_port, stop, wait_for

APP = "tests.integration.governance_app:make_app"


class Stack:
    def __init__(self, tmp_path: Path) -> None:
        self.port, self.ui_port = free_port(), free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.audit = tmp_path / "audit.db"
        self.env = {
            **env_for(tmp_path),
            "GOVERNANCE_TEST_DB": str(tmp_path / "ledger.db"),
            "DURAGENT_AUDIT_LOG": str(self.audit),
        }

    def duragent(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [DURAGENT, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start_run(self, text: str) -> str:
        done = self.duragent("run", "billing", text, "--address", self.address)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()[1]  # "started run-billing-…"

    def pending_step(self, workflow_id: str) -> str:
        """Wait until `duragent approvals` lists the run (visibility is eventually consistent)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            listed = self.duragent("approvals", "--json", "--address", self.address)
            assert listed.returncode == 0, listed.stderr
            for line in listed.stdout.splitlines():
                row = json.loads(line)
                if row["workflow_id"] == workflow_id:
                    return str(row["step_id"])
            time.sleep(0.3)
        raise AssertionError(f"{workflow_id} never showed up in `duragent approvals`")

    def result(self, workflow_id: str) -> dict[str, object]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            shown = self.duragent("show", workflow_id, "--json", "--address", self.address)
            if shown.returncode == 0 and shown.stdout.lstrip().startswith("{"):
                return dict(json.loads(shown.stdout))
            time.sleep(0.3)
        raise AssertionError(f"{workflow_id} did not finish")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    log = (tmp_path / "dev.log").open("w")
    process = subprocess.Popen(
        [DURAGENT, "dev", "--app", APP, "--port", str(s.port), "--ui-port", str(s.ui_port)],
        cwd=ROOT, env=s.env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: "worker serving" in (tmp_path / "dev.log").read_text(), 60, "duragent dev")
        yield s
    finally:
        stop(process)
        log.close()


def test_stock_temporal_signal_approves_and_the_audit_shows_who(stack: Stack) -> None:
    workflow_id = stack.start_run("refund 7 of 250")
    step = stack.pending_step(workflow_id)
    listed = stack.duragent("approvals", "--address", stack.address)
    assert f"duragent approve {workflow_id} {step} --by NAME" in listed.stdout
    decision = json.dumps({"step_id": step, "approver": "alice", "reason": "customer is right"})
    signalled = subprocess.run(
        [str(BIN / "temporal"), "workflow", "signal", "--workflow-id", workflow_id,
         "--name", "approve", "--input", decision, "--address", stack.address],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert signalled.returncode == 0, signalled.stderr
    result = stack.result(workflow_id)
    assert result["status"] == "completed" and result["output"] == "Refunded 250 on order 7."

    audit = stack.duragent("show", workflow_id, "--audit")
    assert audit.returncode == 0, audit.stderr
    assert "approval_decided" in audit.stdout and "alice" in audit.stdout
    assert "customer is right" in audit.stdout
    rows = [
        json.loads(line)
        for line in stack.duragent("audit", "export", "--run", workflow_id).stdout.splitlines()
    ]
    decided = next(r for r in rows if r["entry"]["step"]["kind"] == "approval_decided")
    assert decided["entry"]["step"]["approver"] == "alice" and decided["entry"]["step"]["at"]
    assert all(r["entry"]["spec_hash"] for r in rows)
    assert decided["entry"]["step"]["args_hash"]

    verified = stack.duragent("audit", "verify")
    assert verified.returncode == 0 and "chain intact" in verified.stdout
    with sqlite3.connect(stack.audit) as db:
        db.execute("DROP TRIGGER IF EXISTS duragent_audit_no_update")
        db.execute(
            "UPDATE duragent_audit SET entry_json = replace(entry_json, 'alice', 'mallory') "
            "WHERE entry_json LIKE '%approval_decided%'"
        )
    db.close()
    tampered = stack.duragent("audit", "verify")
    assert tampered.returncode == 1 and "modified" in (tampered.stdout + tampered.stderr)


def test_duragent_approve_reject_and_refusals(stack: Stack) -> None:
    approved_run = stack.start_run("refund 8 of 300")
    step = stack.pending_step(approved_run)
    refused = stack.duragent(
        "approve", approved_run, step, "--by", "bob", "--address", stack.address
    )
    assert refused.returncode == 2 and "'bob' may not decide" in refused.stderr
    ok = stack.duragent(
        "approve",
        approved_run,
        step,
        "--by",
        "carol",
        "--reason",
        "lead ok",
        "--address",
        stack.address,
    )
    assert ok.returncode == 0 and f"approve {approved_run} step {step} by carol" in ok.stdout
    again = stack.duragent(
        "approve", approved_run, step, "--by", "carol", "--address", stack.address
    )
    assert (
        "approve" in again.stdout
        or "already decided" in again.stderr
        or "no running run" in again.stderr
    )
    assert stack.result(approved_run)["output"] == "Refunded 300 on order 8."

    rejected_run = stack.start_run("refund 9 of 400")
    step = stack.pending_step(rejected_run)
    no = stack.duragent(
        "reject",
        rejected_run,
        step,
        "--by",
        "alice",
        "--reason",
        "looks like fraud",
        "--address",
        stack.address,
    )
    assert no.returncode == 0, no.stderr
    assert stack.result(rejected_run)["output"] == "The refund was not approved."

    bad = stack.duragent(
        "approve", "run-billing-0000000000", "s1", "--by", "alice", "--address", stack.address
    )
    assert bad.returncode == 2 and "no running run" in bad.stderr
    bad_args = stack.duragent("approve", approved_run, "s1", "--by", "alice", "--args", "[1]")
    assert bad_args.returncode == 2 and "JSON object" in bad_args.stderr
