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
import tempfile
import time
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.models import ScriptedProvider
from duragent import Agent, App, RunRequest, tool
from duragent._approvals import ApprovalRequest
from duragent._names import SEARCH_ATTRIBUTES
from duragent.audit import SQLiteAuditLog
from duragent.client import start_run
from duragent.settings import Settings
from workers import build_worker
from workers._devserver import TUNING, temporal_binary

STARTED: list[float] = []


@tool(risk="write", timeout=10)
def refund_order(order_id: str, amount: int) -> str:
    """Refund an order."""
    STARTED.append(time.perf_counter())
    return "refunded"


AGENT = Agent(
    name="billing",
    model="scripted/billing",
    tools=["refund_order"],
    script=[
        {"on": "tool", "say": "done"},
        {"call": {"tool": "refund_order", "arguments": {"order_id": "7", "amount": 250}}},
    ],
    guardrails=[
        {
            "name": "refund_over_100",
            "stage": "tool_call",
            "when": {"tool": "refund_order", "args": {"amount": {"gt": 100}}},
            "action": "require_approval",
            "approver_roles": ["lead"],
        }
    ],
)


async def main(runs: int) -> None:
    app = App(agents=[AGENT], tools=[refund_order], approvers={"lee": ["lead"]})
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=[a for v in TUNING for a in ("--dynamic-config-value", v)],
        data_converter=pydantic_data_converter,
    )
    audit = SQLiteAuditLog(Path(tempfile.mkdtemp()) / "audit.db")
    timings: dict[str, list[float]] = {"signal": [], "update": []}
    try:
        worker = build_worker(
            env.client,
            app,
            Settings(transcript_store=str(Path(tempfile.mkdtemp()) / "transcripts.db")),
            providers={"scripted": ScriptedProvider()},
            audit_log=audit,
        )
        async with worker:
            for i in range(runs * 2 + 2):
                how = "signal" if i % 2 else "update"
                handle = await start_run(env.client, RunRequest(agent="billing", input="refund"))
                pending: list[ApprovalRequest] = []
                for _ in range(1000):  # poll: the client has no event for "a step is pending"
                    pending = await handle.query(
                        "pending_approvals", result_type=list[ApprovalRequest]
                    )
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
    finally:
        audit.close()
        await env.shutdown()
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
