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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._fake import Fake
from bench._measure import ScenarioResult, WorkClock, measure, percentile
from bench._workload import INPUT, filler


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
    user_bytes: int = 0
    say_bytes: int = 0
    tool_bytes: int = 0
    """Message sizes of runs of realistic length (bench._realistic); 0 keeps the short ones."""
    model_url: str | None = None
    """An OpenAI-compatible server (``duragent mock-llm``) the model calls go to over HTTP
    instead of the in-process fake (bench.load)."""
    slots: int | None = None
    """The worker's activity and workflow-task slots; None leaves each system's default."""
    workflow_ids: list[str] = field(default_factory=list)
    """Ids of the runs of the last phase, for the dispatch delays of bench.load."""

    @property
    def timeline_runs(self) -> int:
        """Sequential runs for the history figures: one under bench.load (its runs take
        seconds, and its figures come from the load phase), else up to ``TIMELINE_RUNS``."""
        return 1 if self.model_url else min(TIMELINE_RUNS, self.runs)

    @property
    def input(self) -> str:
        """The user's message: the workload's, padded to ``user_bytes``."""
        return filler(self.user_bytes, INPUT)

    def fake(self, clock: WorkClock) -> Fake:
        """The fake model and tool of this run's workload, timed on ``clock``."""
        return Fake(
            self.turns,
            clock,
            model_ms=self.model_ms,
            tool_ms=self.tool_ms,
            pad=self.tool_bytes,
            say=self.say_bytes,
        )

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
    parser.add_argument("--user-bytes", type=int, default=0)
    parser.add_argument("--say-bytes", type=int, default=0)
    parser.add_argument("--tool-bytes", type=int, default=0)
    parser.add_argument("--model-url")
    parser.add_argument("--slots", type=int)
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
        user_bytes=ns.user_bytes,
        say_bytes=ns.say_bytes,
        tool_bytes=ns.tool_bytes,
        model_url=ns.model_url,
        slots=ns.slots,
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


TIMELINE_RUNS = 20
"""Sequential runs whose histories give a scenario's timeline (the median run's phases)."""


async def history_figures(
    start: Callable[[], Awaitable[Any]], runs: int = TIMELINE_RUNS
) -> dict[str, Any]:
    """Events, bytes, workflow tasks and activities of a finished run's history, and where a
    run's time goes: ``runs`` runs started one after another by ``start`` (which returns the
    run's handle), each history's event times split into phases; the run of median duration
    is reported, so that its phases add up."""
    from temporalio.api.enums.v1 import EventType

    histories = []
    for _ in range(max(1, runs)):
        handle = await start()
        await handle.result()
        histories.append(await handle.fetch_history())
    events = histories[0].events
    kinds = [event.event_type for event in events]
    timelines = sorted((timeline(list(h.events), EventType) for h in histories), key=_run_ms)
    median_run = timelines[(len(timelines) - 1) // 2]  # its phases add up to its duration
    return {
        "events": len(events),
        "bytes": sum(event.ByteSize() for event in events),
        "workflow_tasks": kinds.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
        "activities": kinds.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
        "markers": kinds.count(EventType.EVENT_TYPE_MARKER_RECORDED),
        "timeline_runs": len(timelines),
        "timeline_ms": {key: round(value, 2) for key, value in sorted(median_run.items())},
    }


def _run_ms(phases: dict[str, float]) -> float:
    return phases["run"]


def _between_ms(a: Any, b: Any) -> float:
    """Milliseconds from history event ``a`` to event ``b``, by the server's clock."""
    ta, tb = a.event_time, b.event_time
    return (tb.seconds - ta.seconds) * 1000 + (tb.nanos - ta.nanos) / 1e6


LOAD_SAMPLE = 60
"""Runs of the last phase whose histories give bench.load's dispatch delays."""


async def load_figures(client: Any, args: ChildArgs) -> dict[str, Any] | None:
    """Under load (the model over HTTP): how long tasks waited for the worker, from the
    histories of a sample of the last phase's runs, spread over it. A worker short of slots or
    pollers shows as activity tasks waiting to start; one short of CPU, as both kinds waiting.
    None without ``--model-url``."""
    from temporalio.api.enums.v1 import EventType as E

    if not args.model_url:
        return None
    last = args.workflow_ids[-args.runs :]
    step = max(1, len(last) // LOAD_SAMPLE)
    waits: dict[str, list[float]] = {"activity_wait": [], "workflow_task_wait": []}
    waits["activity_run"] = []
    for run_id in last[::step][:LOAD_SAMPLE]:
        history = await client.get_workflow_handle(run_id).fetch_history()
        by_id = {e.event_id: e for e in history.events}
        for e in history.events:
            if e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                scheduled = by_id[e.workflow_task_started_event_attributes.scheduled_event_id]
                waits["workflow_task_wait"].append(_between_ms(scheduled, e))
            elif e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                scheduled = by_id[e.activity_task_started_event_attributes.scheduled_event_id]
                waits["activity_wait"].append(_between_ms(scheduled, e))
            elif e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                started = by_id[e.activity_task_completed_event_attributes.started_event_id]
                waits["activity_run"].append(_between_ms(started, e))
    out: dict[str, Any] = {"sampled_runs": len(last[::step][:LOAD_SAMPLE])}
    for name, values in waits.items():
        if values:
            out[f"{name}_p50_ms"] = round(percentile(values, 50), 1)
            out[f"{name}_p99_ms"] = round(percentile(values, 99), 1)
    return out


def timeline(events: list[Any], kinds: Any) -> dict[str, float]:
    """One run's time by phase, in ms, from the server's event times:

    ``run`` first event to last; ``dispatch`` workflow task scheduled to started (the server
    handing it to a worker); ``first_task``, ``middle_tasks``, ``last_task`` a workflow task
    started to completed (the worker's turn: the task reaching it, the workflow code, its
    local activities, the answer back); ``activity <name>`` an activity started to completed;
    ``other`` the rest (activity dispatch, the server between events)."""

    ms = _between_ms
    by_id = {e.event_id: e for e in events}
    out: dict[str, float] = {"run": ms(events[0], events[-1]), "dispatch": 0.0}
    tasks = []
    for e in events:
        if e.event_type == kinds.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            out["dispatch"] += ms(
                by_id[e.workflow_task_started_event_attributes.scheduled_event_id], e
            )
        elif e.event_type == kinds.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            tasks.append(ms(by_id[e.workflow_task_completed_event_attributes.started_event_id], e))
        elif e.event_type == kinds.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs = e.activity_task_completed_event_attributes
            scheduled = by_id[attrs.scheduled_event_id].activity_task_scheduled_event_attributes
            key = f"activity {scheduled.activity_type.name}"
            out[key] = out.get(key, 0.0) + ms(by_id[attrs.started_event_id], e)
    if tasks:
        out["first_task"] = tasks[0]
        out["last_task"] = tasks[-1] if len(tasks) > 1 else 0.0
        out["middle_tasks"] = sum(tasks[1:-1])
    accounted = sum(v for k, v in out.items() if k != "run")
    out["other"] = max(0.0, out["run"] - accounted)
    return out
