"""Real latency, real concurrency (issue 16): many agents in flight on one worker process, the
model served over HTTP by ``duragent mock-llm`` with a latency profile, for (e) and (f).

    .venv/bin/python -m bench.load                                # 500 in flight, ~8 min
    .venv/bin/python -m bench.load --in-flight 40 --runs 80       # a short check, ~1 min
    .venv/bin/python -m bench.load --slots 1000                   # the workers' slots raised

The workload is bench's T-turn run (3 turns by default) with real waits: each model call goes
over HTTP to the mock (time to first token 300 ms, 80 tokens/s; tool calls stream their
arguments, the answer is 40 words), and the tool sleeps 50 ms. Per system, two processes, each
against its own dev server: the runs alone (5, one at a time: what a run's model and tool time
is), then ``--runs`` runs with ``--in-flight`` of them at once. Reported: runs/s against the
ideal (in flight / a run's model and tool time alone), the CPU ceiling of one Python process
(1,000 ms / worker CPU per run), p50 and p99 overhead (latency under load less that time),
worker CPU per run, peak RSS, how long activity and workflow tasks waited for the worker (from
the histories of a sample of runs), and the HTTP connections the worker held open to the model
server and opened in all (from /proc/net/tcp: more opened than requests / a few means the
client's pool closes and reopens them). The mock and the dev server run in processes of their
own; their CPU is reported too, since on a small machine they compete with the worker.

Full run: (e) and (f), 500 in flight, 1,500 runs each; about 8 minutes on 2 CPUs (per system
about 15 s of start and runs alone, then 1,500 runs at what one process's CPU allows: 8-10
runs/s for this workload on a shared 2-CPU machine). Writes bench/results/load.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from bench._measure import pid_cpu_s
from bench._mock import connection_counter, mock_llm
from bench._scenarios import ROOT, SCENARIOS, RunOptions, ScenarioFailed, run_scenario
from bench._workload import ANSWER, TOOL, filler

SYSTEMS = ("e", "f")
IN_FLIGHT = 500
RUNS = 1_500
TURNS = 3
TTFT_MS = 300.0
TOKENS_PER_S = 80.0
TOOL_MS = 50.0
ANSWER_WORDS = 40
ALONE_RUNS = 5
RESULTS = Path(__file__).parent / "results" / "load.json"


def mock_rules(turns: int) -> list[dict[str, Any]]:
    """The mock's script: the same T-turn run the fakes answer, for any client's messages."""
    call = {"tool": TOOL, "arguments": {"n": "{1}"}}
    answer = " ".join(filler(ANSWER_WORDS * 7, ANSWER).split()[:ANSWER_WORDS])
    return [
        {"on": "tool", "tool": TOOL, "when": rf"^step-{turns - 1}\b", "say": answer},
        {"on": "tool", "tool": TOOL, "when": r"^step-(\d+)\b", "call": call},
        {"on": "user", "call": {"tool": TOOL, "arguments": {"n": 0}}},
    ]


def _stats(url: str, reset: bool = False) -> dict[str, Any]:
    request = urllib.request.Request(f"{url}/{'reset' if reset else 'stats'}")
    if reset:
        request.method = "POST"
    with urllib.request.urlopen(request, timeout=10) as answer:
        return dict(json.loads(answer.read() or b"{}"))


def one_system(system: str, args: argparse.Namespace, url: str, mock_pid: int) -> dict[str, Any]:
    """The runs alone, then under load; the figures of both."""
    base = RunOptions(
        turns=args.turns,
        runs=ALONE_RUNS,
        warmup=1,
        concurrency=[1],
        tuned=True,
        tool_ms=TOOL_MS,
        model_url=f"{url}/v1",
        slots=args.slots,
        timeout_s=3600,
    )
    print(f"bench.load: ({system}) alone ...", file=sys.stderr, flush=True)
    alone = run_scenario(SCENARIOS[system], base)
    loaded_options = RunOptions(
        **{**base.__dict__, "runs": args.runs, "warmup": 0, "concurrency": [args.in_flight]}
    )
    print(f"bench.load: ({system}) {args.in_flight} in flight ...", file=sys.stderr, flush=True)
    _stats(url, reset=True)
    mock_cpu = pid_cpu_s(mock_pid)
    with connection_counter(int(url.rsplit(":", 1)[1])) as connections:
        loaded = run_scenario(SCENARIOS[system], loaded_options)
    mock_cpu = pid_cpu_s(mock_pid) - mock_cpu
    requests = _stats(url)["requests"]
    return summarize(system, alone, loaded, args, connections, requests, mock_cpu)


def summarize(
    system: str,
    alone: dict[str, Any],
    loaded: dict[str, Any],
    args: argparse.Namespace,
    connections: dict[str, int],
    requests: int,
    mock_cpu_s: float,
) -> dict[str, Any]:
    (one,) = alone["phases"]
    (busy,) = loaded["phases"]
    run_ms = one["work_ms_per_run"]
    cpu = busy["worker_cpu_ms_per_run"]
    return {
        "system": system,
        "label": loaded["label"],
        "in_flight": args.in_flight,
        "runs": busy["runs"],
        "alone_p50_ms": one["p50_ms"],
        "model_tool_ms": run_ms,
        "runs_per_s": busy["runs_per_s"],
        "ideal_runs_per_s": round(args.in_flight * 1000 / run_ms, 1),
        "cpu_ceiling_runs_per_s": round(1000 / cpu, 1) if cpu else None,
        "p50_ms": busy["p50_ms"],
        "p99_ms": busy["p99_ms"],
        "overhead_p50_ms": round(busy["p50_ms"] - run_ms, 1),
        "overhead_p99_ms": round(busy["p99_ms"] - run_ms, 1),
        "model_tool_ms_loaded": busy["work_ms_per_run"],
        "worker_cpu_ms": cpu,
        "server_cpu_ms": busy["server_cpu_ms_per_run"],
        "mock_cpu_ms": round(mock_cpu_s * 1000 / busy["runs"], 1),
        "worker_peak_rss_mb": loaded["worker_peak_rss_mb"],
        "waits": loaded.get("load") or {},
        "connections": {**connections, "requests": requests},
        "history_bytes": (loaded.get("history") or {}).get("bytes"),
    }


def describe(points: list[dict[str, Any]], args: argparse.Namespace) -> str:
    head = (
        f"{args.in_flight} runs in flight on one worker process, {args.runs} runs, {args.turns} "
        f"turns; model over HTTP (mock-llm: TTFT {TTFT_MS:.0f} ms, {TOKENS_PER_S:.0f} tok/s), "
        f"tool {TOOL_MS:.0f} ms; slots {args.slots or 'default'}:"
    )
    lines = [
        head,
        "",
        "| system | model+tool ms alone | runs/s | ideal runs/s | CPU ceiling runs/s "
        "| overhead p50 ms | overhead p99 ms | worker CPU ms/run | server CPU ms/run "
        "| mock CPU ms/run | peak RSS MB | activity wait p50/p99 ms | WF task wait p50/p99 ms "
        "| connections max open / opened / requests |",
        "|---" * 14 + "|",
    ]
    for p in points:
        if "error" in p:
            lines.append(f"| ({p['system']}) | failed |" + " |" * 12)
            continue
        w, c = p["waits"], p["connections"]
        lines.append(
            f"| ({p['system']}) | {p['model_tool_ms']:,.0f} | {p['runs_per_s']:,.1f} "
            f"| {p['ideal_runs_per_s']:,.0f} | {p['cpu_ceiling_runs_per_s'] or 0:,.1f} "
            f"| {p['overhead_p50_ms']:,.0f} | {p['overhead_p99_ms']:,.0f} "
            f"| {p['worker_cpu_ms']:,.1f} | {p['server_cpu_ms'] or 0:,.1f} | {p['mock_cpu_ms']:,.1f} "
            f"| {p['worker_peak_rss_mb']:,.0f} "
            f"| {w.get('activity_wait_p50_ms', '-')} / {w.get('activity_wait_p99_ms', '-')} "
            f"| {w.get('workflow_task_wait_p50_ms', '-')} / "
            f"{w.get('workflow_task_wait_p99_ms', '-')} "
            f"| {c['max_open']} / {c['opened']} / {c['requests']} |"
        )
    errors = [f"- ({p['system']}) failed: {p['error'][-500:]}" for p in points if "error" in p]
    return "\n".join([*lines, *errors])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--in-flight", type=int, default=IN_FLIGHT)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--turns", type=int, default=TURNS)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--slots", type=int, help="worker activity and workflow-task slots")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    config = {
        "rules": mock_rules(args.turns),
        "latency_ms": TTFT_MS,
        "per_token_ms": 1000 / TOKENS_PER_S,
    }
    started = time.monotonic()
    points = []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as folder:
        path = Path(folder) / "mock.yaml"
        path.write_text(yaml.safe_dump(config))
        with mock_llm(path) as (url, pid):
            for system in args.systems.split(","):
                try:
                    points.append(one_system(system, args, url, pid))
                except (ScenarioFailed, OSError) as exc:
                    points.append({"system": system, "error": str(exc)})
    report = {
        "in_flight": args.in_flight,
        "runs": args.runs,
        "turns": args.turns,
        "slots": args.slots,
        "profile": {"ttft_ms": TTFT_MS, "tokens_per_s": TOKENS_PER_S, "tool_ms": TOOL_MS},
        "points": points,
        "wall_s": round(time.monotonic() - started, 1),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(describe(points, args))
    print(f"\nwrote {args.json.relative_to(ROOT) if args.json.is_relative_to(ROOT) else args.json}")
    return 1 if any("error" in p for p in points) else 0


if __name__ == "__main__":
    sys.exit(main())
