"""Heartbeats while an activity works, so a dead worker is noticed within the heartbeat timeout.

The workflow gives model and tool activities a short heartbeat timeout (``limits.timeouts.
heartbeat_s``). While the activity runs, this beats at a third of it from the event loop: a
live worker keeps its call however long a model streams or a tool works, and a killed one is
detected in seconds, its call retried elsewhere, instead of at the end of start-to-close.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from temporalio import activity


@contextlib.asynccontextmanager
async def heartbeating(*details: Any) -> AsyncIterator[None]:
    """Beat with ``details`` (kept for the next attempt, should this one fail)."""
    info = activity.info()
    timeout = info.heartbeat_timeout
    if info.is_local or timeout is None or timeout.total_seconds() <= 0:
        yield
        return
    interval = max(timeout.total_seconds() / 3, 0.05)

    async def beat() -> None:
        while True:
            activity.heartbeat(*details)
            await asyncio.sleep(interval)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
