"""Record the histories the replay tests check: ``.venv/bin/python -m tests.histories.record v4``.

Run it when a workflow changes in a way that is meant to be incompatible, with a new version
prefix, and keep the old files: each one is a version of AgentRun that must still replay, behind
``workflow.patched`` if need be. ``v1`` was recorded on 2026-11-24 (before issue 12's governance),
``v2`` on 2026-12-04 (issue 12's code, before issue 13's library layout and composed turn),
``v3`` on 2026-12-05 (issues 14 and 15: failover memory, Web UI details, timer summaries).
``v4`` on 2026-12-05 (issue 16: prompts by reference, each guardrail rule recorded once).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from duragent import ApprovalRequest, RunConfig, RunRequest, start_run
from duragent.testing import embedded

HERE = Path(__file__).parent
REFUND = "I want a refund of 150 for order 1006, the chair arrived damaged."
CASES: dict[str, tuple[RunRequest, dict[str, Any] | None]] = {
    "support_order": (RunRequest(agent="support", input="Where is my order 1001?"), None),
    "support_ticket": (
        RunRequest(
            agent="support",
            input="The app keeps crashing on startup and it still fails after reinstalling.",
        ),
        None,
    ),
    # The latest execution of a run that continued as new after every turn.
    "continued": (
        RunRequest(
            agent="support",
            input="Where is my order 1001?",
            run_config=RunConfig(continue_as_new_every=1),
        ),
        None,
    ),
    # A refund over 100: paused for approval, approved by the update mid-run.
    "approval": (RunRequest(agent="support", input=REFUND), {"reason": "ok"}),
    # The same refund rejected, and edited down to 90 (re-checked, then run).
    "rejected": (RunRequest(agent="support", input=REFUND), {"action": "reject", "reason": "no"}),
    "edited": (
        RunRequest(agent="support", input=REFUND),
        {"action": "edit", "arguments": {"order_id": "1006", "amount": 90}, "reason": "partial"},
    ),
    # A low-confidence answer held for review, approved.
    "review": (RunRequest(agent="support", input="What is your refund policy?"), {"reason": "ok"}),
}


async def main(version: str) -> None:
    os.environ.setdefault("DURAGENT_EXAMPLE_DB", str(Path(tempfile.mkdtemp()) / "support.db"))
    from duragent.examples.customer_support.app import app

    async with embedded(app) as (client, _worker):
        for name, (request, decision) in CASES.items():
            handle = await start_run(client, request)
            if decision is not None:
                pending: list[ApprovalRequest] = []
                while not pending:
                    await asyncio.sleep(0.1)
                    pending = await handle.query(
                        "pending_approvals", result_type=list[ApprovalRequest]
                    )
                body = {"step_id": pending[0].step_id, "approver": "lee", **decision}
                await handle.execute_update("decide", body)
            await handle.result()
            history = await handle.fetch_history()
            path = HERE / f"agent_run_{version}_{name}.json"
            path.write_text(history.to_json())
            print(f"wrote {path.name}: {len(history.events)} events")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.histories.record VERSION   (for example v3)")
    asyncio.run(main(sys.argv[1]))
