"""The markdown table, the ratios and the issue's targets, from the scenarios' figures.

Latency (p50, p99) and overhead per turn come from the concurrency-1 phase; worker and server
CPU per run from the highest-concurrency phase, where the worker is busy and idle polling does
not count against a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PAIRS = (
    ("f", "e"),
    ("f", "c"),
    ("f", "a"),
    ("f-auto", "e"),
    ("f-fast", "e-local"),
    ("f-fast", "d"),
    ("f-fast", "floor"),
)
"""Ratios printed: duragent's modes against the alternatives a user would pick instead."""


@dataclass(frozen=True)
class Target:
    """One of issue 7's targets: ``ratio(scenario, other, metric)`` compared with ``limit``."""

    name: str
    scenario: str
    other: str
    metric: str
    limit: float
    at_most: bool
    """True: the ratio must be <= limit (latency, CPU); False: >= limit (throughput)."""
    anchor: str
    """The hand-written workflow of the same shape ((c) or (d)): the same ratio for it says
    whether the target is within reach of any workflow on this SDK and server."""

    def ratio(self, results: dict[str, dict[str, Any]], scenario: str) -> float | None:
        if scenario not in results or self.other not in results:
            return None
        x = figures(results[scenario])[self.metric]
        y = figures(results[self.other])[self.metric]
        return x / y if x is not None and y else None

    def met(self, ratio: float | None) -> bool:
        return ratio is not None and (ratio <= self.limit if self.at_most else ratio >= self.limit)


TARGETS_16 = (
    Target("default p50 <= 1.0x (e)", "f", "e", "p50_ms", 1.0, True, "c"),
    Target("default worker CPU/run <= 1.0x (e)", "f", "e", "worker_cpu_ms", 1.0, True, "c"),
    Target("default runs/s at C=16 >= 1.2x (e)", "f", "e", "runs_per_s_max", 1.2, False, "c"),
    Target("fast runs/s at C=16 >= 1.5x (e-local)", "f-fast", "e-local", "runs_per_s_max", 1.5, False, "d"),
    Target("default history bytes/run <= 1.0x (e)", "f", "e", "history_bytes", 1.0, True, "c"),
)  # fmt: skip
"""Issue 16's targets at 3 turns; its 30-turn one comes from the realistic curve
(``bench._realistic.target``)."""

TARGETS = (
    Target("default p50 <= 0.85x (e)", "f", "e", "p50_ms", 0.85, True, "c"),
    Target("default runs/s at C=16 >= 1.4x (e)", "f", "e", "runs_per_s_max", 1.4, False, "c"),
    Target("default worker CPU/run <= 0.6x (e)", "f", "e", "worker_cpu_ms", 0.6, True, "c"),
    Target("fast p50 <= 0.55x (e-local)", "f-fast", "e-local", "p50_ms", 0.55, True, "d"),
    Target("fast p50 <= 1.5x no-activity floor", "f-fast", "floor", "p50_ms", 1.5, True, "d"),
    Target("fast runs/s at C=16 >= 2x (e-local)", "f-fast", "e-local", "runs_per_s_max", 2.0, False, "d"),
)  # fmt: skip


def figures(result: dict[str, Any]) -> dict[str, float | None]:
    """The headline figures of one scenario."""
    phases = sorted(result["phases"], key=lambda p: p["concurrency"])
    low, high = phases[0], phases[-1]
    history = result.get("history") or {}
    return {
        "runs_per_s_1": low["runs_per_s"],
        "runs_per_s_max": high["runs_per_s"],
        "p50_ms": low["p50_ms"],
        "p99_ms": low["p99_ms"],
        "overhead_ms_per_turn": low["overhead_ms_per_turn"],
        "worker_cpu_ms": high["worker_cpu_ms_per_run"],
        "server_cpu_ms": high["server_cpu_ms_per_run"],
        "workflow_tasks": history.get("workflow_tasks"),
        "events": history.get("events"),
        "history_bytes": history.get("bytes"),
        "worker_rss_mb": result["worker_peak_rss_mb"],
    }


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    if abs(value) < 1 and value != 0:
        return f"{value:.3f}"
    return f"{value:,.{digits}f}"


def table(results: dict[str, dict[str, Any]], high: int) -> str:
    head = (
        "| scenario | runs/s C=1 | runs/s C=" + str(high) + " | p50 ms | p99 ms "
        "| overhead ms/turn | worker CPU ms/run | server CPU ms/run | WF tasks/run "
        "| events/run | history bytes/run | worker peak RSS MB |"
    )
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for name, result in results.items():
        f = figures(result)
        lines.append(
            f"| ({name}) {result['label']} | {_fmt(f['runs_per_s_1'])} | {_fmt(f['runs_per_s_max'])} "
            f"| {_fmt(f['p50_ms'])} | {_fmt(f['p99_ms'])} | {_fmt(f['overhead_ms_per_turn'])} "
            f"| {_fmt(f['worker_cpu_ms'])} | {_fmt(f['server_cpu_ms'])} "
            f"| {_fmt(f['workflow_tasks'])} | {_fmt(f['events'])} | {_fmt(f['history_bytes'], 0)} "
            f"| {_fmt(f['worker_rss_mb'])} |"
        )
    return "\n".join(lines)


