"""N runs paused on approval: the children of ``python -m bench --curves paused``.

Issue 7's second scaling curve. For each N the parent (``bench._curves.paused_runs``) starts a
fresh dev server and two processes on it, so that each RSS figure is one process's own:

    worker  duragent's worker as deployed (``build_worker`` with its default cache of runs,
            tracing and metrics on as in scenario (f)), and nothing else;
    drive   the client: starts N runs of an agent whose one tool call a rule sends to approval
            (timeout a day, so none times out), at most ``IN_FLIGHT`` started but not yet
            paused; once all N wait, reads the worker's and the server's RSS and the SDK's
            sticky-cache metrics from the worker's /metrics; then decides a sample through the
            ``decide`` update, one at a time, and times each from the decision sent to the
            run's result (the tool runs, the model answers, the run completes).

Whether a resumed run was still cached or had been evicted (and is replayed from its history
on resume) is read from the SDK's ``sticky_cache_miss`` counter around each group of the
sample: the newest runs (cached if any are) and the oldest (the first evicted when N exceeds
the cache). Starting stops at the time budget; the point then says how many runs it reached.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import signal
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from temporalio.client import Client, WorkflowHandle

from bench._measure import peak_rss_mb, percentile, pid_cpu_s, rss_mb
from bench.approvals import refund_agent
from duragent import App, RunRequest, RunResult, tool
from duragent._approvals import ApprovalDecision, ApprovalOutcome, ApprovalRequest
from duragent._names import QUERY_PENDING, SA_PENDING, UPDATE_DECIDE
from duragent.activities.models import ScriptedProvider
from duragent.audit import SQLiteAuditLog
from duragent.client import start_run
from duragent.settings import Settings
from duragent.workers import build_worker, connect

AGENT = "paused"
IN_FLIGHT = 32
"""Runs started but not yet paused, at most, while starting."""


@tool(risk="write", timeout=10, execution="activity")
def refund_order(order_id: str, amount: int) -> str:
    """Refund an order."""
    return f"refunded {amount} on order {order_id}"


def make_app() -> App:
    """One model call asking for a refund a rule sends to a lead; after the decision, the tool
    and a second model call that answers."""
    agent = refund_agent(AGENT, "scripted/paused", timeout="1d")
    return App(agents=[agent], tools=[refund_order], approvers={"lee": ["lead"]})


# -- the worker ---------------------------------------------------------------------------------


async def serve(address: str, queue: str, ready: Path) -> None:
    """Run the worker until SIGTERM; write its metrics port and cache size to ``ready``.

    SIGUSR1 runs a full garbage collection: the driver reads RSS before and after, to tell the
    memory paused runs hold from garbage (evicted runs' cycles) the collector has not reached."""
    from bench._duragent import telemetry_on
    from duragent import logging as dlog

    dlog.configure(level="WARNING")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, gc.collect)
    with TemporaryDirectory(prefix="bench-paused-") as folder:
        home = Path(folder)
        async with telemetry_on(home) as (settings, telemetry):
            settings = replace(settings, address=address)
            client = await connect(settings, telemetry)
            with SQLiteAuditLog(home / "audit.db") as audit:
                worker = build_worker(
                    client,
                    make_app(),
                    settings,
                    audit_log=audit,
                    providers={"scripted": ScriptedProvider()},
                    task_queue=queue,
                )
                async with worker:
                    facts = {
                        "metrics_port": settings.metrics_port,
                        "max_cached_workflows": worker.config()["max_cached_workflows"],
                    }
                    await asyncio.to_thread(_announce, ready, facts)
                    await stop.wait()


def _announce(ready: Path, facts: dict[str, Any]) -> None:
    """Write ``facts`` to ``ready`` whole: the parent polls for the file and reads it at once."""
    partial = ready.with_suffix(".partial")
    partial.write_text(json.dumps(facts))
    partial.replace(ready)


# -- the driver ---------------------------------------------------------------------------------


