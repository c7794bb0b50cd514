"""Runs of realistic length (issue 16): (c), (e) and (f) at T = 3, 10, 30 turns, with 2 KB user
and assistant messages and 4 KB tool outputs.

    .venv/bin/python -m bench --scenarios none --curves realistic       # ~8 min (20 runs a point)
    .venv/bin/python -m bench --scenarios none --curves realistic --realistic-runs 3   # ~2 min

Each point is one scenario of ``python -m bench`` (its own process and fresh dev server) run
with the larger messages: every assistant message, a tool call's included, carries 2 KB of text
(a model explaining its call), the user's message 2 KB, each tool output 4 KB; model and tool
answer at once, so what a run takes is orchestration. Per point: worker and server CPU per run
(at C=8, where idle polling does not count against a run), history bytes of one run, and p50
and p99 orchestration overhead (latency less model and tool time, at C=1). The target: (f)'s
worker CPU per run at most 0.5x (e)'s at 30 turns; (c)'s ratio is printed beside it.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from bench._report import figures
from bench._scenarios import SCENARIOS, RunOptions, ScenarioFailed, run_scenario

TURNS = (3, 10, 30)
SYSTEMS = ("c", "e", "f")
USER_BYTES = 2_048
SAY_BYTES = 2_048
TOOL_BYTES = 4_096
RUNS = 20
WARMUP = 2
CONCURRENCY = 8
TARGET = ("f", "e", 30, 0.5)
"""Issue 16: at 30 turns, (f)'s worker CPU per run at most 0.5x (e)'s."""
ANCHOR = "c"


def run(
    *,
    tuned: bool = True,
    turns: tuple[int, ...] = TURNS,
    systems: tuple[str, ...] = SYSTEMS,
    runs: int = RUNS,
    telemetry: bool = True,
) -> dict[str, Any]:
    """Every (system, T) point, in its own process against its own dev server."""
    points = []
    for t in turns:
        for system in systems:
            print(
                f"bench: curve realistic, ({system}) at {t} turns ...", file=sys.stderr, flush=True
            )
            options = RunOptions(
                turns=t,
                runs=runs,
                warmup=min(WARMUP, runs),
                concurrency=[1, CONCURRENCY],
                tuned=tuned,
                telemetry=telemetry,
                user_bytes=USER_BYTES,
                say_bytes=SAY_BYTES,
                tool_bytes=TOOL_BYTES,
            )
            try:
                result = run_scenario(SCENARIOS[system], options)
            except (ScenarioFailed, subprocess.SubprocessError, OSError) as exc:
                error = str(exc)
                points.append({"system": system, "turns": t, "status": "failed", "error": error})
                continue
            points.append(_point(system, t, result))
    return {
        "status": "measured",
        "messages": {"user": USER_BYTES, "assistant": SAY_BYTES, "tool": TOOL_BYTES},
        "runs": runs,
        "concurrency": CONCURRENCY,
        "points": points,
        "target": target(points),
    }


def _point(system: str, turns: int, result: dict[str, Any]) -> dict[str, Any]:
    f = figures(result)
    low = min(result["phases"], key=lambda p: p["concurrency"])
    work = low["work_ms_per_run"]
    return {
        "system": system,
        "turns": turns,
        "status": "measured",
        "worker_cpu_ms": f["worker_cpu_ms"],
        "server_cpu_ms": f["server_cpu_ms"],
        "history_bytes": f["history_bytes"],
        "events": f["events"],
        "p50_ms": f["p50_ms"],
        "overhead_p50_ms": round(low["p50_ms"] - work, 1),
        "overhead_p99_ms": round(low["p99_ms"] - work, 1),
        "runs_per_s": f["runs_per_s_max"],
        "worker_rss_mb": f["worker_rss_mb"],
        "wall_s": result.get("wall_s"),
    }


def _find(points: list[dict[str, Any]], system: str, turns: int) -> dict[str, Any] | None:
    return next(
        (
            p
            for p in points
            if p["system"] == system and p["turns"] == turns and p["status"] == "measured"
        ),
        None,
    )


def target(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The 30-turn CPU target as a verdict row (the shape of ``_report.targets``' rows)."""
    system, other, turns, limit = TARGET
    row: dict[str, Any] = {
        "target": f"{turns} turns: ({system}) worker CPU/run <= {limit}x ({other})",
        "limit": limit,
        "ratio": None,
        "status": "not measured",
        "anchor": ANCHOR,
        "anchor_ratio": None,
        "anchor_status": "not measured",
    }
    base = _find(points, other, turns)
    if base is None or not base["worker_cpu_ms"]:
        return row
    for key, name in (("", system), ("anchor_", ANCHOR)):
        point = _find(points, name, turns)
        if point is not None:
            ratio = point["worker_cpu_ms"] / base["worker_cpu_ms"]
            row[f"{key}ratio"] = round(ratio, 3)
            row[f"{key}status"] = "PASS" if ratio <= limit else "MISS"
    return row


def describe(figures_: dict[str, Any]) -> str:
    """The curve as a markdown table, then the target."""
    sizes = figures_["messages"]
    lines = [
        f"Runs of realistic length ({sizes['user']:,} B user and {sizes['assistant']:,} B "
        f"assistant messages, {sizes['tool']:,} B tool outputs; {figures_['runs']} runs per "
        f"phase; CPU per run at C={figures_['concurrency']}, overhead = latency - model and "
        "tool time at C=1):",
        "",
        "| system | turns | worker CPU ms/run | server CPU ms/run | history bytes/run | events "
        f"| overhead p50 ms | overhead p99 ms | runs/s C={figures_['concurrency']} "
        "| worker peak RSS MB |",
        "|---" * 10 + "|",
    ]
    for p in figures_["points"]:
        if p["status"] != "measured":
            lines.append(f"| ({p['system']}) | {p['turns']} | failed |" + " |" * 7)
            continue
        lines.append(
            f"| ({p['system']}) | {p['turns']} | {p['worker_cpu_ms']:,.1f} "
            f"| {p['server_cpu_ms']:,.1f} | {p['history_bytes']:,} | {p['events']:,} "
            f"| {p['overhead_p50_ms']:,.1f} | {p['overhead_p99_ms']:,.1f} "
            f"| {p['runs_per_s']:,.1f} | {p['worker_rss_mb']:,.0f} |"
        )
    ratios = []
    for t in sorted({p["turns"] for p in figures_["points"]}):
        f, e = _find(figures_["points"], "f", t), _find(figures_["points"], "e", t)
        if f and e and e["worker_cpu_ms"] and e["history_bytes"]:
            ratios.append(
                f"- {t} turns, (f)/(e): worker CPU {f['worker_cpu_ms'] / e['worker_cpu_ms']:.2f}x, "
                f"history bytes {f['history_bytes'] / e['history_bytes']:.2f}x"
            )
    from bench._report import target_lines

    failed = [
        f"- ({p['system']}) at {p['turns']} turns failed: {p['error'].strip().splitlines()[-1]}"
        for p in figures_["points"]
        if p["status"] != "measured"
    ]
    return "\n".join([*lines, "", *ratios, target_lines([figures_["target"]]), *failed])
