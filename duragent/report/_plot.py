"""``duragent report --plot``: a PNG of the window's runs.

matplotlib is an optional extra (``pip install 'duragent[plot]'``), imported only here and only
when a plot is asked for. The figure is drawn on the Agg canvas directly, without pyplot, so
no GUI backend or process-global figure state is involved.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from duragent.errors import DuragentError
from duragent.report._model import Report, RunSample

PLOT_EXTRA = "pip install 'duragent[plot]'"
TIME_BINS = 20


class PlotUnavailableError(DuragentError):
    """matplotlib is not installed."""


def write_plot(report: Report, samples: Sequence[RunSample], path: str | Path) -> Path:
    """Write a PNG of the ``samples`` the report was built from: the total-latency histogram
    with P50 and P99 marked, each run's cost over time, and error runs and failures over time
    (from the first run's start to the last's)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise PlotUnavailableError(f"--plot needs matplotlib: {PLOT_EXTRA}") from None

    finished = [s for s in samples if not s.in_flight]
    with_result = [s for s in finished if s.result is not None]
    figure = Figure(figsize=(9, 10), layout="constrained")
    FigureCanvasAgg(figure)
    latency, cost, errors = figure.subplots(3, 1)
    scope = f" — agent {report.agent}" if report.agent else ""
    figure.suptitle(f"duragent report: {len(finished)} finished runs{scope}")

    totals = [s.result.latency.total_ms / 1000 for s in with_result if s.result]
    if totals:
        latency.hist(totals, bins=min(40, max(5, len(totals) // 2)), color="#4c72b0")
        total = report.latency_s.get("total")
        marks = (("P50", total.p50, "--"), ("P99", total.p99, ":")) if total else ()
        for label, value, style in marks:
            if value is not None:
                latency.axvline(
                    value, color="black", linestyle=style, label=f"{label} {value:.3g} s"
                )
        latency.legend()
    latency.set(title="run latency (total)", xlabel="seconds", ylabel="runs")

    if with_result:
        cost.scatter(
            [s.started_at for s in with_result],
            [s.result.cost_usd if s.result else 0.0 for s in with_result],
            s=12,
            color="#55a868",
        )
    cost.set(title="cost per run", ylabel="USD")

    # From the first run to the last: a day's window with a burst of runs stays readable.
    first = min((s.started_at for s in finished), default=report.since)
    last = max((s.started_at for s in finished), default=report.until)
    edges = _time_edges(first, max(last, first + timedelta(seconds=1)) + timedelta(seconds=1))
    step = edges[1] - edges[0]
    error_runs = _binned(edges, [(s.started_at, 1) for s in finished if s.is_error])
    failures = _binned(
        edges, [(s.started_at, sum(s.result.errors.values())) for s in with_result if s.result]
    )
    starts = edges[:-1]
    errors.bar([t + step * 0.1 for t in starts], error_runs, width=step * 0.4, align="edge",
               color="#c44e52", label="error runs")  # fmt: skip
    errors.bar([t + step * 0.5 for t in starts], failures, width=step * 0.4, align="edge",
               color="#dd8452", label="failures by attempt, recovered included")  # fmt: skip
    errors.legend()
    errors.set(title="errors over time", ylabel="count")
    errors.set_ylim(0, max(1, *error_runs, *failures) * 1.15)  # counts: never below zero

    for axes in (latency, errors):
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts of runs
    for axes in (cost, errors):
        locator = AutoDateLocator()
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        axes.set_xlim(edges[0], edges[-1])
    out = Path(path)
    figure.savefig(out, format="png", dpi=100)
    return out


def _time_edges(since: datetime, until: datetime) -> list[datetime]:
    step = (until - since) / TIME_BINS
    return [since + step * i for i in range(TIME_BINS + 1)]


def _binned(edges: Sequence[datetime], weighted: Sequence[tuple[datetime, int]]) -> list[int]:
    """Sum of the weights in each interval of ``edges``; the last interval includes its end."""
    counts = [0] * (len(edges) - 1)
    for moment, weight in weighted:
        index = next((i for i in range(len(counts)) if moment < edges[i + 1]), len(counts) - 1)
        if moment >= edges[0]:
            counts[index] += weight
    return counts
