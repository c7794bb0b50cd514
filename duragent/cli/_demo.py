"""The demo: run an app's scenarios through real workflows and show what happened."""

from __future__ import annotations

import asyncio
import importlib
import json

from rich.table import Table
from rich.text import Text
from temporalio.client import Client

from duragent._approvals import ApprovalDecision, ApprovalOutcome, ApprovalRequest
from duragent._messages import RunRequest, RunResult
from duragent._names import QUERY_PENDING, UPDATE_DECIDE
from duragent.cli._common import console
from duragent.cli._render import STATUS_STYLE, print_result
from duragent.cli._runs import ARTIFACTS, follow, save_and_list, start
from duragent.settings import Settings

FALLBACK_SCENARIOS = ["Hello!"]


async def approval_walkthrough(
    client: Client, s: Settings, agent: str, text: str, module: object
) -> RunResult:
    """A run that pauses for a human: show what waits, the commands that decide it, then decide."""
    approver = str(getattr(module, "DEMO_APPROVER", "lead"))
    console.rule(f"[bold]{agent}[/]: {text}  [magenta](needs a human)[/]")
    handle = await start(client, RunRequest(agent=agent, input=text), task_queue=s.task_queue)
    pending: list[ApprovalRequest] = []
    for _ in range(600):
        pending = await handle.query(QUERY_PENDING, result_type=list[ApprovalRequest])
        if pending:
            break
        await asyncio.sleep(0.05)
    if not pending:
        return await follow(console, handle)
    request = pending[0]
    console.print(
        f"[magenta]paused[/]: step {request.step_id} wants [bold]{request.tool or request.kind}[/] "
        f"{request.arguments} — {request.reason}"
    )
    decision = {
        "step_id": request.step_id,
        "approver": approver,
        "reason": "demo: checked the order",
    }
    console.print("A human decides it with any of:")
    console.print(
        f'  .venv/bin/duragent approve {handle.id} {request.step_id} --by {approver} --reason "checked the order"'
    )
    console.print(
        f"  .venv/bin/temporal workflow signal --workflow-id {handle.id} --name approve "
        f"--input '{json.dumps(decision)}'"
    )
    console.print(
        f"  or the Web UI's signal form on {s.run_url(handle.id)} (signal 'approve', same JSON)"
    )
    console.print(f"[dim]the demo approves it now, as {approver}:[/]")
    await handle.execute_update(
        UPDATE_DECIDE, ApprovalDecision.model_validate(decision), result_type=ApprovalOutcome
    )
    result = await follow(console, handle)
    print_result(console, result, ui_link=s.run_url(handle.id, result.run_id))
    save_and_list(console, result, s.home / ARTIFACTS)
    console.print(f"Its audit trail: .venv/bin/duragent show {handle.id} --audit")
    return result


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
        save_and_list(console, result, s.home / ARTIFACTS)
        results.append((text, result))
    module = importlib.import_module(app_ref.partition(":")[0])
    approval = getattr(module, "APPROVAL_SCENARIO", None)
    if approval:
        results.append((approval, await approval_walkthrough(client, s, agent, approval, module)))
    summary = Table(title="demo summary", title_justify="left")
    for column in ("input", "status", "agent path", "tokens", "cost", "latency"):
        summary.add_column(column, overflow="fold")
    for text, r in results:
        style = STATUS_STYLE.get(r.status, "white")
        summary.add_row(
            Text(text),
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
    console.print(f"P50/P99/P999, cost, errors: .venv/bin/duragent report --agent {agent}")
    return all(r.status == "completed" for _, r in results)
