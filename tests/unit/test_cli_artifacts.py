"""Saving a run's artifacts: under the run's folder, whatever names the sandbox job chose."""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from duragent import Artifact, RunResult, StepRecord, Usage
from duragent._messages import LatencyBreakdown, SandboxRecord
from duragent.cli._render import print_artifacts, step_line
from duragent.cli._runs import save_artifacts

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def artifact(name: str, content: bytes | None = b"data") -> Artifact:
    data = content or b""
    return Artifact(
        name=name,
        size=len(data) if content is not None else 9_000_000,
        sha256=hashlib.sha256(data).hexdigest() if content is not None else "",
        media_type="image/png",
        data_b64=base64.b64encode(data).decode() if content is not None else None,
    )


def step(step_id: str, *artifacts: Artifact) -> StepRecord:
    return StepRecord(
        step_id=step_id,
        kind="tool",
        agent="visualization",
        turn=1,
        at=T0,
        tool="plot",
        artifacts=list(artifacts),
    )


def result(*steps: StepRecord, workflow_id: str = "run-analyst-0123456789") -> RunResult:
    return RunResult(
        run_id="r",
        workflow_id=workflow_id,
        status="completed",
        agent="visualization",
        agent_path=["analyst", "visualization"],
        turns=1,
        steps=list(steps),
        usage=Usage(),
        cost_usd=0.0,
        latency=LatencyBreakdown(),
    )


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_artifacts_are_saved_under_the_run_folder_by_name(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n rest"
    saved = save_artifacts(result(step("s3", artifact("out/chart.png", png))), tmp_path)

    target = tmp_path / "run-analyst-0123456789" / "out" / "chart.png"
    assert [(s.name, s.path) for s in saved] == [("out/chart.png", target)]
    assert target.read_bytes() == png


@pytest.mark.parametrize(
    ("name", "saved_as"),
    [
        ("../../../../etc/passwd", "etc/passwd"),
        ("/etc/cron.d/job", "etc/cron.d/job"),
        ("out/../../escape.png", "out/escape.png"),
        ("out/..\\..\\win.png", "out/win.png"),
        ("out/we ird;$(rm -rf ~).png", "out/we_ird_rm_-rf_.png"),
        ("..", "artifact"),
    ],
)
def test_names_cannot_leave_the_run_folder(tmp_path: Path, name: str, saved_as: str) -> None:
    folder = tmp_path / "artifacts"
    (saved,) = save_artifacts(result(step("s3", artifact(name))), folder)

    assert saved.path == folder / "run-analyst-0123456789" / saved_as
    assert files_under(tmp_path) == {f"artifacts/run-analyst-0123456789/{saved_as}"}


def test_a_hostile_workflow_id_stays_inside_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "artifacts"
    save_artifacts(result(step("s3", artifact("a.png")), workflow_id="../../x"), folder)
    assert files_under(tmp_path) == {"artifacts/x/a.png"}


def test_a_repeated_name_is_kept_under_its_step(tmp_path: Path) -> None:
    run = result(
        step("s4", artifact("out/chart.png", b"first")),
        step("s9", artifact("out/chart.png", b"second")),
    )
    saved = save_artifacts(run, tmp_path)

    base = tmp_path / "run-analyst-0123456789"
    assert [s.path for s in saved] == [base / "out/chart.png", base / "s9/out/chart.png"]
    assert [p.read_bytes() for p in (base / "out/chart.png", base / "s9/out/chart.png")] == [
        b"first",
        b"second",
    ]


def test_an_artifact_without_content_is_listed_not_written(tmp_path: Path) -> None:
    (saved,) = save_artifacts(result(step("s3", artifact("out/huge.png", None))), tmp_path)
    assert saved.path is None and saved.size == 9_000_000
    assert files_under(tmp_path) == set()

    out = io.StringIO()
    print_artifacts(Console(file=out, width=60), [saved])
    assert "not saved out/huge.png (9,000,000 bytes)" in out.getvalue()
    assert "artifact_bytes" in out.getvalue()


def test_saved_paths_print_on_one_line_however_narrow_the_terminal(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 80)
    (saved,) = save_artifacts(result(step("s3", artifact("out/chart.png"))), deep)
    out = io.StringIO()
    print_artifacts(Console(file=out, width=40), [saved])
    assert f"saved out/chart.png (4 bytes) to {saved.path}\n" == out.getvalue()


def test_a_sandbox_step_line_shows_backend_and_files_not_the_whole_code() -> None:
    record = step("s3", artifact("out/chart.png")).model_copy(
        update={
            "arguments": {"code": "import matplotlib\n" * 200, "data": "{}"},
            "output": '{"exit_code": 0}',
            "sandbox": SandboxRecord(
                backend="bwrap", isolation="strong", exit_code=0, startup_ms=20, run_ms=640
            ),
        }
    )
    line = step_line(record)
    assert len(line) < 400
    assert "bwrap, strong isolation, 640 ms" in line and "files: out/chart.png" in line
