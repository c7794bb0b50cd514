"""Issue 7's scaling curves: the parent side (``python -m bench --curves ...``).

history  history bytes per run against turns (T = 1, 10, 50, 100, 200, 10 KB messages),
         for duragent's AgentRun (bench._history_curve); the target is linear growth and
         a 100-call run under 3 MB. (e)'s curve is a hook still: ``history_curve("e")``.
paused   N = 100, 1,000, 5,000 runs paused on approval: worker and server RSS, whether
         they stay cached or are evicted and replayed on resume, resume latency
         (bench._paused_curve); the target is 1,000 runs in a worker under 500 MB RSS,
         resumed in under 1 s p99.
realistic  (c), (e), (f) at T = 3, 10, 30 turns with 2 KB messages and 4 KB tool outputs
         (bench._realistic, issue 16): CPU per run, history bytes, overhead p50 and p99.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

from bench import _realistic, _venv
from bench._scenarios import ROOT, child_env
from bench._server import BenchServer, stop_process

CURVES = ("history", "paused", "realistic")
HISTORY_TURNS = (1, 10, 50, 100, 200)
MESSAGE_BYTES = 10_000
LIMIT_100_TURNS = 3_000_000
PAUSED_COUNTS = (100, 1_000, 5_000)
PAUSED_SAMPLE = 200
"""Runs resumed per point: all of them up to this; past the cache, half the newest (cached)
and half the oldest (evicted first)."""
PAUSED_BUDGET_S = 360.0
"""Seconds to start one point's runs; past it the point stops at the runs it reached."""
PAUSED_TARGET = (1_000, 500.0, 1_000.0)
"""Issue 7: 1,000 paused runs fit a worker under 500 MB RSS and resume in under 1 s p99."""


def history_curve(
    system: str = "f",
    *,
    turns: tuple[int, ...] = HISTORY_TURNS,
    message_bytes: int = MESSAGE_BYTES,
    tuned: bool = True,
) -> dict[str, Any]:
    """History bytes per run against turns for ``system``: "f" (duragent) or "e" (Temporal's
    OpenAI Agents integration, which stops where a payload passes the server's limit)."""
    if system not in ("f", "e"):
        raise ValueError(f"no history curve for {system!r}: f or e")
    python = str(_venv.ensure()) if system == "e" else sys.executable
    module = "bench._agents_history" if system == "e" else "bench._history_curve"
    with BenchServer(tuned=tuned) as server, tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "curve.json"
        cmd = [
            python, "-m", module, "--address", server.address,
            "--turns", ",".join(map(str, turns)), "--message-bytes", str(message_bytes),
            "--out", str(out),
        ]  # fmt: skip
        proc = subprocess.run(cmd, cwd=ROOT, env=child_env(), capture_output=True, text=True)
        if not out.exists():  # a non-zero exit after writing is the SDK's shutdown abort
            return {"system": system, "status": "failed", "error": proc.stderr[-2000:]}
        points = json.loads(out.read_text())
    failed = next((p for p in points if p.get("stopped")), None)
    points = [p for p in points if not p.get("stopped")]
    for point in points:
        point.pop("stopped", None)
    stopped = None
    if failed is not None:
        stopped = {
            "turns": failed["turns"],
            "turns_reached": failed.get("turns_reached"),
            "reason": failed["stopped"],
            "history_bytes_at_stop": failed["bytes"],
        }
    return {
        "system": system,
        "status": "measured",
        "message_bytes": message_bytes,
        "points": points,
        "marginal": _marginal(points),
        "stopped": stopped,
    }


