"""The demo: run an app's scenarios through real workflows and show what happened."""

from __future__ import annotations

import importlib

from rich.table import Table
from temporalio.client import Client

from duragent._messages import RunRequest, RunResult
from duragent.cli._common import console
from duragent.cli._render import STATUS_STYLE, print_result
from duragent.cli._runs import follow, start
from duragent.settings import Settings

FALLBACK_SCENARIOS = ["Hello!"]


def scenarios_of(app_ref: str) -> tuple[str, list[str]]:
    """The entry agent and inputs a demo runs: the app module's ``ENTRY_AGENT`` and ``SCENARIOS``."""
    module = importlib.import_module(app_ref.partition(":")[0])
    agent = getattr(module, "ENTRY_AGENT", "support")
    return agent, list(getattr(module, "SCENARIOS", FALLBACK_SCENARIOS))


async def run_scenarios(client: Client, s: Settings, app_ref: str) -> bool:
    """Run every scenario, following each; print a summary. True when all completed."""
    agent, inputs = scenarios_of(app_ref)
    results: list[tuple[str, RunResult]] = []
    for text in inputs:
        console.rule(f"[bold]{agent}[/]: {text}")
        handle = await start(client, RunRequest(agent=agent, input=text), task_queue=s.task_queue)
        result = await follow(console, handle)
        print_result(console, result, ui_link=s.run_url(handle.id, result.run_id))
        results.append((text, result))
    summary = Table(title="demo summary", title_justify="left")
    for column in ("input", "status", "agent path", "tokens", "cost", "latency"):
        summary.add_column(column, overflow="fold")
    for text, r in results:
        style = STATUS_STYLE.get(r.status, "white")
        summary.add_row(
            text,
            f"[{style}]{r.status}[/]",
            " → ".join(r.agent_path),
            str(r.usage.total_tokens),
            f"${r.cost_usd:.6f}",
            f"{r.latency.total_ms:.0f} ms",
        )
    console.print(summary)
    console.print(
        f"Web UI: [bold]{s.ui_url}/namespaces/{s.namespace}/workflows[/] "
        "(filter with DuragentAgent, DuragentStatus, DuragentCostUsd)"
    )
    return all(r.status == "completed" for _, r in results)
