"""``duragent run`` and ``duragent show``."""

from __future__ import annotations

import asyncio
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from temporalio.service import RPCError, RPCStatusCode

from duragent._messages import RunConfig, RunRequest, RunStatusView, StepRecord
from duragent._names import QUERY_STATUS, QUERY_STEPS
from duragent._spec import ModelRef
from duragent.cli._audit_cmds import print_audit
from duragent.cli._common import (
    Address,
    Namespace,
    connect_or_explain,
    console,
    err,
    fail,
    run_async,
    say,
    settings,
)
from duragent.cli._pollers import watch_for_workers
from duragent.cli._render import print_result, step_line
from duragent.cli._runs import ARTIFACTS, fetch, follow, save_and_list, start

ArtifactsDir = Annotated[
    Path | None,
    typer.Option(
        help="Save the files the run produced (charts, reports) under DIR/<run id>/; not with "
        "--json, whose output carries them [default: $DURAGENT_HOME/artifacts]",
        metavar="DIR",
    ),
]


@run_async
async def run(
    agent: Annotated[str, typer.Argument(help="Entry agent, e.g. support")],
    text: Annotated[str, typer.Argument(metavar="INPUT", help="The user's message")],
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the result and print it")] = False,
    follow_: Annotated[
        bool, typer.Option("--follow", help="Print steps as they happen (implies --wait)")
    ] = False,
    model: Annotated[
        str | None, typer.Option(help="Run every agent on this model, e.g. openai/gpt-4.1-mini")
    ] = None,
    max_turns: Annotated[int | None, typer.Option(help="Override the agents' max_turns")] = None,
    tenant: Annotated[str | None, typer.Option(help="Tenant, searchable as DuragentTenant")] = None,
    user: Annotated[str | None, typer.Option(help="The end user the run acts for")] = None,
    task_queue: Annotated[
        str | None, typer.Option(help="Task queue of the workers [env DURAGENT_TASK_QUEUE]")
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print the RunResult as JSON")] = False,
    artifacts_dir: ArtifactsDir = None,
    address: Address = None,
    namespace: Namespace = None,
) -> None:
    """Start an agent run; with --wait or --follow, print the result table, save the files the run
    produced (charts, under $DURAGENT_HOME/artifacts/<run id>/) and exit 0 if completed."""
    s = settings(address, namespace, task_queue=task_queue)
    try:
        config = RunConfig(
            model=ModelRef.model_validate(model) if model else None, max_turns=max_turns
        )
        request = RunRequest(agent=agent, input=text, tenant=tenant, user=user, run_config=config)
    except ValidationError as exc:
        fail("; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors()))
    client = await connect_or_explain(s)
    handle = await start(client, request, task_queue=s.task_queue)
    link = s.run_url(handle.id)
    if not (wait or follow_):
        say(console, f"started [bold]{handle.id}[/]\n{link}")
        return
    if follow_:
        say(console, f"[dim]following {handle.id} — {link}[/]")
    # On stderr: the hint must not end up in --json output.
    watcher = asyncio.create_task(watch_for_workers(client, s.task_queue, err))
    try:
        result = await (follow(console, handle) if follow_ else handle.result())
    finally:
        watcher.cancel()
    if json_:
        print(result.model_dump_json(indent=2))
    else:
        print_result(console, result, ui_link=s.run_url(handle.id, result.run_id))
        save_and_list(console, result, artifacts_dir or s.home / ARTIFACTS)
    if result.status != "completed":
        raise typer.Exit(1)


def audit_rows(location: str, workflow_id: str) -> list[dict[str, Any]]:
    """The run's records as the hash-chained audit log holds them (not Temporal's history)."""
    from duragent.audit import AuditError, open_audit_log

    try:
        with open_audit_log(location, create=False) as log:
            return log.records_for(workflow_id)
    except AuditError as exc:
        fail(f"{exc} (set DURAGENT_HOME or DURAGENT_AUDIT_LOG to the workers' audit log)")


class ShowFormat(StrEnum):
    table = "table"
    json = "json"


SHOW_KEYS = ("workflow_id", "temporal_status", "status", "result", "progress", "steps", "audit")
"""The keys of ``show --format json``, always all present (null when not known)."""


@run_async
async def show(
    workflow_id: Annotated[
        str, typer.Argument(metavar="RUN", help="Workflow id, e.g. run-support-1a2b3c4d5e")
    ],
    json_: Annotated[
        bool, typer.Option("--json", help="Print only the RunResult as JSON (a finished run)")
    ] = False,
    format_: Annotated[
        ShowFormat,
        typer.Option(
            "--format",
            help="table, or json: one object with the keys "
            + ", ".join(SHOW_KEYS)
            + " (with --audit, only the audit log is read: the others are null)",
        ),
    ] = ShowFormat.table,
    audit: Annotated[
        bool, typer.Option("--audit", help="Print the run's records from the audit log")
    ] = False,
    artifacts_dir: ArtifactsDir = None,
    address: Address = None,
    namespace: Namespace = None,
) -> None:
    """Show a run: its result (saving the files it produced) once finished, its status and steps
    so far while running."""
    s = settings(address, namespace)
    as_json = format_ is ShowFormat.json
    if json_ and as_json:
        fail("--json prints the RunResult alone, --format json the whole run: use one")
    document: dict[str, Any] = dict.fromkeys(SHOW_KEYS)
    document["workflow_id"] = workflow_id
    if audit:
        rows = audit_rows(s.audit_log, workflow_id)
        if as_json:
            print(json.dumps(document | {"audit": rows}, indent=2, ensure_ascii=False))
        else:
            print_audit(console, rows)
        return
    client = await connect_or_explain(s)
    try:
        status, result = await fetch(client, workflow_id)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            fail(f"no run {workflow_id!r} in namespace {s.namespace!r}")
        raise
    document["temporal_status"] = status
    if result is not None:
        if json_:
            print(result.model_dump_json(indent=2))
            return
        if as_json:
            dumped = result.model_dump(mode="json")
            document |= {"status": result.status, "result": dumped, "steps": dumped["steps"]}
            print(json.dumps(document, indent=2, ensure_ascii=False))
            return
        for step in result.steps:
            say(console, step_line(step))
        print_result(console, result, ui_link=s.run_url(workflow_id, result.run_id))
        save_and_list(console, result, artifacts_dir or s.home / ARTIFACTS)
        return
    handle = client.get_workflow_handle(workflow_id)
    view: RunStatusView | None = None
    steps: list[StepRecord] = []
    if status == "RUNNING":
        view = await handle.query(QUERY_STATUS, result_type=RunStatusView)
        steps = await handle.query(QUERY_STEPS, 0, result_type=list[StepRecord])
    if as_json:
        if view is not None:
            document |= {"status": view.status, "progress": view.model_dump(mode="json")}
        document["steps"] = [step.model_dump(mode="json") for step in steps]
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return
    say(console, f"[bold]{workflow_id}[/]: Temporal status {status}")
    for step in steps:
        say(console, step_line(step))
    if view is not None:
        say(
            console,
            f"status {view.status}, agent {view.agent}, turn {view.turn}, "
            f"{view.usage.total_tokens} tokens, ${view.cost_usd:.6f}",
        )
    say(console, s.run_url(workflow_id))
