"""Attacks on governance, on a real dev server: argument encodings, edits, forged decisions.

A hostile model is the scripted model obeying a script that sends exactly the call an attacker
wants; decisions are sent the ways a person or a script can send them: the ``decide`` update,
the signals through the Python client, and the stock ``temporal`` CLI. Each repro of issue 12
asserts what a user would notice: money that did or did not move, a run that still answers.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.worker import Worker

from duragent import Agent, App, RunRequest, RunResult
from duragent._approvals import ApprovalDecision, ApprovalOutcome, ApprovalRequest, args_hash
from duragent.activities.models import ScriptedProvider
from duragent.approval_tokens import sign_token
from duragent.client import start_run
from duragent.examples.customer_support import db
from duragent.examples.customer_support.app import app as support_app
from duragent.settings import Settings
from tests.conftest import BIN, new_worker, wait_for_pending

FINANCE_RULE = {
    "name": "refund_over_500",
    "stage": "tool_call",
    "when": {"tool": "refund_order", "args": {"amount": {"gt": 500}}},
    "action": "require_approval",
    "approver_roles": ["finance"],
    "message": "Refunds over $500 need finance.",
    "timeout_s": 600,
}


def hostile_app(amount_template: str = "{1}", *, finance: bool = False) -> App:
    """The support example's ``info`` agent and tools, its model scripted to send ``amount``
    exactly as the input spells it: ``refund 1006 amount <anything>``."""
    info = support_app.agent("info")
    script = [
        {
            "when": r"^refund (\d+) amount (.+)$",
            "call": {
                "tool": "refund_order",
                "arguments": {"order_id": "{1}", "amount": amount_template.replace("{1}", "{2}")},
            },
        },
        {"on": "tool", "tool": "refund_order", "when": "(.+)", "say": "Tool said: {1}"},
        {"say": "ok"},
    ]
    rules = [rule.model_dump(by_alias=True) for rule in info.guardrails]
    if finance:
        rules.append(FINANCE_RULE)
    agent = Agent(
        name="info",
        model="scripted/support-info",
        tools=list(info.tools),
        script=script,
        guardrails=rules,
    )
    approvers = dict(support_app.approvers)
    approvers["fiona"] = ["finance"]
    return App(agents=[agent], tools=list(support_app.tools.values()), approvers=approvers)


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "support.db"
    monkeypatch.setenv(db.ENV_VAR, str(path))
    return path


def refunded(path: Path) -> list[tuple[str, int]]:
    """Every refund the support tool actually made: (order, cents)."""
    assert db.database_path() == path
    with db.connect() as conn:
        return [(r["order_id"], r["amount_cents"]) for r in conn.execute("SELECT * FROM refunds")]


@pytest.fixture
async def worker(client: Client, database: Path) -> AsyncIterator[Worker]:
    async with new_worker(client, hostile_app(), providers={"scripted": ScriptedProvider()}) as w:
        yield w


async def run(
    client: Client, worker: Worker, text: str, *, user: str | None = None
) -> WorkflowHandle[Any, RunResult]:
    return await start_run(
        client, RunRequest(agent="info", input=text, user=user), task_queue=worker.task_queue
    )


def told(result: RunResult) -> str:
    return result.output or ""


# --- one value, fail closed -----------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["1_50", "1_000", " 150", "+150", "inf", "NaN", "1e3 "])
async def test_an_over_limit_amount_in_a_loose_spelling_never_refunds_unapproved(
    client: Client, worker: Worker, database: Path, spelling: str
) -> None:
    # The repro: {"order_id": "1006", "amount": "1_50"} refunded $150 with no approval.
    handle = await run(client, worker, f"refund 1006 amount {spelling}")
    result = await asyncio.wait_for(handle.result(), 30)
    assert refunded(database) == []
    assert result.status == "completed"
    assert "invalid arguments for tool 'refund_order'" in told(result)
    assert result.errors.get("validation_error") == 1
    refusal = [s for s in result.steps if s.kind == "tool_error"]
    assert refusal and refusal[0].detail == "validation_error"
    assert "amount" in (refusal[0].output or "")


async def test_a_plain_numeric_string_is_read_as_the_number_the_rule_compares(
    client: Client, worker: Worker, database: Path
) -> None:
    handle = await run(client, worker, "refund 1006 amount 150")
    (request,) = await wait_for_pending(handle)
    assert request.arguments is not None and request.arguments["amount"] == 150
    assert refunded(database) == []  # waiting for a lead, nothing moved
    await handle.terminate("test over")


async def test_the_tool_refuses_a_value_read_differently_from_what_rules_saw() -> None:
    # The tool-side half, for calls that reach a tool without the workflow's settling (a
    # reconcile hook, a direct call): never run on a value the rules did not see.
    tool = support_app.tool("refund_order")
    with pytest.raises(ValueError, match="would be read as"):
        tool.parse_arguments({"order_id": "1006", "amount": "1_50"})
    assert tool.parse_arguments({"order_id": "1006", "amount": 150})["amount"] == 150


# --- every decision re-checked --------------------------------------------------------------


async def test_an_edit_that_needs_finance_waits_for_finance(client: Client, database: Path) -> None:
    app = hostile_app(finance=True)
    async with new_worker(client, app, providers={"scripted": ScriptedProvider()}) as worker:
        handle = await run(client, worker, "refund 1005 amount 150")
        (first,) = await wait_for_pending(handle)
        assert first.rule == "refund_over_100"
        edit = {"order_id": "1005", "amount": 700}
        outcome = await decide(handle, step_id=first.step_id, approver="lee", action="edit",
                               arguments=edit)  # fmt: skip
        assert outcome.accepted
        # The support lead's edit reaches finance's tier: the run asks finance, nothing moves.
        second = await wait_for_step(handle, lambda r: r.step_id != first.step_id)
        assert second.rule == "refund_over_500"
        assert second.arguments == {"order_id": "1005", "amount": 700, "reason": ""}
        assert refunded(database) == []
        assert "may not decide" in await refusal(handle, step_id=second.step_id, approver="lee")
        await decide(handle, step_id=second.step_id, approver="fiona")
        result = await asyncio.wait_for(handle.result(), 30)
    assert refunded(database) == [("1005", 70000)], result.output
    edited = [s for s in result.steps if s.kind == "approval_decided" and s.action == "edit"]
    assert edited and edited[0].arguments == edit and edited[0].approver == "lee"


async def test_a_call_two_approval_rules_match_needs_both_approvers(
    client: Client, database: Path
) -> None:
    # Before, the first matching rule alone decided who approves: a lead approved $700.
    app = hostile_app(finance=True)
    async with new_worker(client, app, providers={"scripted": ScriptedProvider()}) as worker:
        handle = await run(client, worker, "refund 1005 amount 700")
        (first,) = await wait_for_pending(handle)
        assert first.rule == "refund_over_100"
        await decide(handle, step_id=first.step_id, approver="lee")
        second = await wait_for_step(handle, lambda r: r.step_id != first.step_id)
        assert second.rule == "refund_over_500"
        assert refunded(database) == []
        await decide(handle, step_id=second.step_id, approver="fiona")
        await asyncio.wait_for(handle.result(), 30)
    assert refunded(database) == [("1005", 70000)]


async def test_an_edit_into_a_blocked_call_is_refused(client: Client, database: Path) -> None:
    block = {
        "name": "no_huge_refunds",
        "stage": "tool_call",
        "when": {"tool": "refund_order", "args": {"amount": {"gt": 1000}}},
        "action": "block",
    }
    app = hostile_app()
    info = app.agent("info")
    rules = [r.model_dump(by_alias=True) for r in info.guardrails] + [block]
    agent = Agent(name="info", model=info.model, tools=info.tools, script=info.script,
                  guardrails=rules)  # fmt: skip
    app = App(agents=[agent], tools=list(app.tools.values()), approvers=app.approvers)
    async with new_worker(client, app, providers={"scripted": ScriptedProvider()}) as worker:
        handle = await run(client, worker, "refund 1006 amount 150")
        (first,) = await wait_for_pending(handle)
        await decide(handle, step_id=first.step_id, approver="lee", action="edit",
                     arguments={"order_id": "1006", "amount": 5000})  # fmt: skip
        result = await asyncio.wait_for(handle.result(), 30)
    assert refunded(database) == []
    assert result.status == "rejected"  # the rule's on_block: end_run
    assert "blocked by policy" in (result.error or "")


async def test_an_edit_must_be_written_as_it_will_run(
    client: Client, worker: Worker, database: Path
) -> None:
    handle = await run(client, worker, "refund 1006 amount 150")
    (first,) = await wait_for_pending(handle)
    loose = {"order_id": "1006", "amount": "9_99"}
    why = await refusal(handle, step_id=first.step_id, approver="lee", action="edit",
                        arguments=loose)  # fmt: skip
    assert "edited arguments for 'refund_order' are invalid" in why and "amount" in why
    coerced = {"order_id": "1006", "amount": "99"}
    why = await refusal(handle, step_id=first.step_id, approver="lee", action="edit",
                        arguments=coerced)  # fmt: skip
    assert 'amount: write 99, not "99"' in why
    # The same through a signal: refused and recorded, and the request still waits.
    await handle.signal("approve", {"step_id": first.step_id, "approver": "lee",
                                    "action": "edit", "arguments": loose})  # fmt: skip
    refused = await wait_for_steps(handle, "approval_refused")
    assert "invalid" in (refused[-1].reason or "")
    assert [r.step_id for r in await pending_of(handle)] == [first.step_id]
    await decide(handle, step_id=first.step_id, approver="lee", action="edit",
                 arguments={"order_id": "1006", "amount": 99})  # fmt: skip
    await asyncio.wait_for(handle.result(), 30)
    assert refunded(database) == [("1006", 9900)]


async def test_a_redact_rule_applies_when_an_approval_rule_decides(
    client: Client, database: Path
) -> None:
    # Found by the red team: when an input approval rule outranked a redact rule, the approver
    # and the model saw the raw card number.
    app = hostile_app()
    info = app.agent("info")
    redact = [r.model_dump(by_alias=True) for r in support_app.agent("support").guardrails]
    ask = {"name": "refund_input_needs_ok", "stage": "input", "when": {"contains": "refund"},
           "action": "require_approval", "approvers": ["lee"], "timeout_s": 600}  # fmt: skip
    agent = Agent(name="info", model=info.model, tools=info.tools, script=info.script,
                  guardrails=[*redact, ask])  # fmt: skip
    app = App(agents=[agent], tools=list(app.tools.values()), approvers=app.approvers)
    card = "4111 1111 1111 1111"
    async with new_worker(client, app, providers={"scripted": ScriptedProvider()}) as worker:
        handle = await run(client, worker, f"refund 1006 amount 50 card {card}")
        (request,) = await wait_for_pending(handle)
        assert card not in json.dumps(request.arguments)
        await decide(handle, step_id=request.step_id, approver="lee")
        result = await asyncio.wait_for(handle.result(), 30)
        transcript = await handle.query("transcript")
    assert card not in json.dumps(transcript) and card not in result.model_dump_json()


# --- signals that cannot break a run ----------------------------------------------------------


def temporal_signal(
    client: Client, workflow_id: str, name: str, *inputs: str, extra: tuple[str, ...] = ()
) -> None:
    """Send a signal as a person would, with the stock ``temporal`` CLI."""
    address = client.service_client.config.target_host
    command = [str(BIN / "temporal"), "workflow", "signal", "--address", address,
               "--workflow-id", workflow_id, "--name", name, *extra]  # fmt: skip
    for value in inputs:
        command += ["--input", value]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("name", "inputs"),
    [
        ("approve", ()),
        ("approve", ('{"step_id": "s1", "approver": "lee"}', '"second"')),
        ("reject", ("null",)),
        ("approve", ('"approve please"',)),
        ("approve", ("[1, 2, 3]",)),
        ("approve", ('{"step_id": ["x"], "approver": {"a": 1}}',)),
        ("approve", ('{"step_id": "s2", "approver": "lee", "arguments": 5}',)),
        ("no_such_signal", ('{"x": 1}',)),
    ],
    ids=["none", "two", "null", "string", "list", "wrong types", "bad args", "unknown"],
)
async def test_a_malformed_signal_leaves_the_run_healthy_and_decidable(
    client: Client, worker: Worker, database: Path, name: str, inputs: tuple[str, ...]
) -> None:
    handle = await run(client, worker, "refund 1006 amount 150")
    (request,) = await wait_for_pending(handle)
    temporal_signal(client, handle.id, name, *inputs)
    # Refused and recorded; the run still answers queries and takes the real decision.
    refused = await wait_for_steps(handle, "approval_refused")
    assert refused[-1].via == "signal"
    assert [r.step_id for r in await pending_of(handle)] == [request.step_id]
    await decide(handle, step_id=request.step_id, approver="lee")
    result = await asyncio.wait_for(handle.result(), 30)
    assert result.status == "completed"
    assert refunded(database) == [("1006", 15000)]


@pytest.mark.parametrize("key_id", ["k9", "k2"])
async def test_a_signal_that_cannot_be_decoded_leaves_the_run_decidable(
    client: Client, worker: Worker, database: Path, key_id: str
) -> None:
    # Found by the red team: a payload claiming duragent's encryption, with a key the worker
    # lacks (or none at all), failed decoding before any handler ran: every workflow task
    # failed, for good. The worker's codec now passes it on and the handler drops it.
    handle = await run(client, worker, "refund 1006 amount 150")
    (request,) = await wait_for_pending(handle)
    forged = ("--input-base64", "--input-meta", "encoding=binary/encrypted",
              "--input-meta", f"encryption-key-id={key_id}")  # fmt: skip
    temporal_signal(client, handle.id, "approve", "QUFBQQ==", extra=forged)
    await asyncio.sleep(0.5)  # the signal's workflow task
    assert [r.step_id for r in await pending_of(handle)] == [request.step_id]
    await decide(handle, step_id=request.step_id, approver="lee")
    assert (await asyncio.wait_for(handle.result(), 30)).status == "completed"
    assert refunded(database) == [("1006", 15000)]


async def test_a_huge_number_refuses_the_call_instead_of_failing_the_run(
    client: Client, worker: Worker, database: Path
) -> None:
    # Python reads at most 4,300 digits; int() of more raised out of the workflow, every task.
    handle = await run(client, worker, "refund 1006 amount " + "1" * 5000)
    result = await asyncio.wait_for(handle.result(), 30)
    assert result.status == "completed" and refunded(database) == []
    assert result.errors.get("validation_error") == 1
    # The same number in an approver's edit, by signal: refused and recorded.
    handle = await run(client, worker, "refund 1006 amount 150")
    (request,) = await wait_for_pending(handle)
    await handle.signal("approve", {"step_id": request.step_id, "approver": "lee",
                                    "action": "edit",
                                    "arguments": {"order_id": "1006", "amount": "1" * 5000}})  # fmt: skip
    await wait_for_steps(handle, "approval_refused")
    await decide(handle, step_id=request.step_id, approver="lee")
    assert (await asyncio.wait_for(handle.result(), 30)).status == "completed"


async def test_a_malformed_update_is_rejected_and_never_enters_history(
    client: Client, worker: Worker, database: Path
) -> None:
    handle = await run(client, worker, "refund 1006 amount 150")
    (request,) = await wait_for_pending(handle)
    before = len((await handle.fetch_history()).events)
    for args in ([], [{"step_id": request.step_id, "approver": "lee"}, "extra"], [None], ["x"]):
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update("decide", args=args)
    assert len((await handle.fetch_history()).events) == before
    await decide(handle, step_id=request.step_id, approver="lee")
    assert (await asyncio.wait_for(handle.result(), 30)).status == "completed"


LEE_KEY = "lee-signing-key-0123456789"


@asynccontextmanager
async def signed_worker(client: Client, tmp_path: Path) -> AsyncIterator[Worker]:
    """The hostile app with its refund rule demanding a signed token; lee holds a key."""
    app = hostile_app()
    info = app.agent("info")
    rules = [r.model_dump(by_alias=True) for r in info.guardrails]
    rules[0]["require_token"] = True
    agent = Agent(name="info", model=info.model, tools=info.tools, script=info.script,
                  guardrails=rules)  # fmt: skip
    app = App(agents=[agent], tools=list(app.tools.values()), approvers=app.approvers)
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(f"lee: {LEE_KEY}\n")
    settings = Settings(approver_keys_file=keys_file)
    async with new_worker(client, app, providers={"scripted": ScriptedProvider()},
                          settings=settings) as worker:  # fmt: skip
        yield worker


async def test_a_token_signed_to_reject_cannot_approve(
    client: Client, database: Path, tmp_path: Path
) -> None:
    # Found by the red team: tokens bound the arguments but not the action, so a reject token
    # (visible in history once sent) approved the refund. v2 tokens bind action and response.
    async with signed_worker(client, tmp_path) as worker:
        handle = await run(client, worker, "refund 1006 amount 150")
        (request,) = await wait_for_pending(handle)
        token = sign_token(LEE_KEY, workflow_id=handle.id, step_id=request.step_id,
                           approver="lee", args_hash=request.args_hash, action="reject")  # fmt: skip
        replayed = ApprovalDecision(step_id=request.step_id, approver="lee", token=token)
        outcome = await handle.execute_update(
            "decide", replayed, id=replayed.approval_id, result_type=ApprovalOutcome
        )
        assert not outcome.accepted and "does not match" in outcome.reason
        # A malformed token (a superscript digit once crashed the check) is refused at once.
        await handle.signal("approve", {"step_id": request.step_id, "approver": "lee",
                                        "token": "v1.\u00b2.x"})  # fmt: skip
        refused = await wait_for_steps(handle, "approval_refused")
        assert any("malformed approval token" in (r.reason or "") for r in refused)
        rejected = ApprovalDecision(step_id=request.step_id, approver="lee", action="reject",
                                    token=token)  # fmt: skip
        done = await handle.execute_update("decide", rejected, result_type=ApprovalOutcome)
        assert done.accepted and done.action == "reject"
        await asyncio.wait_for(handle.result(), 30)
    assert refunded(database) == []


async def test_a_planted_refusal_does_not_answer_the_real_approvers_command(
    client: Client, database: Path, tmp_path: Path
) -> None:
    # With a token required, a junk decision passes the validator (a token is present) and is
    # refused by the handler: a completed update. Under the old step:approver:action id, the
    # real approver's command then got that refusal back.
    keys = {"lee": LEE_KEY}
    async with signed_worker(client, tmp_path) as worker:
        handle = await run(client, worker, "refund 1006 amount 150")
        (request,) = await wait_for_pending(handle)
        junk = ApprovalDecision(
            step_id=request.step_id, approver="lee", token="v2.9999999999." + "0" * 64
        )
        planted = await handle.execute_update(
            "decide", junk, id=f"{request.step_id}:lee:approve", result_type=ApprovalOutcome
        )
        assert not planted.accepted
        token = sign_token(keys["lee"], workflow_id=handle.id, step_id=request.step_id,
                           approver="lee", args_hash=args_hash(request.arguments))  # fmt: skip
        real = ApprovalDecision(step_id=request.step_id, approver="lee", token=token)
        assert real.approval_id != f"{request.step_id}:lee:approve"
        outcome = await handle.execute_update(
            "decide", real, id=real.approval_id, result_type=ApprovalOutcome
        )
        assert outcome.accepted, outcome.reason
        # The same command again returns the first outcome, not a second decision.
        again = await handle.execute_update(
            "decide", real, id=real.approval_id, result_type=ApprovalOutcome
        )
        assert again == outcome
        await asyncio.wait_for(handle.result(), 30)
    assert refunded(database) == [("1006", 15000)]


@pytest.mark.parametrize("spelling", ["lee", "LEE", " Lee ", "\uff4c\uff45\uff45", "le\u200be"])
async def test_the_runs_own_user_cannot_approve_under_another_spelling(
    client: Client, worker: Worker, database: Path, spelling: str
) -> None:
    handle = await run(client, worker, "refund 1006 amount 150", user="LEE")
    (request,) = await wait_for_pending(handle)
    why = await refusal(handle, step_id=request.step_id, approver=spelling)
    assert "separation of duties" in why
    # The signal path runs the same check: refused and recorded, nothing refunded.
    await handle.signal("approve", {"step_id": request.step_id, "approver": spelling})
    refused = await wait_for_steps(handle, "approval_refused")
    assert "separation of duties" in (refused[-1].reason or "")
    assert refunded(database) == []
    await handle.terminate("test over")


async def test_a_listed_approver_is_recognised_in_any_spelling(
    client: Client, worker: Worker, database: Path
) -> None:
    handle = await run(client, worker, "refund 1006 amount 150")
    (request,) = await wait_for_pending(handle)
    outcome = await decide(handle, step_id=request.step_id, approver=" LEE ")
    assert outcome.accepted
    await asyncio.wait_for(handle.result(), 30)
    assert refunded(database) == [("1006", 15000)]


# --- helpers ----------------------------------------------------------------------------------


async def decide(handle: WorkflowHandle[Any, RunResult], **fields: Any) -> ApprovalOutcome:
    return await handle.execute_update("decide", fields, result_type=ApprovalOutcome)


async def refusal(handle: WorkflowHandle[Any, RunResult], **fields: Any) -> str:
    """Why the ``decide`` update refused these fields (it must refuse them)."""
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await decide(handle, **fields)
    return str(info.value.cause)


async def pending_of(handle: WorkflowHandle[Any, RunResult]) -> list[ApprovalRequest]:
    return await handle.query("pending_approvals", result_type=list[ApprovalRequest])


async def wait_for_step(handle: WorkflowHandle[Any, RunResult], test: Any) -> ApprovalRequest:
    for _ in range(200):
        found = [r for r in await pending_of(handle) if test(r)]
        if found:
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError("no such request")


async def wait_for_steps(handle: WorkflowHandle[Any, RunResult], kind: str) -> list[Any]:
    from duragent import StepRecord

    for _ in range(200):
        steps = await handle.query("steps", result_type=list[StepRecord])
        found = [s for s in steps if s.kind == kind]
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {kind} step")
