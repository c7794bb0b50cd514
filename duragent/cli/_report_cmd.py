"""``duragent report``: P50/P99/P999 latency, cost, errors and approvals of recent runs.

Exit codes: 0, or 1 when ``--alerts`` found a rule firing, or 2 on bad input (a ``--since``
that is not a duration, an invalid rules file, ``--plot`` without matplotlib).
"""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from duragent.cli._audit_cmds import parse_when
from duragent.cli._common import (
    Address,
    Namespace,
    connect_or_explain,
    console,
    err,
    fail,
    print_wide,
    run_async,
    say,
    settings,
)
from duragent.cli._render import STATUS_STYLE
from duragent.cli._report_render import markdown, nothing, tables
from duragent.cli._report_runs import compute_report
from duragent.report import (
    DEFAULT_RULES,
    PLOT_EXTRA,
    AlertResult,
    AlertRule,
    evaluate_alerts,
    load_alert_rules,
    write_plot,
)


class Format(StrEnum):
    table = "table"
    json = "json"
    md = "md"


SINCE_HELP = "30s, 15m, 1h, 2d (that long ago) or an ISO datetime (UTC if no zone)"


def _rules(alerts: bool, rules_file: Path | None) -> list[AlertRule] | None:
    if rules_file is not None:
        return load_alert_rules(rules_file)  # a SpecError names the file and field: exit 2
    return list(DEFAULT_RULES) if alerts else None


def _print_alerts(verdicts: list[AlertResult], *, to_stderr: bool) -> None:
    out = err if to_stderr else console
    for verdict in verdicts:
        mark = (
            "[red]✗[/]"
            if verdict.firing
            else "[dim]·[/]"
            if verdict.value is None
            else "[green]✓[/]"
        )
        out.print(f"{mark} {verdict.message}", soft_wrap=True)


@run_async
async def report(
    since: Annotated[str, typer.Option(help=f"Runs started since: {SINCE_HELP}")] = "1h",
    agent: Annotated[
        str | None, typer.Option(help="Only runs whose entry agent is this one, e.g. support")
    ] = None,
    format_: Annotated[Format, typer.Option("--format", help="table, json or md")] = Format.table,
    alerts: Annotated[
        bool,
        typer.Option(
            "--alerts",
            help="Evaluate the alert rules (P99 > 5 s, cost > $0.10/request, errors > 5%); "
            "exit 1 when one fires",
        ),
    ] = False,
    alert_rules: Annotated[
        Path | None,
        typer.Option(help="YAML file of alert rules to evaluate instead (implies --alerts)"),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="Write a PNG: latency histogram, cost and errors over time"),
    ] = None,
    address: Address = None,
    namespace: Namespace = None,
) -> None:
    """Latency (P50/P99/P999, total and per layer), cost, tokens, errors and approvals of the
    runs started in a window, computed from the runs themselves: no Prometheus needed."""
    try:
        start = parse_when(since)
    except ValueError:
        fail(f"--since {since!r}: expected {SINCE_HELP}, e.g. 1h or 2026-01-31T12:00:00Z")
    if start > datetime.now(UTC):
        fail(f"--since {since!r} is in the future")
    rules = _rules(alerts, alert_rules)
    if plot is not None and importlib.util.find_spec("matplotlib") is None:
        fail(f"--plot needs matplotlib: {PLOT_EXTRA}")
    s = settings(address, namespace)
    client = await connect_or_explain(s)
    unreadable: list[str] = []
    result, samples = await compute_report(client, start, agent=agent, unreadable=unreadable)
    if unreadable:
        err.print(
            f"{len(unreadable)} completed run(s) could not be read and are left out (first: "
            f"{unreadable[0]}); does this client share the workers' DURAGENT_PAYLOAD_STORE and "
            "encryption keys?",
            markup=False,
        )
    verdicts = evaluate_alerts(result, rules) if rules is not None else None

    alerts_in_output = False
    if format_ is Format.json:
        data = result.model_dump(mode="json")
        if verdicts is not None:
            data["alerts"] = [v.model_dump(mode="json") | {"message": v.message} for v in verdicts]
        print(json.dumps(data, indent=2))
        if not result.runs:
            err.print(nothing(result))
    elif not result.runs:
        say(console, nothing(result))
    elif format_ is Format.md:
        print(markdown(result, verdicts))
        alerts_in_output = True
    else:
        print_wide(console, tables(result))
    if verdicts is not None and not alerts_in_output:
        _print_alerts(verdicts, to_stderr=format_ is Format.json)

    if plot is not None:
        if result.finished:
            try:
                written = write_plot(result, samples, plot)
            except OSError as exc:
                fail(f"--plot {plot}: cannot write it: {exc.strerror or exc}")
            err.print(f"wrote {written}")
        else:
            err.print("no finished runs: nothing to plot")
    firing = [v.rule.name for v in verdicts or () if v.firing]
    if firing:
        err.print(f"[{STATUS_STYLE['failed']}]alert firing:[/] {', '.join(firing)}")
        raise typer.Exit(1)
