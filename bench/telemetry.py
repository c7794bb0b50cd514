"""What tracing and metrics cost a run: the same 3-turn run with telemetry off, then on.

    .venv/bin/python -m bench.telemetry [--runs 50]

The workload is bench.single_run's (customer support order lookup: 3 turns, a handoff, a local
activity tool) on the embedded, tuned dev server, one run at a time. "On" is what a production
worker does: spans batched and exported over OTLP/HTTP (protobuf) to a local receiver that
accepts and discards them, metrics served on a Prometheus port and scraped after every run, the
SDK's metrics drained into the same provider. OpenTelemetry's providers can be installed once
per process, so the phases run in order, off first, each after its own warm-up runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import threading
import time
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bench._otlp_sink import Sink
from bench._server import free_port
from duragent import App, RunRequest
from duragent._names import SEARCH_ATTRIBUTES
from duragent.audit import SQLiteAuditLog
from duragent.client import start_run
from duragent.settings import Settings
from duragent.workers import (
    TUNING,
    build_worker,
    connect,
    data_converter,
    start_telemetry,
    temporal_binary,
)

WARMUP = 5


async def _runs(
    client: Client, app: App, settings: Settings, n: int, *, scrape: int | None = None
) -> list[float]:
    walls: list[float] = []
    with SQLiteAuditLog(settings.home / f"audit-{scrape}.db") as audit:
        worker = build_worker(
            client, app, settings, audit_log=audit, task_queue=f"bench-{time.monotonic_ns()}"
        )
        async with worker:
            for i in range(n + WARMUP):
                started = time.perf_counter()
                handle = await start_run(
                    client,
                    RunRequest(agent="support", input="Where is my order 1001?"),
                    task_queue=worker.task_queue,
                )
                result = await handle.result()
                wall = (time.perf_counter() - started) * 1000
                assert result.status == "completed", result.error
                if scrape is not None:  # a Prometheus scrape per run, as a busy one would
                    await asyncio.to_thread(
                        lambda: urllib.request.urlopen(f"http://127.0.0.1:{scrape}/metrics").read()
                    )
                if i >= WARMUP:
                    walls.append(wall)
    return walls


async def main(runs: int, only: str | None) -> None:
    from duragent import logging as dlog

    dlog.configure(level="WARNING")
    home = Path(tempfile.mkdtemp())
    os.environ.setdefault("DURAGENT_EXAMPLE_DB", str(home / "support.db"))
    from duragent.examples.customer_support.app import app

    sink = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{sink.server_port}"
    extra = [arg for value in TUNING for arg in ("--dynamic-config-value", value)]
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=extra,
        data_converter=data_converter(home / "payloads"),
    )
    try:
        settings = Settings.from_env(
            {}, home=home, address=env.client.service_client.config.target_host
        )
        off = await _runs(env.client, app, settings, runs)

        port = free_port() if only != "traces" else None
        on_settings = Settings.from_env(
            {},
            home=home,
            address=settings.address,
            metrics_port=port,
            traces_exporter="none" if only == "metrics" else "otlp",
        )
        telemetry = start_telemetry(on_settings)
        await telemetry.start()
        traced = await connect(on_settings, telemetry)
        on = await _runs(traced, app, on_settings, runs, scrape=port)
        await telemetry.shutdown()
    finally:
        await env.shutdown()
        sink.shutdown()

    print(f"{runs} sequential 3-turn runs each (after {WARMUP} warm-up runs), tuned dev server")
    print("| telemetry | wall ms p50 | p90 | min | max |")
    print("|---|---|---|---|---|")
    label = {None: "OTLP spans + /metrics", "traces": "OTLP spans", "metrics": "/metrics"}[only]
    for name, walls in (("off", off), (f"on: {label}", on)):
        walls = sorted(walls)
        p90 = walls[max(int(len(walls) * 0.9) - 1, 0)]
        print(
            f"| {name} | {statistics.median(walls):.1f} | {p90:.1f} | {walls[0]:.1f} "
            f"| {walls[-1]:.1f} |"
        )
    ratio = statistics.median(on) / statistics.median(off)
    added = statistics.median(on) - statistics.median(off)
    print(
        f"overhead: {added:+.1f} ms per run at the median ({ratio:.2f}x); "
        f"{Sink.received / (runs + WARMUP) / 1024:.1f} KiB of OTLP per run"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--only", choices=["traces", "metrics"], help="turn on only one of them")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.only))
