"""Record the histories the replay tests check: ``.venv/bin/python -m tests.histories.record``.

Run it when a workflow changes in a way that is meant to be incompatible (and keep the old files:
each one is a version of AgentRun that must still replay, behind ``workflow.patched`` if need be).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.models import ScriptedProvider
from duragent import RunRequest
from duragent._names import SEARCH_ATTRIBUTES
from duragent.audit import SQLiteAuditLog
from duragent.client import start_run
from duragent.settings import Settings
from tests.conftest import BIN, TUNED
from workers import build_worker

HERE = Path(__file__).parent
CASES = {
    "agent_run_v1_support_order.json": "Where is my order 1001?",
    "agent_run_v1_support_ticket.json": "The app keeps crashing on startup and it still fails after reinstalling.",
}


async def main() -> None:
    os.environ.setdefault("DURAGENT_EXAMPLE_DB", str(Path(tempfile.mkdtemp()) / "support.db"))
    from examples.customer_support.app import app

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=TUNED,
        data_converter=pydantic_data_converter,
    )
    try:
        audit_log = SQLiteAuditLog(Path(tempfile.mkdtemp()) / "audit.db")
        worker = build_worker(
            env.client,
            app,
            Settings(transcript_store=Path(tempfile.mkdtemp()) / "transcripts.db"),
            providers={"scripted": ScriptedProvider()},
            audit_log=audit_log,
        )
        async with worker:
            for name, text in CASES.items():
                handle = await start_run(env.client, RunRequest(agent="support", input=text))
                await handle.result()
                history = await handle.fetch_history()
                (HERE / name).write_text(history.to_json())
                print(f"wrote {name}: {len(history.events)} events")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
