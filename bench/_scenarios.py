"""The scenarios ``python -m bench`` knows, and how the parent runs each one in a child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import _venv
from bench._measure import peak_rss_mb
from bench._server import BenchServer

ROOT = Path(__file__).resolve().parent.parent
PYCACHE = Path(__file__).resolve().parent / ".pycache"


@dataclass(frozen=True)
class Scenario:
    name: str
    module: str
    """The child module (``python -m``) that runs it."""
    temporal: bool
    agents_venv: bool = False
    """Runs with bench/.venv-openai-agents's Python instead of duragent's."""


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("a", "bench._native", temporal=False),
        Scenario("b", "bench._agents_sdk", temporal=False, agents_venv=True),
        Scenario("c", "bench._native", temporal=True),
        Scenario("d", "bench._native", temporal=True),
        Scenario("floor", "bench._native", temporal=True),
        Scenario("e", "bench._agents_sdk", temporal=True, agents_venv=True),
        Scenario("e-local", "bench._agents_sdk", temporal=True, agents_venv=True),
        Scenario("f", "bench._duragent", temporal=True),
        Scenario("f-auto", "bench._duragent", temporal=True),
        Scenario("f-fast", "bench._duragent", temporal=True),
    )
}
DEFAULT = ("a", "b", "c", "d", "floor", "e", "e-local", "f", "f-auto", "f-fast")
QUICK = ("a", "c", "d", "floor", "f", "f-fast")
"""``--quick``: the smoke CI runs. No (b)/(e): their virtualenv is an install, not seconds."""


@dataclass(frozen=True)
class RunOptions:
    turns: int
    runs: int
    warmup: int
    concurrency: list[int]
    tuned: bool
    model_ms: float = 0.0
    tool_ms: float = 0.0
    telemetry: bool = True
    """duragent's tracing and metrics on, as issue 7's targets are stated."""
    timeout_s: float = 1800.0
    user_bytes: int = 0
    say_bytes: int = 0
    tool_bytes: int = 0
    """Message sizes (bench._realistic's runs of realistic length); 0: the short workload."""
    model_url: str | None = None
    """The model over HTTP at this OpenAI-compatible server (bench.load), not the fake."""
    slots: int | None = None
    """The worker's activity and workflow-task slots; None: each system's default."""

    def flags(self) -> list[str]:
        """The child's flags for the options that have no default there."""
        sizes = {"--user-bytes": self.user_bytes, "--say-bytes": self.say_bytes}
        sizes["--tool-bytes"] = self.tool_bytes
        out = [f"{flag}={size}" for flag, size in sizes.items() if size]
        if self.model_url:
            out.append(f"--model-url={self.model_url}")
        if self.slots:
            out.append(f"--slots={self.slots}")
        if self.telemetry:
            out.append("--telemetry")
        return out


class ScenarioFailed(RuntimeError):
    """A scenario's child process failed; the message carries the end of its output."""


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    # The agents SDK would post its traces to OpenAI; off, as duragent's tracing is here.
    env["OPENAI_AGENTS_DISABLE_TRACING"] = "1"
    # Bytecode cached, as a deployed worker has it. The workflow sandbox imports the workflow's
    # modules afresh for every run: with PYTHONDONTWRITEBYTECODE=1 (set on the development
    # machines) and no current .pyc beside the sources, each run compiled them from source,
    # about 20 ms of worker CPU per duragent run. The cache lives under bench/, not the tree.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def run_scenario(scenario: Scenario, options: RunOptions) -> dict[str, Any]:
    """Run one scenario in a fresh child (and a fresh dev server if it uses Temporal)."""
    python = str(_venv.ensure()) if scenario.agents_venv else sys.executable
    server_cm = BenchServer(tuned=options.tuned) if scenario.temporal else nullcontext()
    with tempfile.TemporaryDirectory(prefix="bench-") as folder, server_cm as server:
        out = Path(folder) / "result.json"
        cmd = [
            python, "-m", scenario.module, scenario.name,
            "--turns", str(options.turns), "--runs", str(options.runs),
            "--warmup", str(options.warmup),
            "--concurrency", ",".join(str(c) for c in options.concurrency),
            "--model-ms", str(options.model_ms), "--tool-ms", str(options.tool_ms),
            "--out", str(out), *options.flags(),
        ]  # fmt: skip
        if server is not None:
            cmd += ["--address", server.address, "--server-pid", str(server.pid)]
        started, load_before = time.monotonic(), os.getloadavg()[0]
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=options.timeout_s,
        )
        if not out.exists():
            tail = (proc.stdout + proc.stderr)[-3000:]
            if server is not None:
                tail += "\n" + server.state()
            raise ScenarioFailed(f"scenario {scenario.name} exited {proc.returncode}:\n{tail}")
        result: dict[str, Any] = json.loads(out.read_text())
        if proc.returncode != 0:
            # The figures were written, so the measurement finished; the SDK's native threads
            # have been seen to abort the interpreter while it shuts down (PyGILState_Release).
            first = (proc.stderr.strip().splitlines() or ["no output"])[0]
            result["notes"].append(f"the process exited {proc.returncode} after writing: {first}")
        result["wall_s"] = round(time.monotonic() - started, 1)
        # Other work on the machine skews every figure: keep the 1-minute load with them.
        result["load_avg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        if server is not None:
            result["server"] = {
                "mode": server.label,
                "peak_rss_mb": round(peak_rss_mb(server.pid), 1),
            }
    return result
