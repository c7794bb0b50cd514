"""Approval round trip: from a human's decision being sent to the approved tool starting.

    .venv/bin/python -m bench.approvals [--runs 20]

Each run asks to refund 250 (a rule requires a lead's approval), waits until the approval is
pending, then the decision is sent, by the ``approve`` signal or the ``decide`` update in turn;
the tool notes when it starts. Worker, tool and client share one process and clock, on the
embedded dev server tuned as ``duragent dev`` starts it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from duragent import Agent, App, RunRequest, tool
from duragent._approvals import ApprovalRequest
from duragent.client import start_run
from duragent.workers import embedded

STARTED: list[float] = []


@tool(risk="write", timeout=10)
def refund_order(order_id: str, amount: int) -> str:
    """Refund an order."""
    STARTED.append(time.perf_counter())
    return "refunded"


def refund_agent(name: str, model: str, *, timeout: str | None = None) -> Agent:
    """An agent whose one model call asks to refund 250, which a rule sends to a lead
    (``timeout``: how long the approval may wait); after the decision, the tool and a second
    model call that answers."""
    rule: dict[str, object] = {
        "name": "refund_over_100",
        "stage": "tool_call",
        "when": {"tool": "refund_order", "args": {"amount": {"gt": 100}}},
        "action": "require_approval",
        "approver_roles": ["lead"],
    }
    if timeout is not None:
        rule["timeout"] = timeout
    return Agent(
        name=name,
        model=model,
        tools=["refund_order"],
        script=[
            {"on": "tool", "say": "done"},
            {"call": {"tool": "refund_order", "arguments": {"order_id": "7", "amount": 250}}},
        ],
        guardrails=[rule],
    )


AGENT = refund_agent("billing", "scripted/billing")


async def main(runs: int) -> None:
    app = App(agents=[AGENT], tools=[refund_order], approvers={"lee": ["lead"]})
    timings: dict[str, list[float]] = {"signal": [], "update": []}
    async with embedded(app) as (client, _worker):
        for i in range(runs * 2 + 2):
            how = "signal" if i % 2 else "update"
            handle = await start_run(client, RunRequest(agent="billing", input="refund"))
            pending: list[ApprovalRequest] = []
            for _ in range(1000):  # poll: the client has no event for "a step is pending"
                pending = await handle.query("pending_approvals", result_type=list[ApprovalRequest])
                if pending:
                    break
                await asyncio.sleep(0.01)
            decision = {"step_id": pending[0].step_id, "approver": "lee", "reason": "bench"}
            STARTED.clear()
            sent = time.perf_counter()
            if how == "signal":
                await handle.signal("approve", decision)
            else:
                await handle.execute_update("decide", decision)
            await handle.result()
            if i >= 2:  # two warm-up runs
                timings[how].append((STARTED[0] - sent) * 1000)
    print(f"approval round trip, decision sent → tool started, {runs} runs each (ms)")
    print("| via | p50 | min | max |")
    print("|---|---|---|---|")
    for how, values in timings.items():
        print(
            f"| {how} | {statistics.median(values):.1f} | {min(values):.1f} | {max(values):.1f} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    asyncio.run(main(parser.parse_args().runs))
