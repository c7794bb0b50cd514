"""Startup latency of a sandbox job, per backend: what isolation costs before any work starts.

    .venv/bin/python -m bench.sandbox_startup [--runs 100] [--backend bwrap ...]

Each backend that runs here gets ``runs`` trivial jobs one at a time, after 3 warm-up jobs, of
two kinds: Python (``pass``, on the worker's interpreter) and a command (``true``). The figures
are the backend's own: ``startup_ms`` from asking for a sandbox to the job's first instruction
(it touches a marker file), ``run_ms`` from there to the job's end; ``wall`` is ``run()`` as a
worker sees it, work directory, artifact collection and cleanup included. Percentiles are
nearest-rank. A backend that cannot run here, or refuses a kind of job, is listed with why.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time

from duragent._sandbox import SandboxJob, SandboxPolicy
from duragent.activities.sandbox import BACKENDS, SandboxUnavailable
from duragent.report import percentile

JOBS = {"python": SandboxJob(python="pass"), "command": SandboxJob(command=["true"])}
WARM_UP = 3


async def measure(name: str, kind: str, runs: int) -> str:
    backend = BACKENDS[name]()
    why = backend.available()
    if why is not None:
        return f"| {name} | {kind} | unavailable: {why} | | | | |"
    job, policy = JOBS[kind], SandboxPolicy(wall_s=30)
    startup, run, wall = [], [], []
    for i in range(runs + WARM_UP):
        started = time.perf_counter()
        try:
            result = await backend.run(job, policy)
        except SandboxUnavailable as refused:
            return f"| {name} | {kind} | refused: {refused} | | | | |"
        took = (time.perf_counter() - started) * 1000
        if not result.ok:
            raise SystemExit(f"{name} {kind} job failed: {result.stderr or result.violation}")
        if i >= WARM_UP:
            startup.append(result.startup_ms)
            run.append(result.run_ms)
            wall.append(took)
    return (
        f"| {name} | {kind} | {statistics.median(startup):.1f} | {percentile(startup, 99):.1f} "
        f"| {statistics.median(run):.1f} | {statistics.median(wall):.1f} "
        f"| {percentile(wall, 99):.1f} |"
    )


async def main(runs: int, backends: list[str]) -> None:
    who = "root: a uid per job" if os.geteuid() == 0 else "not root: the worker's uid"
    load = os.getloadavg()[0]  # the machine may be shared: a figure under load is another one
    print(f"{runs} sequential jobs per row; {platform.node()}, {os.cpu_count()} CPUs, {who}")
    print("| backend | job | startup ms p50 | startup p99 | run ms p50 | wall ms p50 | wall p99 |")
    print("|---|---|---|---|---|---|---|")
    for name in backends:
        for kind in JOBS:
            print(await measure(name, kind, runs), flush=True)
    print(f"1-minute load average: {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--backend", action="append", choices=sorted(BACKENDS))
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.backend or ["bwrap", "subprocess", "docker"]))