def sticky_metrics(port: int) -> dict[str, float]:
    """The SDK's sticky-cache series on the worker's /metrics, summed over their labels;
    empty if the page cannot be read."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
            text = page.read().decode()
    except OSError:
        return {}
    found: dict[str, float] = {}
    for match in re.finditer(r"^(\w*sticky_cache\w*)(?:\{[^}]*\})? (\S+)$", text, re.M):
        found[match[1]] = found.get(match[1], 0.0) + float(match[2])
    return found


def _series(metrics: dict[str, float], part: str, *, counter: bool = True) -> float | None:
    """The series whose name holds ``part``; None when the worker's metrics were not reachable
    or, for a gauge, not reported. A counter appears at its first increment: until then, 0."""
    found = next((v for k, v in metrics.items() if part in k and not k.endswith("_created")), None)
    return 0.0 if found is None and counter and metrics else found


async def settled_metrics(port: int, seconds: float = 2.5) -> dict[str, float]:
    """Metrics once the SDK's buffer has been drained into the exporter (about every second)."""
    await asyncio.sleep(seconds)
    return sticky_metrics(port)


class Pauser:
    """Starts runs, at most ``IN_FLIGHT`` not yet paused, and counts the paused ones."""

    def __init__(self, client: Client, queue: str) -> None:
        self.client, self.queue = client, queue
        self.handles: list[WorkflowHandle[Any, RunResult]] = []
        self.paused = 0
        self._query = (
            f"TaskQueue = '{queue}' AND {SA_PENDING.name} > 0 AND ExecutionStatus = 'Running'"
        )

    async def count(self) -> int:
        self.paused = (await self.client.count_workflows(self._query)).count
        return self.paused

    async def start(self, n: int, budget_s: float) -> bool:
        """Start up to ``n`` runs; False if the budget ran out first."""
        deadline = time.monotonic() + budget_s
        last_count = 0.0
        while len(self.handles) < n:
            if time.monotonic() > deadline:
                return False
            if len(self.handles) - self.paused >= IN_FLIGHT:
                if time.monotonic() - last_count < 0.1:
                    await asyncio.sleep(0.1)
                await self.count()
                last_count = time.monotonic()
                continue
            request = RunRequest(agent=AGENT, input="refund order 7")
            self.handles.append(await start_run(self.client, request, task_queue=self.queue))
        return True

    async def all_paused(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while await self.count() < len(self.handles):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"only {self.paused} of {len(self.handles)} runs paused in {timeout_s:.0f} s"
                )
            await asyncio.sleep(0.2)


async def resume(handle: WorkflowHandle[Any, RunResult], step_id: str) -> dict[str, float]:
    """Approve the run's pending step; milliseconds to the decision's outcome and the result."""
    decision = ApprovalDecision(step_id=step_id, approver="lee", reason="bench")
    sent = time.perf_counter()
    outcome = await handle.execute_update(
        UPDATE_DECIDE, decision, id=decision.approval_id, result_type=ApprovalOutcome
    )
    decided = time.perf_counter()
    result = await handle.result()
    done = time.perf_counter()
    assert outcome.accepted, outcome.reason
    assert result.status == "completed", result.error
    return {"decided_ms": (decided - sent) * 1000, "result_ms": (done - sent) * 1000}


async def resume_group(
    name: str, handles: list[WorkflowHandle[Any, RunResult]], step_id: str, port: int
) -> dict[str, Any]:
    """Resume ``handles`` one at a time; the cache misses they caused tell whether they were
    still cached."""
    before = await settled_metrics(port, 0)
    timings = [await resume(h, step_id) for h in handles]
    after = await settled_metrics(port)

    def delta(part: str) -> int | None:
        a, b = _series(after, part), _series(before, part)
        return None if a is None or b is None else int(a - b)

    result_ms = [t["result_ms"] for t in timings]
    decided_ms = [t["decided_ms"] for t in timings]
    return {
        "group": name,
        "runs": len(handles),
        "cache_misses": delta("cache_miss"),
        "cache_hits": delta("cache_hit"),
        "resume_p50_ms": round(percentile(result_ms, 50), 1),
        "resume_p99_ms": round(percentile(result_ms, 99), 1),
        "resume_max_ms": round(max(result_ms), 1),
        "decided_p50_ms": round(percentile(decided_ms, 50), 1),
        "decided_p99_ms": round(percentile(decided_ms, 99), 1),
    }