def timeline_table(results: dict[str, dict[str, Any]]) -> str:
    """Where a run's time goes, per Temporal scenario: medians from the history event times of
    sequential runs (so C=1). Empty when no scenario has a timeline."""
    found = {name: (r.get("history") or {}).get("timeline_ms") for name, r in results.items()}
    rows = [(name, t) for name, t in found.items() if t]
    if not rows:
        return ""
    lines = [
        "| scenario | run ms | dispatch | first task | middle tasks | last task | activities "
        "| other |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, t in rows:
        acts = {k.removeprefix("activity "): v for k, v in t.items() if k.startswith("activity ")}
        spent = " + ".join(f"{_fmt(v)} {k}" for k, v in sorted(acts.items())) or "-"
        lines.append(
            f"| ({name}) | {_fmt(t['run'])} | {_fmt(t['dispatch'])} "
            f"| {_fmt(t.get('first_task'))} | {_fmt(t.get('middle_tasks'))} "
            f"| {_fmt(t.get('last_task'))} | {spent} | {_fmt(t.get('other'))} |"
        )
    return "\n".join(lines)


RATIO_METRICS = ("p50_ms", "runs_per_s_max", "worker_cpu_ms", "server_cpu_ms", "history_bytes")


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """``{"f/e": {"p50_ms": 0.7, ...}}`` for every pair in ``PAIRS`` that was measured."""
    out: dict[str, dict[str, float | None]] = {}
    for num, den in PAIRS:
        if num not in results or den not in results:
            continue
        a, b = figures(results[num]), figures(results[den])
        row: dict[str, float | None] = {}
        for metric in RATIO_METRICS:
            x, y = a[metric], b[metric]
            row[metric] = float(f"{x / y:.4g}") if x is not None and y else None
        out[f"{num}/{den}"] = row
    return out


def _times(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    if ratio >= 100:
        return f"{ratio:,.0f}x"
    return f"{ratio:.2f}x" if ratio >= 0.01 else f"{ratio:.2g}x"


def ratio_table(rows: dict[str, dict[str, float | None]], high: int) -> str:
    lines = [
        f"| ratio | p50 | runs/s C={high} | worker CPU/run | server CPU/run | history bytes |",
        "|---|---|---|---|---|---|",
    ]
    for pair, row in rows.items():
        cells = " | ".join(_times(row[m]) for m in RATIO_METRICS)
        lines.append(f"| ({pair.replace('/', ')/(')}) | {cells} |")
    return "\n".join(lines)


def targets(
    results: dict[str, dict[str, Any]], chosen: tuple[Target, ...] = TARGETS
) -> list[dict[str, Any]]:
    """Each target PASS or MISS (or "not measured" when a scenario was left out), with the same
    ratio for the hand-written anchor: a target its anchor misses too asks for less than the
    SDK itself spends on a workflow of that shape."""
    out = []
    for target in chosen:
        ratio = target.ratio(results, target.scenario)
        anchor = target.ratio(results, target.anchor)
        entry: dict[str, Any] = {
            "target": target.name,
            "limit": target.limit,
            "ratio": round(ratio, 3) if ratio is not None else None,
            "status": "PASS" if target.met(ratio) else "MISS",
            "anchor": target.anchor,
            "anchor_ratio": round(anchor, 3) if anchor is not None else None,
            "anchor_status": "PASS" if target.met(anchor) else "MISS",
        }
        if ratio is None:
            entry["status"] = "not measured"
        if anchor is None:
            entry["anchor_status"] = "not measured"
        out.append(entry)
    return out


def target_lines(rows: list[dict[str, Any]]) -> str:
    lines = []
    for row in rows:
        got = _times(row["ratio"])
        anchor = ""
        if row.get("anchor_ratio") is not None:
            reach = "meets it" if row["anchor_status"] == "PASS" else "misses it too"
            anchor = (
                f"; the hand-written ({row['anchor']}) gets {_times(row['anchor_ratio'])}: {reach}"
            )
        lines.append(f"- {row['status']}: {row['target']} (measured {got}{anchor})")
    return "\n".join(lines)


def verdict_table(rows: list[dict[str, Any]]) -> str:
    """The targets as one table: each one's limit, duragent's ratio and verdict, and the same
    ratio for the hand-written workflow of the same shape beside it."""
    lines = [
        "| target | limit | duragent | verdict | hand-written | its verdict |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['target']} | {row['limit']}x | {_times(row['ratio'])} | {row['status']} "
            f"| ({row['anchor']}) {_times(row.get('anchor_ratio'))} "
            f"| {row.get('anchor_status', '-')} |"
        )
    return "\n".join(lines)
