"""The realistic curve as a picture: worker CPU per run and history bytes against turns.

Written next to the bench's JSON (``bench/results/latest-realistic.png`` for ``make bench``) for
the README's performance section. matplotlib comes with the ``plot`` (and ``examples``) extra,
which ``make bench`` installs; without it the bench says so and writes no picture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

LABELS = {
    "c": "(c) hand-written workflow",
    "e": "(e) Temporal OpenAI Agents integration",
    "f": "(f) duragent, default mode",
}
STYLES = {"c": ("tab:gray", ":"), "e": ("tab:orange", "-"), "f": ("tab:blue", "-")}


def realistic_png(figures: dict[str, Any], path: Path) -> Path | None:
    """Draw the curve to ``path``; None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display: a file only
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    points = [p for p in figures["points"] if p["status"] == "measured"]
    fig, (cpu, size) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for system in sorted({p["system"] for p in points}):
        mine = sorted((p for p in points if p["system"] == system), key=lambda p: p["turns"])
        turns = [p["turns"] for p in mine]
        color, line = STYLES.get(system, ("black", "-"))
        style = {"color": color, "linestyle": line, "marker": "o"}
        label = LABELS.get(system, f"({system})")
        cpu.plot(turns, [p["worker_cpu_ms"] for p in mine], label=label, **style)
        size.plot(turns, [p["history_bytes"] / 1024 for p in mine], label=label, **style)
    sizes = figures["messages"]
    fig.suptitle(
        f"Runs of realistic length: {sizes['user'] // 1024} KB messages, "
        f"{sizes['tool'] // 1024} KB tool outputs"
    )
    cpu.set(xlabel="turns per run", ylabel="worker CPU per run (ms)", title="Worker CPU")
    size.set(xlabel="turns per run", ylabel="history per run (KB)", title="History size")
    for axes in (cpu, size):
        axes.grid(alpha=0.3)
        axes.set_ylim(bottom=0)
    cpu.legend(fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
