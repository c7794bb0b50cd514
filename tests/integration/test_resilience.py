"""Failure paths of a run: degraded outcomes, unknown tool outcomes, reconcile, retry policy."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import Client

from duragent import Agent, App, RunRequest, RunResult, ToolContext, tool
from duragent._approvals import ApprovalRequest
from duragent.activities.models import ScriptedProvider
from duragent.client import start_run
from tests.conftest import new_worker, wait_for_pending

SCRIPTED = {"scripted": ScriptedProvider()}
EFFECTS: list[str] = []
ATTEMPTS: list[int] = []
RECONCILED: list[int] = []


@tool(risk="write", idempotent=False, timeout=1)
async def wire_money(amount: int) -> str:
    """Send money (slow: its worker 'dies' before it reports)."""
    await asyncio.sleep(3)
    return "sent"


@tool(risk="write", idempotent=False, timeout=5)
def charge(ctx: ToolContext, amount: int) -> dict[str, Any]:
    """Charge a card; the first attempt takes effect and then loses its answer."""
    from temporalio import activity

    ATTEMPTS.append(activity.info().attempt)
    if ctx.idempotency_key not in EFFECTS:
        EFFECTS.append(ctx.idempotency_key)
        raise ConnectionError("connection reset after the charge was made")
    raise AssertionError("a reconciled tool must not run twice")


@charge.reconcile
def charge_done(ctx: ToolContext, amount: int) -> dict[str, Any] | None:
    from temporalio import activity

    RECONCILED.append(activity.info().attempt)
    return {"charged": amount, "reconciled": True} if ctx.idempotency_key in EFFECTS else None


@tool(risk="read", timeout=5, retries=5)
def flaky_lookup(key: str) -> str:
    """Fails four times, then answers."""
    ATTEMPTS.append(1)
    if len(ATTEMPTS) < 5:
        raise RuntimeError("backend hiccup")
    return f"value of {key}"


SCRIPT = [
    {"on": "tool", "when": "(.+)", "say": "Tool said: {1}"},
    {"when": "wire", "call": {"tool": "wire_money", "arguments": {"amount": 10}}},
    {"when": "charge", "call": {"tool": "charge", "arguments": {"amount": 25}}},
    {"when": "lookup", "call": {"tool": "flaky_lookup", "arguments": {"key": "k"}}},
    {"say": "ok"},
]


def agent(**fields: Any) -> Agent:
    return Agent(
        name="ops",
        model="scripted/ops",
        tools=["wire_money", "charge", "flaky_lookup"],
        script=SCRIPT,
        **fields,
    )


async def run(
    client: Client, spec: Agent, text: str, *, decide: dict[str, Any] | None = None
) -> tuple[RunResult, list[ApprovalRequest]]:
    app = App(agents=[spec], tools=[wire_money, charge, flaky_lookup], approvers={"lee": ["lead"]})
    seen: list[ApprovalRequest] = []
    async with new_worker(client, app, providers=SCRIPTED) as worker:
        handle = await start_run(
            client, RunRequest(agent="ops", input=text), task_queue=worker.task_queue
        )
        if decide is not None:
            seen = await wait_for_pending(handle)
            await handle.execute_update(
                "decide", {"step_id": seen[0].step_id, "approver": "lee", **decide}
            )
        return await handle.result(), seen


async def test_degraded_fixed_answer_when_every_model_fails(client: Client) -> None:
    spec = Agent(
        name="ops", model="openai/gpt-5.5", fallbacks=["anthropic/claude-haiku-4-5"],
        degraded={"answer": "We are having trouble right now; a person will reply by email."},
    )  # fmt: skip
    result, _ = await run(client, spec, "hello")
    assert result.status == "completed" and result.degraded
    assert result.output == "We are having trouble right now; a person will reply by email."
    assert [s.kind for s in result.steps] == ["model_error", "model_error", "degraded"]


async def test_degraded_escalates_to_a_human(client: Client) -> None:
    spec = Agent(
        name="ops", model="openai/gpt-5.5",
        degraded={"escalate": True, "reviewer_roles": ["lead"]},
    )  # fmt: skip
    result, seen = await run(
        client, spec, "where is my order?", decide={"action": "edit", "response": "It ships today."}
    )
    assert seen[0].kind == "review" and "every model failed" in seen[0].reason
    assert result.status == "completed" and result.degraded and result.output == "It ships today."


async def test_unknown_outcome_of_a_non_idempotent_tool_goes_to_a_human(client: Client) -> None:
    spec = agent(review={"reviewer_roles": ["lead"]})
    result, seen = await run(
        client,
        spec,
        "wire it",
        decide={"action": "respond", "response": "the bank confirms it was sent"},
    )
    (request,) = seen
    assert request.tool == "wire_money" and "outcome of wire_money is unknown" in request.reason
    assert result.output == "Tool said: the bank confirms it was sent"
    assert result.errors["unknown_outcome"] == 1
    timed_out = next(s for s in result.steps if s.kind == "tool_error")
    assert timed_out.detail == "timeout"


async def test_unknown_outcome_without_reviewers_is_told_not_retried(client: Client) -> None:
    result, _ = await run(client, agent(), "wire it")
    assert result.output is not None and "outcome of wire_money is unknown" in result.output
    assert [s.tool for s in result.steps if s.kind.startswith("tool")] == [
        "wire_money"
    ]  # one attempt


async def test_reconcile_hook_makes_a_non_idempotent_tool_safe_to_retry(client: Client) -> None:
    EFFECTS.clear()
    ATTEMPTS.clear()
    RECONCILED.clear()
    result, _ = await run(client, agent(), "charge it")
    assert ATTEMPTS == [1]  # the tool ran once...
    assert RECONCILED == [2]  # ...and its retry asked the hook, which found the charge
    assert len(EFFECTS) == 1
    assert result.output == 'Tool said: {"charged":25,"reconciled":true}'


async def test_tool_retries_are_declared_per_tool(client: Client) -> None:
    ATTEMPTS.clear()
    result, _ = await run(client, agent(), "lookup please")
    assert len(ATTEMPTS) == 5 and result.output == "Tool said: value of k"


async def test_model_retry_policy_comes_from_the_spec(client: Client) -> None:
    from duragent.mock_llm import MockConfig, MockLLM

    async with MockLLM(MockConfig(rules=[{"say": "never"}])) as mock:
        spec = Agent(
            name="ops",
            model={
                "provider": "openai",
                "name": "gpt-4o-mini",
                "base_url": mock.openai_base_url,
                "params": {"mock_fault": "500"},
            },
            fallbacks=["scripted/backup"],
            script=[{"say": "backup answered"}],
            retry={"max_attempts": 5, "initial_s": 0.01, "backoff": 1.0},
        )
        from duragent.activities.models import OpenAIProvider
        from duragent.activities.models._base import close_providers

        providers = {"openai": OpenAIProvider(api_key="test"), **SCRIPTED}
        app = App(agents=[spec], tools=[])
        try:
            async with new_worker(client, app, providers=providers) as worker:
                handle = await start_run(
                    client, RunRequest(agent="ops", input="hi"), task_queue=worker.task_queue
                )
                result = await handle.result()
        finally:
            await close_providers(providers)
        assert mock.stats()["requests"] == 5
    assert result.output == "backup answered" and result.errors == {"server_error": 5}
