"""The ``specs.resolve`` local activity: the specs a run will use, read from the worker's app.

It runs once per run, as a local activity, and its result (specs plus hashes) is recorded in
history: replays and audits see exactly the specs the run used, even after the app changes.
With a ``SpecStore`` the record is compact: each agent's prompt (instructions, tool schemas,
script) goes to the workers' shared store once and history holds its address; everything the
workflow governs from stays whole (``duragent._prompt``). Should the store fail, the specs are
recorded whole, as before: slower, never wrong.
"""

from __future__ import annotations

import asyncio
import time

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from duragent import App, ResolvedSpecs, SpecError
from duragent._contracts import SpecResolution
from duragent._messages import ResolveRequest
from duragent._names import ACTIVITY_RESOLVE
from duragent.activities._spec_store import SpecStore

log = structlog.get_logger(__name__)


class SpecActivities(SpecResolution):
    def __init__(
        self,
        app: App,
        *,
        search_attributes: bool = True,
        sandbox_task_queue: str | None = None,
        store: SpecStore | None = None,
    ) -> None:
        self._app = app
        self._store = store
        self._search_attributes = search_attributes
        self._sandbox_task_queue = sandbox_task_queue

    @activity.defn(name=ACTIVITY_RESOLVE)
    async def resolve(self, request: ResolveRequest) -> ResolvedSpecs:
        """The entry agent and every agent reachable from it, with their tools and hashes."""
        started = time.perf_counter()
        try:
            specs = self._app.resolve(request.agent)
        except SpecError as exc:
            raise ApplicationError(str(exc), type="spec_error", non_retryable=True) from exc
        if self._store is not None:
            try:
                specs = await asyncio.to_thread(self._store.record, specs)
            except Exception as exc:  # SQLite, PostgreSQL, a key ring: whole specs are never wrong
                log.warning("specs recorded whole: the spec store failed", error=str(exc))
        return specs.model_copy(
            update={
                "resolve_ms": (time.perf_counter() - started) * 1000,
                "search_attributes": self._search_attributes,
                **(
                    {"sandbox_task_queue": self._sandbox_task_queue}
                    if self._sandbox_task_queue
                    else {}
                ),
            }
        )
