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
