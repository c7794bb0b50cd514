"""``duragent approvals``, ``approve`` and ``reject``: humans deciding paused steps.

Decisions go through the ``decide`` update, validated before it enters history; the update id is
the decision's approval id, so a repeated command returns the first outcome instead of deciding
twice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table
from rich.text import Text
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from duragent._approvals import ApprovalDecision, ApprovalOutcome, ApprovalRequest, args_hash
from duragent._names import QUERY_PENDING, SA_PENDING, UPDATE_DECIDE
from duragent.approval_tokens import sign_token
from duragent.cli._common import (
    Address,
    Namespace,
    connect_or_explain,
    console,
    fail,
    print_wide,
    run_async,
    settings,
)


async def pending_of(client: Client, workflow_id: str) -> list[ApprovalRequest]:
    handle = client.get_workflow_handle(workflow_id)
    return await handle.query(QUERY_PENDING, result_type=list[ApprovalRequest])


async def list_pending(client: Client, agent: str | None) -> list[tuple[str, ApprovalRequest]]:
    """Every pending step of every running run, found through visibility, then queried."""
    query = f'{SA_PENDING.name} > 0 AND ExecutionStatus = "Running"'
    if agent:
        query += f' AND DuragentAgent = "{agent}"'
    found: list[tuple[str, ApprovalRequest]] = []
    async for execution in client.list_workflows(query):
        try:
            for request in await pending_of(client, execution.id):
                found.append((execution.id, request))
        except RPCError:
            continue  # closed between the listing and the query
    return found


def _args(request: ApprovalRequest) -> str:
    if request.kind == "review":
        return (request.output or "")[:80]
    return json.dumps(request.arguments or {}, ensure_ascii=False)[:80]


@run_async
async def approvals(
    agent: Annotated[str | None, typer.Option(help="Only runs whose active agent is this")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON lines")] = False,
    address: Address = None,
    namespace: Namespace = None,
) -> None:
    """List the steps waiting for a human decision, with the command that decides each."""
    s = settings(address, namespace)
    client = await connect_or_explain(s)
    found = await list_pending(client, agent)
    if json_:
        for workflow_id, request in found:
            print(json.dumps({"workflow_id": workflow_id, **request.model_dump(mode="json")}))
        return
    if not found:
        console.print("no steps are waiting for a decision")
        return
    table = Table(title=f"{len(found)} pending", title_justify="left")
    for column in (
        "run",
        "step",
        "kind",
        "tool / answer",
        "arguments",
        "why",
        "who may decide",
        "expires",
    ):
        table.add_column(column, overflow="fold")
    for workflow_id, r in found:
        who = (
            r.escalate_to if r.escalated else r.approvers + [f"role:{x}" for x in r.approver_roles]
        )
        # Text cells: reasons and arguments come from models and rules, never read as markup.
        table.add_row(*map(Text, (
            workflow_id, r.step_id, r.kind, r.tool or ("answer" if r.kind == "review" else "input"),
            _args(r), f"{r.rule or 'review'}: {r.reason}", ", ".join(who), r.expires_at.isoformat(timespec="seconds"),
        )))  # fmt: skip
    print_wide(console, table)
    for workflow_id, r in found:
        console.print(f'  duragent approve {workflow_id} {r.step_id} --by NAME --reason "..."')


def _load_key(key_file: Path | None) -> str:
    if key_file is not None:
        return key_file.read_text(encoding="utf-8").strip()
    key = os.environ.get("DURAGENT_APPROVER_KEY")
    if not key:
        fail("--sign needs your key: set DURAGENT_APPROVER_KEY or pass --key-file")
    return key


async def _decide(
    s_address: str | None,
    s_namespace: str | None,
    workflow_id: str,
    fields: dict[str, Any],
    *,
    sign: bool,
    key_file: Path | None,
    ttl_s: float,
) -> None:
    s = settings(s_address, s_namespace)
    client = await connect_or_explain(s)
    if sign:
        try:
            pending = {r.step_id: r for r in await pending_of(client, workflow_id)}
        except RPCError as exc:
            fail(f"cannot read run {workflow_id!r}: {exc.message}")
        request = pending.get(fields["step_id"])
        if request is None:
            fail(f"step {fields['step_id']!r} of {workflow_id} is not waiting for a decision")
        bound: str | None
        if fields.get("arguments") is not None:
            bound = args_hash(fields["arguments"])
        elif fields["action"] == "edit" and request.kind != "tool_call":
            bound = args_hash({request.kind: fields.get("response")})
        else:
            bound = request.args_hash
        fields["token"] = sign_token(
            _load_key(key_file), workflow_id=workflow_id, step_id=request.step_id,
            approver=fields["approver"], args_hash=bound, ttl_s=ttl_s,
            action=fields["action"], response=fields.get("response"),
        )  # fmt: skip
    try:
        decision = ApprovalDecision.model_validate(fields)
    except ValidationError as exc:
        fail("; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors()))
    handle = client.get_workflow_handle(workflow_id)
    try:
        outcome = await handle.execute_update(
            UPDATE_DECIDE, decision, id=decision.approval_id, result_type=ApprovalOutcome
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        fail(f"refused: {getattr(cause, 'message', None) or cause}")
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            fail(f"no running run {workflow_id!r} in namespace {s.namespace!r}")
        fail(f"could not decide: {exc.message}")
    if not outcome.accepted:
        fail(f"refused: {outcome.reason}", code=1)
    console.print(
        f"[green]{outcome.action}[/] {workflow_id} step {outcome.step_id} by {outcome.approver} "
        f"(recorded as {outcome.record_step_id})"
    )


Run = Annotated[str, typer.Argument(metavar="RUN", help="Workflow id of the run")]
Step = Annotated[str, typer.Argument(metavar="STEP", help="The pending step, e.g. s4")]
By = Annotated[str, typer.Option("--by", help="Who decides (an approver name)")]
Reason = Annotated[str, typer.Option(help="Why; recorded in the audit trail")]
Sign = Annotated[
    bool, typer.Option("--sign", help="Attach a token signed with your key (DURAGENT_APPROVER_KEY)")
]
KeyFile = Annotated[
    Path | None, typer.Option(help="File holding your approval key (instead of the env)")
]
Ttl = Annotated[float, typer.Option(help="Seconds the signed token stays valid")]


@run_async
async def approve(
    run: Run,
    step: Step,
    by: By,
    reason: Reason = "",
    args: Annotated[
        str | None, typer.Option("--args", help="Approve with these arguments instead (JSON)")
    ] = None,
    respond: Annotated[
        str | None, typer.Option(help="Do not run the tool; tell the model this instead")
    ] = None,
    edit: Annotated[
        str | None, typer.Option(help="For a review: replace the answer with this text")
    ] = None,
    sign: Sign = False,
    key_file: KeyFile = None,
    ttl: Ttl = 900,
    address: Address = None,
    namespace: Namespace = None,
) -> None:
    """Approve a pending step (or edit its arguments, or answer in its place)."""
    fields: dict[str, Any] = {
        "step_id": step,
        "approver": by,
        "reason": reason,
        "action": "approve",
    }
    if sum(x is not None for x in (args, respond, edit)) > 1:
        fail("give at most one of --args, --respond, --edit")
    if args is not None:
        try:
            parsed = json.loads(args)
        except json.JSONDecodeError as exc:
            fail(f"--args is not valid JSON: {exc}")
        if not isinstance(parsed, dict):
            fail("--args must be a JSON object, e.g. '{\"amount\": 50}'")
        fields.update(action="edit", arguments=parsed)
    elif respond is not None:
        fields.update(action="respond", response=respond)
    elif edit is not None:
        fields.update(action="edit", response=edit)
    await _decide(address, namespace, run, fields, sign=sign, key_file=key_file, ttl_s=ttl)


@run_async
async def reject(
    run: Run,
    step: Step,
    by: By,
    reason: Reason = "",
    sign: Sign = False,
    key_file: KeyFile = None,
    ttl: Ttl = 900,
    address: Address = None,
    namespace: Namespace = None,
) -> None:
    """Reject a pending step: the tool is not run (or the answer not given)."""
    fields = {"step_id": step, "approver": by, "reason": reason, "action": "reject"}
    await _decide(address, namespace, run, fields, sign=sign, key_file=key_file, ttl_s=ttl)
