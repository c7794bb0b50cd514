"""Run the demo scenarios against a running worker and print what each run did.

python -m duragent.examples.customer_support.starter                       # every scenario, scripted,
                                                                  # then one approval by lee
python -m duragent.examples.customer_support.starter "Where is my order 1003?"
python -m duragent.examples.customer_support.starter --model openai/gpt-4.1-mini

A run that pauses for a human decision prints the step and the commands that decide it, then
waits; the approval scenario (``APPROVAL_SCENARIO``) is approved here, as a support lead would.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from duragent import (
    ModelRef,
    RunConfig,
    RunHandle,
    RunRequest,
    RunResult,
    Settings,
    connect,
    start_run,
)
from duragent.examples.customer_support.app import (
    APPROVAL_SCENARIO,
    DEMO_APPROVER,
    ENTRY_AGENT,
    SCENARIOS,
)

POLL_S = 0.2

# The run's query and update, by the names recorded in history (what `temporal workflow query`
# and `temporal workflow update execute` take too); their payloads are plain JSON objects.
PENDING_QUERY = "pending_approvals"
DECIDE_UPDATE = "decide"


def describe(text: str, result: RunResult, url: str) -> str:
    """A few lines per run: the path it took, the tools it called, the answer and its cost."""
    tools = [step.tool for step in result.steps if step.kind == "tool"]
    approvals = [f"{s.action} by {s.approver}" for s in result.steps if s.kind.endswith("_decided")]
    return "\n".join(
        [
            f"> {text}",
            f"  {' -> '.join(result.agent_path)}"
            + (f"  tools: {', '.join(t for t in tools if t)}" if tools else "")
            + (f"  decided: {', '.join(approvals)}" if approvals else ""),
            f"  [{result.status}] {result.output or result.error}",
            f"  {result.usage.total_tokens} tokens, ${result.cost_usd:.5f}, "
            f"{result.latency.total_ms:.0f} ms  {url}",
        ]
    )


async def first_pending(handle: RunHandle) -> dict[str, Any] | None:
    """The run's first step waiting for a decision, or ``None`` once the run has finished."""
    result_task = asyncio.ensure_future(handle.result())
    try:
        while not result_task.done():
            pending: list[dict[str, Any]] = await handle.query(PENDING_QUERY)
            if pending:
                return pending[0]
            await asyncio.wait([result_task], timeout=POLL_S)
        return None
    finally:
        result_task.cancel()


def how_to_decide(workflow_id: str, request: dict[str, Any]) -> str:
    """The paused step, why it paused, who may decide it and the commands that do."""
    step = request["step_id"]
    what = (
        f"{request['tool']}({request['arguments']})"
        if request["kind"] == "tool_call"
        else f"{request['kind']} of the answer {request['output']!r}"
    )
    who = request["approvers"] + [f"role {role}" for role in request["approver_roles"]]
    return "\n".join(
        [
            f"  paused at step {step}: {what}",
            f"  why: {request['reason']}  (who may decide: {', '.join(who)})",
            f'  duragent approve {workflow_id} {step} --by NAME --reason "..."',
            f'  duragent reject  {workflow_id} {step} --by NAME --reason "..."',
        ]
    )


async def run_one(handle: RunHandle, *, approve_as: str | None) -> RunResult:
    """Follow a run to its result; approve each paused step as ``approve_as`` if given."""
    while (request := await first_pending(handle)) is not None:
        print(how_to_decide(handle.id, request))
        if approve_as is None:
            print("  waiting for a decision ...")
            return await handle.result()
        decision = {
            "step_id": request["step_id"],
            "approver": approve_as,
            "reason": "demo: checked the order",
        }
        # The update id makes a repeated decision return the first outcome, never decide twice.
        outcome: dict[str, Any] = await handle.execute_update(
            DECIDE_UPDATE, decision, id=f"{request['step_id']}:{approve_as}:approve"
        )
        print(f"  {outcome['action']} by {outcome['approver']}: accepted={outcome['accepted']}")
    return await handle.result()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="*", help="customer messages (default: the scenarios)")
    parser.add_argument("--model", help="run every agent on this model, e.g. openai/gpt-4.1-mini")
    parser.add_argument(
        "--no-approval", action="store_true", help="skip the approval scenario after the others"
    )
    args = parser.parse_args()
    settings = Settings.from_env()
    client = await connect(settings)
    config = RunConfig(model=ModelRef.model_validate(args.model) if args.model else None)
    runs: list[tuple[str, str | None]] = [(text, None) for text in args.inputs or SCENARIOS]
    if not args.inputs and not args.no_approval:
        runs.append((APPROVAL_SCENARIO, DEMO_APPROVER))
    for text, approve_as in runs:
        request = RunRequest(agent=ENTRY_AGENT, input=text, run_config=config)
        handle = await start_run(client, request, task_queue=settings.task_queue)
        result = await run_one(handle, approve_as=approve_as)
        print(describe(text, result, settings.run_url(result.workflow_id, result.run_id)), "\n")


if __name__ == "__main__":
    asyncio.run(main())
