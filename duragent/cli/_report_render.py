"""How a report reads: rich tables for a terminal, Markdown for a pull request or a wiki."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.table import Table

from duragent.report import LAYERS, AlertResult, Distribution, Report

LAYER_LABELS = {
    "total": "total",
    "input": "input processing",
    "reasoning": "reasoning (TTFT)",
    "output": "output generation",
    "tool": "tool execution",
    "approval": "approval wait",
    "orchestration": "orchestration",
}
NO_DATA = "—"


def seconds(value: float | None) -> str:
    if value is None:
        return NO_DATA
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def usd(value: float | None) -> str:
    """Dollars to the cent and beyond: mock and small-model runs cost fractions of a cent."""
    if value is None:
        return NO_DATA
    return f"${value:,.4f}" if value >= 0.01 else f"${value:.8f}"


def share(value: float | None) -> str:
    return NO_DATA if value is None else f"{value:.1%}"


def title(report: Report) -> str:
    scope = f", entry agent {report.agent}" if report.agent else ""
    end = "%H:%M:%S" if report.since.date() == report.until.date() else "%Y-%m-%d %H:%M:%S"
    return f"runs started {report.since:%Y-%m-%d %H:%M:%S} to {report.until:{end}} UTC{scope}"


def nothing(report: Report) -> str:
    agent = f" with entry agent {report.agent!r}" if report.agent else ""
    return f"no runs{agent} started since {report.since:%Y-%m-%d %H:%M:%S} UTC"


def summary_rows(report: Report) -> list[tuple[str, str]]:
    """The headline figures, label and value."""
    outcomes = ", ".join(f"{k} {v}" for k, v in report.outcomes.items()) or NO_DATA
    cost = f"{usd(report.total_cost_usd)} total, {usd(report.cost_per_request_usd)} per request"
    cost += f", P99 {usd(report.cost_usd.p99)}"
    if not report.cost_complete:
        cost += " (lower bound: a model's price is unknown)"
    t = report.tokens
    tokens = f"{t.input} in, {t.output} out, {t.cached} cached"
    if t.per_request is not None:
        tokens += f"; {t.per_request:.0f} per request"
    wait = report.approval_wait_s
    approvals = f"{share(report.approval_rate)} of runs ({report.approval_runs})"
    if wait.count:
        approvals += (
            f"; wait P50 {seconds(wait.p50)}, P99 {seconds(wait.p99)}, mean {seconds(wait.mean)}"
        )
    rows = [
        ("runs", f"{report.runs} ({report.finished} finished, {report.in_flight} in flight)"),
        ("outcomes", outcomes),
        ("error rate", f"{share(report.error_rate)} ({report.error_runs} failed runs)"),
        ("cost", cost),
        ("tokens", tokens),
        ("approvals", approvals),
    ]
    if report.degraded:
        rows.append(("degraded answers", str(report.degraded)))
    return rows


def latency_rows(report: Report) -> list[tuple[str, ...]]:
    rows = []
    for layer in LAYERS:
        d = report.latency_s.get(layer, Distribution())
        rows.append(
            (LAYER_LABELS[layer], *(seconds(v) for v in (d.p50, d.p99, d.p999, d.mean, d.max)))
        )
    return rows


def error_rows(report: Report) -> list[tuple[str, str]]:
    return [(k, str(v)) for k, v in report.error_types.items()] or [("none", "0")]


LATENCY_HEADER = ("latency", "P50", "P99", "P999", "mean", "max")
ERRORS_HEADER = ("failure type (every attempt, recovered ones included)", "count")
P999_NOTE = (
    "Nearest-rank percentiles of per-run values; with fewer than 1,000 runs P999 is the maximum."
)


def tables(report: Report) -> Group:
    """The report as rich tables."""
    summary = Table(show_header=False, title=title(report), title_justify="left")
    summary.add_column(style="bold", no_wrap=True)
    summary.add_column(overflow="fold")
    for label, value in summary_rows(report):
        summary.add_row(label, value)
    latency = Table(*LATENCY_HEADER, caption=P999_NOTE, caption_justify="left")
    for row in latency_rows(report):
        latency.add_row(*row)
    errors = Table(*ERRORS_HEADER)
    for kind, count in error_rows(report):
        errors.add_row(kind, count)
    return Group(summary, latency, errors)


def _md_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return [*lines, ""]


def markdown(report: Report, alerts: list[AlertResult] | None = None) -> str:
    """The report as Markdown: a heading, then tables."""
    lines = [f"## duragent report: {title(report)}", ""]
    lines += _md_table(("figure", "value"), summary_rows(report))
    lines += _md_table(LATENCY_HEADER, latency_rows(report))
    lines += [f"_{P999_NOTE}_", ""]
    lines += _md_table(ERRORS_HEADER, error_rows(report))
    if alerts:
        lines += _md_table(
            ("alert", "state", "metric", "value", "fires when"),
            [
                (
                    a.rule.name,
                    "**FIRING**" if a.firing else ("no data" if a.value is None else "ok"),
                    a.rule.metric,
                    NO_DATA if a.value is None else f"{a.value:.6g}",
                    f"{a.rule.op} {a.rule.threshold:g}",
                )
                for a in alerts
            ],
        )
    return "\n".join(lines)
