"""Wall time and history size of one scripted agent run on the embedded dev server.

    .venv/bin/python -m bench.single_run [--runs 20] [--stock]

The workload is the customer-support example's order lookup: 3 turns (router, specialist with a
tool call, specialist answering), one handoff, one local-activity tool. Runs one at a time, so
the figure is latency, not throughput. ``--stock`` uses the dev server without the transfer-queue
tuning that ``duragent dev`` applies, to show what the tuning buys.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from duragent import RunRequest
from duragent.client import start_run
from duragent.workers import embedded


async def main(runs: int, stock: bool) -> None:
    os.environ.setdefault("DURAGENT_EXAMPLE_DB", str(Path(tempfile.mkdtemp()) / "support.db"))
    from duragent.examples.customer_support.app import app

    async with embedded(app, tuned=not stock) as (client, _worker):
        walls, events, sizes, turns = [], [], [], set()
        for i in range(runs + 2):  # two warm-up runs, not counted
            started = time.perf_counter()
            handle = await start_run(
                client, RunRequest(agent="support", input="Where is my order 1001?")
            )
            result = await handle.result()
            wall = (time.perf_counter() - started) * 1000
            if i < 2:
                continue
            history = await handle.fetch_history()
            walls.append(wall)
            events.append(len(history.events))
            sizes.append(sum(e.ByteSize() for e in history.events))
            turns.add(result.turns)
    walls.sort()
    server = "stock dev server" if stock else "tuned dev server (transferProcessorMaxPollRPS=10000)"
    print(f"{runs} sequential runs, {sorted(turns)} turns each, {server}")
    print("| wall ms p50 | p90 | min | max | history events | history bytes |")
    print("|---|---|---|---|---|---|")
    p90 = walls[max(int(len(walls) * 0.9) - 1, 0)]
    print(
        f"| {statistics.median(walls):.1f} | {p90:.1f} | {walls[0]:.1f} | {walls[-1]:.1f} "
        f"| {statistics.median(events):.0f} | {statistics.median(sizes):.0f} |"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--stock", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.stock))
