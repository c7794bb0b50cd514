"""`duragent audit verify` / `audit export` find the log where the workers write it.

Workers write the audit log to ``$DURAGENT_HOME/audit.db`` (unless ``DURAGENT_AUDIT_LOG`` says
otherwise). The audit commands used to read only ``DURAGENT_AUDIT_LOG``, else
``.duragent/audit.db`` under the current directory: from any other directory they failed, and
from a directory holding an old log they silently vouched for the wrong one.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from duragent._messages import StepRecord
from duragent.audit import AuditEntry, open_audit_log
from tests.e2e.test_cli import DURAGENT, env_for


def _write_log(path: Path, workflow_id: str, steps: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = [
        AuditEntry(
            workflow_id=workflow_id,
            run_id="r1",
            agent="support",
            tenant="acme",
            user="u-1",
            step=StepRecord(
                step_id=f"s{i}",
                kind="tool",
                agent="support",
                turn=1,
                at=datetime(2026, 1, 2, tzinfo=UTC),
                tool="lookup_order",
            ),
            spec_hash="5" * 64,
        )
        for i in range(1, steps + 1)
    ]
    with open_audit_log(path) as log:
        log.append(entries)


def _duragent(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DURAGENT, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def _env(tmp_path: Path) -> dict[str, str]:
    env = env_for(tmp_path)  # DURAGENT_HOME = tmp_path/home
    env.pop("DURAGENT_AUDIT_LOG", None)
    _write_log(Path(env["DURAGENT_HOME"]) / "audit.db", "run-support-home", 3)
    return env


def test_audit_commands_read_the_log_under_duragent_home_from_another_directory(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    verified = _duragent(elsewhere, env, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "ok: 3 records, chain intact" in verified.stdout

    exported = _duragent(elsewhere, env, "audit", "export")
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [r["workflow_id"] for r in rows] == ["run-support-home"] * 3


def test_audit_commands_ignore_an_old_log_in_the_current_directory(tmp_path: Path) -> None:
    env = _env(tmp_path)
    project = tmp_path / "project"
    _write_log(project / ".duragent" / "audit.db", "run-support-decoy", 1)

    verified = _duragent(project, env, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "ok: 3 records" in verified.stdout, "verified the decoy in the current directory"

    exported = _duragent(project, env, "audit", "export", "--run", "run-support-home")
    assert len(exported.stdout.splitlines()) == 3, exported.stderr
    decoy = _duragent(project, env, "audit", "export", "--run", "run-support-decoy")
    assert decoy.returncode == 0 and decoy.stdout == ""

    # An explicit DURAGENT_AUDIT_LOG still wins over the home folder.
    env["DURAGENT_AUDIT_LOG"] = str(project / ".duragent" / "audit.db")
    assert "ok: 1 records" in _duragent(project, env, "audit", "verify").stdout
