"""Issue 7's scaling curves: the parent side (``python -m bench --curves ...``).

history  history bytes per run against turns (T = 1, 10, 50, 100, 200, 10 KB messages),
         for duragent's AgentRun (bench._history_curve); the target is linear growth and
         a 100-call run under 3 MB. (e)'s curve is a hook still: ``history_curve("e")``.
paused   N = 100, 1,000, 5,000 runs paused on approval: worker and server RSS, whether
         they stay cached, resume latency (target: 1,000 fit in 500 MB, resume < 1 s p99).
         A hook still: ``paused_runs`` says it is not built.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from itertools import pairwise
from pathlib import Path
from typing import Any

from bench import _venv
from bench._scenarios import ROOT, child_env
from bench._server import BenchServer

HISTORY_TURNS = (1, 10, 50, 100, 200)
MESSAGE_BYTES = 10_000
LIMIT_100_TURNS = 3_000_000
PAUSED_COUNTS = (100, 1_000, 5_000)


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


def paused_runs(counts: tuple[int, ...] = PAUSED_COUNTS, *, tuned: bool = True) -> dict[str, Any]:
    """N runs paused on approval: RSS, caching and resume latency. Not built yet."""
    return {"counts": list(counts), "status": "not built yet"}


def run(curve: str, *, tuned: bool) -> dict[str, Any]:
    if curve == "history":
        return {"f": history_curve("f", tuned=tuned), "e": history_curve("e", tuned=tuned)}
    if curve == "paused":
        return paused_runs(tuned=tuned)
    raise SystemExit(f"unknown curve {curve!r}: history or paused")


def describe(curve: str, figures: dict[str, Any]) -> str:
    """The curve as markdown, with its target where it has one."""
    if curve == "paused":
        return f"Paused runs (N = {', '.join(map(str, figures['counts']))}): {figures['status']}."
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
