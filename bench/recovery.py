"""How long a run takes to recover from a SIGKILLed worker.

    .venv/bin/python -m bench.recovery [--kills 20] [--seed N] [--explain]

The crash app of ``tests/crash`` (five turns, four tool calls, a mock model at ~0.1 s a call) on
a dev server of its own, one run at a time: each run's worker is killed with SIGKILL at a
seeded point spread over a normal run's time, and a new worker process is started at once.
Recovery is the extra time a kill costs: the killed run's wall time minus a normal run's.
Every run is checked as the test checks it: completed, every side effect exactly once.

Where the time goes (``--explain`` prints it per run, from each run's history): a call in
flight on the dead worker is retried after its heartbeat timeout (the app's ``heartbeat_s``,
2 s); the next workflow task then waits in the dead worker's sticky queue until the server
gives up on it (the Python SDK's ``sticky_queue_schedule_to_start_timeout``, 10 s by default,
which ``duragent.workers.build_worker`` leaves as is); a workflow task the dead worker had started waits
for the workflow task timeout (10 s by default; ``start_run`` does not set one). So a kill
costs about heartbeat_s + 10 s whatever it interrupts.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from pathlib import Path

from duragent.workers import DevServer
from tests.crash.test_kill_worker import (
    SEED,
    Harness,
    Landing,
    Lane,
    RecordingMock,
    Run,
    check_exactly_once,
    percentile,
    plain_run,
    run_input,
    spread,
    summary,
)
from tests.e2e.test_cli import free_port


async def main(kills: int, seed: int, explain: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        server = DevServer(home=Path(folder) / "temporal", port=free_port(), ui_port=free_port())
        await server.start()
        try:
            mock = RecordingMock()
            mock.start()
            try:
                await measure(Harness(server, mock, Path(folder)), kills, seed, explain)
            finally:
                mock.stop()
        finally:
            await asyncio.to_thread(server.stop)


async def measure(harness: Harness, kills: int, seed: int, explain: bool) -> None:
    try:
        client = await harness.client()
        lane = Lane(harness, client, 0)
        await lane.open(warmups=2)
        normal = [
            await plain_run(client, lane.task_queue, *run_input(0, 800 + i)) for i in range(5)
        ]
        lane.baseline_s = statistics.median(r.wall_s for r in normal)
        runs: list[Run] = []
        landings: list[Landing] = []
        with harness.audit_log() as audit:
            for i, fraction in enumerate(spread(kills, seed)):
                run = await lane.crash_run(i, fraction)
                runs.append(run)
                landings.append(check_exactly_once(run, harness, audit))
                if explain:
                    print(
                        f"kill {i + 1:2d} at {run.delay_s:.2f} s ({landings[-1]}): run took "
                        f"{run.wall_s:5.2f} s; waited for {', '.join(run.waits) or 'nothing'}"
                    )
    finally:
        harness.stop_workers()
    print(summary(runs, landings, lane.baseline_s))
    for landing in ("tool", "model", "elsewhere", "after"):
        extra = [
            r.wall_s - lane.baseline_s for r, w in zip(runs, landings, strict=True) if w == landing
        ]
        if extra:
            print(
                f"  kill {landing:9s} n={len(extra):2d}  recovery median "
                f"{statistics.median(extra):5.2f} s  p90 {percentile(extra, 90):5.2f} s"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="crash runs (default 20)")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of the kill points")
    parser.add_argument("--explain", action="store_true", help="print each run's waits")
    args = parser.parse_args()
    asyncio.run(main(args.kills, args.seed, args.explain))
