"""Start the project's workflow, and an agent run on its own, and print both answers as JSON.

python starter.py "Where is order 1001?"
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid

from duragent import RunRequest, Settings, connect, start_run

import workflows
from workflows.triage import Triage


async def main(question: str) -> None:
    settings = Settings.from_env()
    client = await connect(settings)
    triage_id = f"triage-{uuid.uuid4().hex[:8]}"
    triaged = await client.execute_workflow(
        Triage.run, question, id=triage_id, task_queue=settings.task_queue
    )
    handle = await start_run(
        client, RunRequest(agent="support", input=question), task_queue=settings.task_queue
    )
    result = await handle.result()
    report = {
        "triage_id": triage_id,
        "triaged": triaged.model_dump(),
        "run_id": handle.id,
        "run_output": result.output,
        "workflows_package": workflows.__file__,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
