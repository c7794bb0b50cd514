"""Record the histories the replay tests check: ``.venv/bin/python -m tests.histories.record``.

Run it when a workflow changes in a way that is meant to be incompatible (and keep the old files:
each one is a version of AgentRun that must still replay, behind ``workflow.patched`` if need be).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from duragent import RunConfig, RunRequest
from duragent._approvals import ApprovalRequest
from duragent.client import start_run
from workers._embedded import embedded

HERE = Path(__file__).parent
CASES = {
    "agent_run_v1_support_order.json": RunRequest(agent="support", input="Where is my order 1001?"),
    "agent_run_v1_support_ticket.json": RunRequest(
        agent="support",
        input="The app keeps crashing on startup and it still fails after reinstalling.",
    ),
    # The latest execution of a run that continued as new after every turn.
    "agent_run_v1_continued.json": RunRequest(
        agent="support",
        input="Where is my order 1001?",
        run_config=RunConfig(continue_as_new_every=1),
    ),
    # A refund over 100: paused for approval, approved by the update mid-run.
    "agent_run_v1_approval.json": RunRequest(
        agent="support", input="I want a refund of 150 for order 1006, the chair arrived damaged."
    ),
}


async def main() -> None:
    os.environ.setdefault("DURAGENT_EXAMPLE_DB", str(Path(tempfile.mkdtemp()) / "support.db"))
    from examples.customer_support.app import app

    async with embedded(app) as (client, _worker):
        for name, request in CASES.items():
            handle = await start_run(client, request)
            if "approval" in name:
                pending: list[ApprovalRequest] = []
                while not pending:
                    await asyncio.sleep(0.1)
                    pending = await handle.query(
                        "pending_approvals", result_type=list[ApprovalRequest]
                    )
                decision = {"step_id": pending[0].step_id, "approver": "lee", "reason": "ok"}
                await handle.execute_update("decide", decision)
            await handle.result()
            history = await handle.fetch_history()
            (HERE / name).write_text(history.to_json())
            print(f"wrote {name}: {len(history.events)} events")


if __name__ == "__main__":
    asyncio.run(main())
