"""Measuring one scenario: latency, throughput and CPU at a given concurrency.

Standard library only: the OpenAI Agents scenarios import it from their own virtualenv
(bench/.venv-openai-agents), where duragent is not installed.

Figures, per phase (one concurrency level):
- latency: client-side wall time of one run, start to result;
- runs/s: runs finished over the phase's wall time;
- worker CPU: this process's user + system time (every thread: the SDK's Rust core included;
  the client starting the runs lives here too) over the phase, per run;
- server CPU: the dev server process's user + system time from /proc/<pid>/stat, per run;
- work: time spent inside the fake model and tool, so that what remains of a run's latency is
  orchestration (dispatch, history, serialization, the framework's own Python).
"""

from __future__ import annotations

import asyncio
import math
import os
import resource
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

_TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class WorkClock:
    """Seconds spent inside the fake model and tool; given to whatever calls them."""

    seconds: float = 0.0
    model_calls: int = 0
    tool_calls: int = 0

    def add(self, seconds: float, *, tool: bool) -> None:
        self.seconds += seconds
        if tool:
            self.tool_calls += 1
        else:
            self.model_calls += 1


@dataclass
class Phase:
    """One concurrency level's figures."""

    concurrency: int
    runs: int
    elapsed_s: float
    runs_per_s: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    worker_cpu_ms_per_run: float
    server_cpu_ms_per_run: float | None
    work_ms_per_run: float
    overhead_ms_per_turn: float
    """(p50 latency - model and tool time per run) / turns."""


@dataclass
class ScenarioResult:
    """Everything one scenario measured, as the child process reports it."""

    scenario: str
    label: str
    turns: int
    phases: list[Phase] = field(default_factory=list)
    history: dict[str, int] | None = None
    """events, bytes and workflow_tasks of one sample run; None without Temporal."""
    worker_peak_rss_mb: float = 0.0
    notes: list[str] = field(default_factory=list)
    load: dict[str, Any] | None = None
    """With the model over HTTP (bench.load): dispatch delays of a sample of the last phase's
    runs, from their histories; None otherwise."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(math.ceil(q / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def process_cpu_s() -> float:
    """This process's CPU time, user + system, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pid_cpu_s(pid: int) -> float:
    """Another process's CPU time, user + system, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        # The command name (field 2) may hold spaces; fields after its closing parenthesis.
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def peak_rss_mb(pid: int | str = "self") -> float:
    """Peak resident set size (VmHWM) of a process, in MB."""
    return _status_mb(pid, "VmHWM")


def rss_mb(pid: int | str = "self") -> float:
    """Resident set size (VmRSS) of a process now, in MB."""
    return round(_status_mb(pid, "VmRSS"), 1)


def _status_mb(pid: int | str, field: str) -> float:
    """A kB field of ``/proc/<pid>/status``, in MB; 0 when the kernel does not report it."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def phase(
    run_one: Callable[[int], Awaitable[None]],
    *,
    runs: int,
    concurrency: int,
    turns: int,
    clock: WorkClock,
    server_pid: int | None,
) -> Phase:
    """``runs`` runs with ``concurrency`` in flight at any time; figures over the whole phase."""
    latencies: list[float] = []
    next_run = iter(range(runs))

    async def lane() -> None:
        for index in next_run:  # the lanes share one iterator: each run is taken once
            started = time.perf_counter()
            await run_one(index)
            latencies.append(time.perf_counter() - started)

    cpu0, work0 = process_cpu_s(), clock.seconds
    server0 = pid_cpu_s(server_pid) if server_pid else 0.0
    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(min(concurrency, runs))))
    elapsed = time.perf_counter() - started
    cpu = process_cpu_s() - cpu0
    server = pid_cpu_s(server_pid) - server0 if server_pid else None
    work_ms = (clock.seconds - work0) * 1000 / runs
    p50 = percentile(latencies, 50) * 1000
    return Phase(
        concurrency=concurrency,
        runs=runs,
        elapsed_s=round(elapsed, 3),
        runs_per_s=round(runs / elapsed, 3),
        p50_ms=round(p50, 3),
        p99_ms=round(percentile(latencies, 99) * 1000, 3),
        mean_ms=round(statistics.fmean(latencies) * 1000, 3),
        worker_cpu_ms_per_run=round(cpu * 1000 / runs, 3),
        server_cpu_ms_per_run=round(server * 1000 / runs, 3) if server is not None else None,
        work_ms_per_run=round(work_ms, 3),
        overhead_ms_per_turn=round((p50 - work_ms) / turns, 3),
    )


async def measure(
    result: ScenarioResult,
    run_one: Callable[[int], Awaitable[None]],
    *,
    runs: int,
    warmup: int,
    concurrency: list[int],
    clock: WorkClock,
    server_pid: int | None,
) -> None:
    """Each concurrency level in turn, after warm-up runs at that level (not counted)."""
    for level in concurrency:
        if warmup:
            await phase(
                run_one,
                runs=max(warmup, level),
                concurrency=level,
                turns=result.turns,
                clock=clock,
                server_pid=None,
            )
        result.phases.append(
            await phase(
                run_one,
                runs=runs,
                concurrency=level,
                turns=result.turns,
                clock=clock,
                server_pid=server_pid,
            )
        )
    result.worker_peak_rss_mb = round(peak_rss_mb(), 1)
