"""The project's one worker: its own workflow and activity, and duragent's agents.

python -m workers.main        # TEMPORAL_ADDRESS, DURAGENT_TASK_QUEUE, DURAGENT_HOME...
"""

from __future__ import annotations

import asyncio

from duragent import DuragentPlugin, Settings
from temporalio.client import Client
from temporalio.worker import Worker

from activities.tickets import open_ticket
from helpdesk import app
from workflows.triage import Triage


async def main() -> None:
    settings = Settings.from_env()
    client = await Client.connect(
        settings.address,
        namespace=settings.namespace,
        plugins=[DuragentPlugin(app, settings)],  # data converter, AgentRun, agent activities
    )
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[Triage],
        activities=[open_ticket],
    )
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
