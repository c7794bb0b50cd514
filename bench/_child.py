"""The child side: one scenario in its own process, figures written as JSON to ``--out``.

Each scenario runs in a fresh process so that its worker CPU and peak RSS are its own, and so
that the OpenAI Agents scenarios can run in their own virtualenv. The parent (``bench.__main__``)
starts the dev server, passes its address and pid, and reads the JSON back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._measure import ScenarioResult, WorkClock, measure


@dataclass(frozen=True)
class ChildArgs:
    scenario: str
    turns: int
    runs: int
    warmup: int
    concurrency: list[int]
    address: str | None
    server_pid: int | None
    model_ms: float
    tool_ms: float
    out: Path
    telemetry: bool = False
    """duragent's tracing and metrics (the other scenarios have no such switch)."""

    async def measure(
        self,
        result: ScenarioResult,
        run_one: Callable[[int], Awaitable[None]],
        clock: WorkClock,
        *,
        on_server: bool = True,
    ) -> None:
        """Measure ``run_one`` at this run's counts and concurrency levels (the server's CPU
        too, for scenarios that have one)."""
        await measure(
            result,
            run_one,
            runs=self.runs,
            warmup=self.warmup,
            concurrency=self.concurrency,
            clock=clock,
            server_pid=self.server_pid if on_server else None,
        )


Builder = Callable[[ChildArgs], Awaitable[ScenarioResult]]


def parse(argv: list[str] | None = None) -> ChildArgs:
    parser = argparse.ArgumentParser(description="one bench scenario (started by python -m bench)")
    parser.add_argument("scenario")
    parser.add_argument("--turns", type=int, required=True)
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--address")
    parser.add_argument("--server-pid", type=int)
    parser.add_argument("--model-ms", type=float, default=0.0)
    parser.add_argument("--tool-ms", type=float, default=0.0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--telemetry", action="store_true")
    ns = parser.parse_args(argv)
    return ChildArgs(
        scenario=ns.scenario,
        turns=ns.turns,
        runs=ns.runs,
        warmup=ns.warmup,
        concurrency=[int(c) for c in ns.concurrency.split(",")],
        address=ns.address,
        server_pid=ns.server_pid,
        model_ms=ns.model_ms,
        tool_ms=ns.tool_ms,
        out=ns.out,
        telemetry=ns.telemetry,
    )


def main(builders: Mapping[str, Builder], argv: list[str] | None = None) -> None:
    args = parse(argv)
    result = asyncio.run(builders[args.scenario](args))
    args.out.write_text(json.dumps(result.to_json(), indent=2))
    # Skip interpreter shutdown: the SDK's native threads, still alive while Python finalizes,
    # now and then abort it (PyGILState_Release), and the figures are written already.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


async def history_figures(handle: Any) -> dict[str, int]:
    """Events, bytes, workflow tasks and activities of one finished run's history."""
    from temporalio.api.enums.v1 import EventType

    history = await handle.fetch_history()
    kinds = [event.event_type for event in history.events]
    return {
        "events": len(history.events),
        "bytes": sum(event.ByteSize() for event in history.events),
        "workflow_tasks": kinds.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
        "activities": kinds.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
        "markers": kinds.count(EventType.EVENT_TYPE_MARKER_RECORDED),
    }