async def drive(ns: argparse.Namespace) -> dict[str, Any]:
    from duragent import logging as dlog

    dlog.configure(level="WARNING")
    with TemporaryDirectory(prefix="bench-paused-drive-") as folder:
        settings = Settings.from_env({}, home=Path(folder), address=ns.address)
        client = await connect(settings)
        point: dict[str, Any] = {
            "n": ns.n,
            "max_cached_workflows": ns.cache,
            "worker_rss_mb_idle": rss_mb(ns.worker_pid),
            "server_rss_mb_idle": rss_mb(ns.server_pid),
        }
        pauser = Pauser(client, ns.queue)
        cpu0 = pid_cpu_s(ns.worker_pid), pid_cpu_s(ns.server_pid)
        started = time.perf_counter()
        complete = await pauser.start(ns.n, ns.budget_s)
        await pauser.all_paused(timeout_s=120)
        elapsed = time.perf_counter() - started
        reached = len(pauser.handles)
        point.update(
            paused=reached,
            capped=not complete,
            start_s=round(elapsed, 1),
            paused_per_s=round(reached / elapsed, 1),
            worker_cpu_ms_per_run=round((pid_cpu_s(ns.worker_pid) - cpu0[0]) * 1000 / reached, 1),
            server_cpu_ms_per_run=round((pid_cpu_s(ns.server_pid) - cpu0[1]) * 1000 / reached, 1),
        )
        metrics = await settled_metrics(ns.metrics_port)
        point.update(
            worker_rss_mb=rss_mb(ns.worker_pid),
            worker_peak_rss_mb=round(peak_rss_mb(ns.worker_pid), 1),
            server_rss_mb=rss_mb(ns.server_pid),
            cached=_series(metrics, "cache_size", counter=False),
            forced_evictions=_series(metrics, "forced_eviction"),
            sticky_metrics=metrics,
        )
        os.kill(ns.worker_pid, signal.SIGUSR1)
        await asyncio.sleep(2)
        point["worker_rss_mb_after_gc"] = rss_mb(ns.worker_pid)
        # Every run asks the same thing at the same step: learn its id from the newest run
        # (cached, so the query replays nothing) rather than querying runs the cache evicted.
        pending = await pauser.handles[-1].query(QUERY_PENDING, result_type=list[ApprovalRequest])
        step_id = pending[0].step_id
        k = min(ns.sample, reached) // 2 if reached > ns.cache else min(ns.sample, reached)
        groups = [await resume_group("newest", pauser.handles[-k:], step_id, ns.metrics_port)]
        if reached > ns.cache:
            groups.append(
                await resume_group("oldest", pauser.handles[:k], step_id, ns.metrics_port)
            )
        point["resumed"] = groups
        return point


def main() -> None:
    parser = argparse.ArgumentParser(description="a paused-runs curve child (python -m bench)")
    sub = parser.add_subparsers(dest="role", required=True)
    worker = sub.add_parser("worker")
    worker.add_argument("--address", required=True)
    worker.add_argument("--queue", required=True)
    worker.add_argument("--ready", type=Path, required=True)
    driver = sub.add_parser("drive")
    driver.add_argument("--address", required=True)
    driver.add_argument("--queue", required=True)
    driver.add_argument("--server-pid", type=int, required=True)
    driver.add_argument("--worker-pid", type=int, required=True)
    driver.add_argument("--metrics-port", type=int, required=True)
    driver.add_argument("--cache", type=int, required=True)
    driver.add_argument("--n", type=int, required=True)
    driver.add_argument("--sample", type=int, required=True)
    driver.add_argument("--budget-s", type=float, required=True)
    driver.add_argument("--out", type=Path, required=True)
    ns = parser.parse_args()
    if ns.role == "worker":
        asyncio.run(serve(ns.address, ns.queue, ns.ready))
    else:
        ns.out.write_text(json.dumps(asyncio.run(drive(ns)), indent=2))
    # As bench._child: skip interpreter shutdown, which the SDK's native threads now and then
    # abort (PyGILState_Release); the figures are written already.
    os._exit(0)


if __name__ == "__main__":
    main()
