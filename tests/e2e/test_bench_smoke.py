"""The benchmark in miniature, so it never rots: `python -m bench --quick` runs every scenario
that needs no extra install, and writes figures that make sense."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_quick_bench_runs_and_writes_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "quick.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "| (f) duragent AgentRun" in done.stdout  # the table was printed

    report = json.loads(out.read_text())
    assert report["failures"] in ({}, [], None), report["failures"]
    scenarios = report["scenarios"]
    assert {"a", "c", "f", "f-fast"} <= set(scenarios)
    duragent = scenarios["f"]
    assert duragent["history"]["events"] > 0 and duragent["history"]["bytes"] > 0
    for phase in duragent["phases"]:
        assert phase["runs"] > 0 and phase["runs_per_s"] > 0
        assert 0 < phase["p50_ms"] <= phase["p99_ms"]
        assert phase["worker_cpu_ms_per_run"] > 0

    # Where the time goes: the phases of (f)'s runs, from history event times, add up to the run.
    timeline = duragent["history"]["timeline_ms"]
    assert timeline["activity model.call"] > 0 and timeline["activity tool.call"] > 0
    assert timeline["first_task"] > 0 and timeline["last_task"] > 0
    parts = sum(v for k, v in timeline.items() if k != "run")
    assert abs(parts - timeline["run"]) <= 0.05 * timeline["run"] + 0.1, timeline
    assert "Where a run's time goes" in done.stdout


def test_the_paused_curve_measures_a_few_paused_runs(tmp_path: Path) -> None:
    """The paused-on-approval curve end to end at a tiny N: runs pause, the worker and server
    are measured, a sample is resumed and every resumed run finishes."""
    out = tmp_path / "paused.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--scenarios", "none", "--curves", "paused",
         "--paused-n", "12", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "paused" in done.stdout.lower()

    (point,) = json.loads(out.read_text())["curves"]["paused"]["points"]
    assert point["status"] == "measured", point
    assert point["n"] == 12 and point["paused"] == 12
    assert point["worker_rss_mb"] > 0 and point["server_rss_mb"] > 0
    assert point["resumed"], "no run was resumed"
    for group in point["resumed"]:
        assert group["runs"] > 0
        assert 0 < group["resume_p50_ms"] <= group["resume_p99_ms"]


def test_the_load_bench_serves_the_model_over_http(tmp_path: Path) -> None:
    """bench.load in miniature, duragent only: the model answers over HTTP from the mock in its
    own process, runs finish, and the figures the issue asks for are there."""
    out = tmp_path / "load.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.load", "--in-flight", "3", "--runs", "3", "--turns", "2",
         "--systems", "f", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (point,) = json.loads(out.read_text())["points"]
    # Two model calls of at least the mock's 300 ms to first token, and one 50 ms tool call.
    assert point["model_tool_ms"] >= 650, point
    assert point["runs"] == 3 and point["runs_per_s"] > 0
    assert point["worker_cpu_ms"] > 0 and point["worker_peak_rss_mb"] > 0
    assert point["connections"]["requests"] >= 3 * 2  # every model call reached the mock
    assert point["waits"]["sampled_runs"] == 3
    assert "| (f) |" in done.stdout
