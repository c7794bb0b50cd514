"""``run --wait`` says so when no worker polls the run's task queue, instead of waiting in silence.

A run started where no worker listens is accepted by Temporal and simply waits: for a typo in
a spec that stopped the worker, a worker pointed at another task queue or namespace, or none
started at all. The queue's pollers tell which: Temporal lists every worker that polled it
lately, with the time it last did.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.markup import escape
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

HINT_AFTER_S = 5.0
"""How long a run may wait before the hint: a worker that is there picks a run up in
milliseconds; one that is starting (importing an app, connecting) takes a few seconds."""
CHECK_EVERY_S = 5.0
FRESH = timedelta(seconds=90)
"""A live idle worker re-polls at least every ~70 s (the server answers an empty long poll
after a minute); an entry older than this is a worker that has gone (the server keeps it five
minutes)."""


async def live_pollers(client: Client, task_queue: str) -> list[str]:
    """The identities of the workers that polled ``task_queue`` for workflow tasks lately."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    now = datetime.now(UTC)
    return [
        p.identity
        for p in response.pollers
        if not p.HasField("last_access_time")
        or now - p.last_access_time.ToDatetime(tzinfo=UTC) <= FRESH
    ]


def no_worker_hint(task_queue: str, namespace: str) -> str:
    """What to tell a user whose run waits on a queue nobody polls (one line; markup escaped)."""
    return escape(
        f"no worker polls task queue {task_queue!r} (namespace {namespace!r}) yet: the run waits "
        "and starts when one does. Start one serving the agent's app with "
        "`duragent worker --app module:app` (same TEMPORAL_ADDRESS, namespace and "
        "DURAGENT_TASK_QUEUE), or use `duragent dev`; a worker that exited at start "
        "(a bad spec) printed why."
    )


async def watch_for_workers(
    client: Client,
    task_queue: str,
    out: Console,
    *,
    after_s: float = HINT_AFTER_S,
    every_s: float = CHECK_EVERY_S,
) -> None:
    """Until cancelled: say when no worker polls ``task_queue``, and when one comes back."""
    await asyncio.sleep(after_s)
    warned = False
    while True:
        try:
            polling = bool(await live_pollers(client, task_queue))
        except RPCError:
            polling = True  # cannot tell (e.g. not permitted): say nothing rather than guess
        if not polling and not warned:
            out.print(
                f"[yellow]waiting:[/] {no_worker_hint(task_queue, client.namespace)}",
                soft_wrap=True,
            )
            warned = True
        elif polling and warned:
            out.print(f"a worker polls task queue {escape(repr(task_queue))} now", soft_wrap=True)
            warned = False
        await asyncio.sleep(every_s)