def _marginal(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bytes each added turn costs between consecutive points: flat if history is linear in
    turns, rising with T if every turn carries the conversation again (quadratic)."""
    return [
        {
            "turns": f"{a['turns']}-{b['turns']}",
            "bytes_per_turn": round((b["bytes"] - a["bytes"]) / (b["turns"] - a["turns"])),
        }
        for a, b in pairwise(points)
    ]


def paused_runs(
    counts: tuple[int, ...] = PAUSED_COUNTS,
    *,
    tuned: bool = True,
    sample: int = PAUSED_SAMPLE,
    budget_s: float = PAUSED_BUDGET_S,
) -> dict[str, Any]:
    """N runs paused on approval, per N in ``counts``, each on a fresh server and worker:
    worker and server RSS, what the worker keeps cached, resume latency."""
    points = []
    for n in counts:
        print(f"bench: curve paused, N = {n:,} ...", file=sys.stderr, flush=True)
        points.append(_paused_point(n, tuned=tuned, sample=sample, budget_s=budget_s))
    return {
        "status": "measured",
        "counts": list(counts),
        "sample": sample,
        "budget_s": budget_s,
        "points": points,
    }


def _paused_point(n: int, *, tuned: bool, sample: int, budget_s: float) -> dict[str, Any]:
    module = [sys.executable, "-m", "bench._paused_curve"]
    with BenchServer(tuned=tuned) as server, tempfile.TemporaryDirectory() as folder:
        ready, out, log = (Path(folder) / name for name in ("ready", "point.json", "worker.log"))
        queue = f"bench-paused-{n}"
        base = ["--address", server.address, "--queue", queue]
        with log.open("wb") as sink:
            worker = subprocess.Popen(
                [*module, "worker", *base, "--ready", str(ready)],
                cwd=ROOT, env=child_env(), stdout=sink, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not ready.exists() and worker.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            if not ready.exists():
                tail = log.read_text(errors="replace")[-2000:]
                return {"n": n, "status": "failed", "error": f"the worker did not start: {tail}"}
            facts = json.loads(ready.read_text())
            cmd = [
                *module, "drive", *base, "--server-pid", str(server.pid),
                "--worker-pid", str(worker.pid), "--metrics-port", str(facts["metrics_port"]),
                "--cache", str(facts["max_cached_workflows"]), "--n", str(n),
                "--sample", str(sample), "--budget-s", str(budget_s), "--out", str(out),
            ]  # fmt: skip
            try:
                proc = subprocess.run(
                    cmd, cwd=ROOT, env=child_env(), capture_output=True, text=True,
                    timeout=budget_s + 900,
                )  # fmt: skip
                driver = proc.stdout + proc.stderr
            except subprocess.TimeoutExpired as exc:
                driver = f"{exc}"
        finally:
            stop_process(worker)
        if not out.exists():
            worker_log = log.read_text(errors="replace")[-1000:]
            return {"n": n, "status": "failed", "error": f"{driver[-2000:]}\n{worker_log}"}
        point: dict[str, Any] = json.loads(out.read_text())
    point["status"] = "measured"
    point["server"] = server.label
    return point


def run(
    curve: str,
    *,
    tuned: bool,
    paused_counts: tuple[int, ...] = PAUSED_COUNTS,
    realistic_runs: int = _realistic.RUNS,
) -> dict[str, Any]:
    if curve == "history":
        return {"f": history_curve("f", tuned=tuned), "e": history_curve("e", tuned=tuned)}
    if curve == "paused":
        return paused_runs(paused_counts, tuned=tuned)
    if curve == "realistic":
        return _realistic.run(tuned=tuned, runs=realistic_runs)
    raise SystemExit(f"unknown curve {curve!r}: {', '.join(CURVES)}")


def describe(curve: str, figures: dict[str, Any]) -> str:
    """The curve as markdown, with its target where it has one."""
    if curve == "paused":
        return describe_paused(figures)
    if curve == "realistic":
        return _realistic.describe(figures)
    lines = ["History per run against turns (10 KB tool outputs, one run each):", ""]
    lines += [
        "| system | turns | events | history bytes | largest event | executions | wall ms |",
        "|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for system, data in figures.items():
        if data["status"] != "measured":
            lines.append(f"| ({system}) | {data['status']} | | | | | |")
            continue
        for p in data["points"]:
            lines.append(
                f"| ({system}) | {p['turns']} | {p['events']} | {p['bytes']:,} "
                f"| {p.get('largest_event', 0):,} | {p['executions']} "
                f"| {p['wall_ms']:,.0f} |"
            )
        at_100 = next((p["bytes"] for p in data["points"] if p["turns"] == 100), None)
        if at_100 is not None:
            status = "PASS" if at_100 < LIMIT_100_TURNS else "MISS"
            verdicts.append(
                f"- {status}: ({system}) 100-turn run under 3 MB (measured {at_100 / 1e6:.2f} MB)"
            )
        if data["marginal"]:
            steps = ", ".join(f"{m['turns']}: {m['bytes_per_turn']:,}" for m in data["marginal"])
            verdicts.append(f"- ({system}) bytes per added turn, by segment: {steps}")
        if data.get("stopped"):
            stop = data["stopped"]
            verdicts.append(
                f"- ({system}) the {stop['turns']}-turn run stopped after {stop['turns_reached']} "
                f"model calls, {stop['history_bytes_at_stop']:,} history bytes: {stop['reason']}"
            )
    return "\n".join([*lines, "", *verdicts])


def describe_paused(figures: dict[str, Any]) -> str:
    """One row per N and group of resumed runs, then the target's verdict and any cap."""
    lines = [
        "Runs paused on approval (a fresh server and worker per N; RSS once all N wait, then "
        "idle, and for the worker after a full garbage collection; resumed one at a time, "
        "decision sent to the run's result):",
        "",
        "| N | paused in s | paused/s | worker RSS MB | server RSS MB | cached | evicted "
        "| resumed | replayed on resume | resume p50 ms | resume p99 ms |",
        "|---" * 11 + "|",
    ]
    notes = []
    for p in figures["points"]:
        if p["status"] != "measured":
            lines.append(f"| {p['n']:,} | failed |" + " |" * 9)
            last = (p["error"].strip().splitlines() or ["no output"])[-1]
            notes.append(f"- N = {p['n']:,} failed: {last}")
            continue
        cached = p["cached"]
        evicted = None if cached is None else p["paused"] - int(cached)
        head = (
            f"| {p['paused']:,} | {p['start_s']:,.1f} | {p['paused_per_s']:.1f} "
            f"| {p['worker_rss_mb']:,.0f} (idle {p['worker_rss_mb_idle']:,.0f}, gc "
            f"{p['worker_rss_mb_after_gc']:,.0f}) "
            f"| {p['server_rss_mb']:,.0f} (idle {p['server_rss_mb_idle']:,.0f}) "
            f"| {_count(cached)} | {_count(evicted)} "
        )
        blank = "| " * 7
        for i, g in enumerate(p["resumed"]):
            lines.append(
                (head if i == 0 else blank)
                + f"| {g['runs']} {g['group']} | {_count(g['cache_misses'])} "
                f"| {g['resume_p50_ms']:,.0f} | {g['resume_p99_ms']:,.0f} |"
            )
        if p["capped"]:
            notes.append(
                f"- N = {p['n']:,} capped: {p['paused']:,} runs paused within the "
                f"{figures['budget_s']:.0f} s budget for starting ({p['paused_per_s']:.1f}/s on "
                f"this machine; {p['n']:,} would take about {p['n'] / p['paused_per_s']:,.0f} s)"
            )
    n, rss_limit, p99_limit = PAUSED_TARGET
    point = next((p for p in figures["points"] if p.get("paused") == n), None)
    if point is None:
        verdict = f"- not measured: {n:,} paused runs in a worker under 500 MB, resumed < 1 s p99"
    else:
        p99 = max(g["resume_p99_ms"] for g in point["resumed"])
        ok = point["worker_rss_mb"] < rss_limit and p99 < p99_limit
        verdict = (
            f"- {'PASS' if ok else 'MISS'}: {n:,} paused runs in a worker under "
            f"{rss_limit:.0f} MB RSS (measured {point['worker_rss_mb']:.0f} MB), resumed in "
            f"under {p99_limit / 1000:.0f} s p99 (measured {p99:,.0f} ms)"
        )
    all_cached = [p for p in figures["points"] if p.get("cached") and p["cached"] == p["paused"]]
    if all_cached:
        p = max(all_cached, key=lambda p: p["paused"])
        per_run = (p["worker_rss_mb"] - p["worker_rss_mb_idle"]) * 1024 / p["paused"]
        notes.append(
            f"- a paused run in the worker's cache holds about {per_run:,.0f} KB of its RSS "
            f"((RSS - idle) / N at N = {p['paused']:,}, every run cached)"
        )
    cache = {p["max_cached_workflows"] for p in figures["points"] if p["status"] == "measured"}
    notes.append(
        f"- the worker caches up to {', '.join(f'{c:,}' for c in cache)} runs "
        "(build_worker's max_cached_workflows); cached and replayed are the SDK's "
        "sticky_cache_size and sticky_cache_miss, from the worker's /metrics"
    )
    return "\n".join([*lines, "", verdict, *notes])


def _count(value: float | None) -> str:
    return "-" if value is None else f"{int(value):,}"
