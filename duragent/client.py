"""Starting and following runs from client code (also as ``duragent.connect`` etc.)::

    import asyncio
    from duragent import RunRequest, connect, start_run

    async def main() -> None:
        async with connect() as client:  # Settings.from_env() unless given settings
            handle = await start_run(client, RunRequest(agent="support", input="Order 1001?"))
            result = await handle.result()  # a RunResult

    asyncio.run(main())

A client process imports no activity and no provider SDK: only the data converter it shares
with the workers (``tests/unit/test_public_api.py`` checks).

Why ``async with``: the Temporal client is a Rust object whose references form cycles, so it is
freed only by the garbage collector, and at interpreter exit that happens while Python is
finalizing. The Rust side then touches the interpreter from its own threads and the process
aborts ("Fatal Python error: PyGILState_Release", temporalio/sdk-python#300): a script that did
its work exits 134 about one time in three. Leaving the ``async with`` block frees the
connection while the interpreter is whole. ``client = await connect()`` still works, for
long-lived processes (a server, a worker) that never exit in the middle of things.
"""

from __future__ import annotations

import gc
import uuid
from collections.abc import Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeAlias

from temporalio.client import Client, WorkflowHandle

from duragent._messages import RunRequest, RunResult
from duragent._names import TASK_QUEUE, WORKFLOW
from duragent._summary import run_summary
from duragent.settings import Settings
from duragent.workers import connect as _connect
from duragent.workers import ensure_search_attributes

if TYPE_CHECKING:
    from duragent.workers import Telemetry

__all__ = [
    "Connection",
    "RunHandle",
    "close",
    "connect",
    "ensure_search_attributes",
    "new_workflow_id",
    "start_run",
]

RunHandle: TypeAlias = WorkflowHandle[Any, RunResult]
"""What ``start_run`` returns: ``await handle.result()`` for the ``RunResult``; the run's query
``status`` and ``pending_approvals``, its update ``decide`` (an ``ApprovalDecision``)."""


class Connection:
    """What :func:`connect` returns: ``async with`` it for a client closed on leaving the
    block, or ``await`` it for a client you keep."""

    def __init__(self, settings: Settings | None, telemetry: Telemetry | None) -> None:
        self._settings = settings
        self._telemetry = telemetry
        self._client: Client | None = None

    async def _open(self) -> Client:
        return await _connect(self._settings or Settings.from_env(), self._telemetry)

    def __await__(self) -> Generator[Any, None, Client]:
        return self._open().__await__()

    async def __aenter__(self) -> Client:
        self._client = await self._open()
        return self._client

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        client, self._client = self._client, None
        if client is not None:
            close(client)


def connect(settings: Settings | None = None, telemetry: Telemetry | None = None) -> Connection:
    """A Temporal client for ``settings`` (default ``Settings.from_env()``): pydantic payloads,
    large ones in ``settings.payload_store``, encrypted when a key ring is configured.

    ``async with connect() as client:`` closes it when the block ends, so a script exits
    cleanly; ``client = await connect()`` keeps it for the life of the process. With
    ``telemetry`` (``duragent.workers.start_telemetry``), runs it starts are traced.
    """
    return Connection(settings, telemetry)


def close(client: Client) -> None:
    """Free ``client``'s connection now, while the interpreter is whole (see the module doc).

    Using the client afterwards opens a new connection. temporalio has no public close: the Rust
    client it holds is dropped and the garbage collector run, which frees it.
    """
    service = client.service_client
    if hasattr(service, "_bridge_client"):  # private in temporalio; without it gc alone helps
        service._bridge_client = None
    gc.collect()


def new_workflow_id(agent: str) -> str:
    """``run-<agent>-<short id>``: readable in the Web UI, unique enough to never collide."""
    return f"run-{agent}-{uuid.uuid4().hex[:10]}"


async def start_run(
    client: Client,
    request: RunRequest,
    *,
    workflow_id: str | None = None,
    task_queue: str = TASK_QUEUE,
) -> RunHandle:
    """Start an ``AgentRun`` and return its handle; ``await handle.result()`` gives the RunResult.

    ``task_queue`` is the queue the workers serve (``Settings.task_queue``; with
    ``DuragentPlugin``, your worker's own queue).
    """
    return await client.start_workflow(
        WORKFLOW,
        request,
        id=workflow_id or new_workflow_id(request.agent),
        task_queue=task_queue,
        result_type=RunResult,
        static_summary=run_summary(request),
        request_eager_start=True,
    )
