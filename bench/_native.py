"""Scenarios (a), (c), (d) and the floor, in a child process of ``python -m bench``.

    (a)     the loop in plain Python: no durability, the floor of Python cost;
    (c)     a hand-written Temporal workflow, one regular activity per model and tool call;
    (d)     the same with local activities;
    floor   the same workflow with no activities at all: the model and tool run inside the
            workflow task, so what remains is the cost of a workflow run itself.

The Temporal ones are what a user would write with the SDK alone: default data converter,
default worker options, the workflow sandbox on.
"""

from __future__ import annotations

import uuid

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from bench._child import TIMELINE_RUNS, ChildArgs, history_figures, main
from bench._fake import Fake
from bench._loop_workflow import (
    MODEL_ACTIVITY,
    TOOL_ACTIVITY,
    BenchLoop,
    LoopRequest,
    ModelInput,
)
from bench._measure import ScenarioResult, WorkClock
from bench._workload import is_answer, run_loop

LABELS = {
    "a": "plain Python loop, no durability",
    "c": "hand-written workflow, regular activities",
    "d": "hand-written workflow, local activities",
    "floor": "hand-written workflow, no activities",
}
MODES = {"c": "activity", "d": "local", "floor": "inline"}


class LoopActivities:
    """The fake model and tool as activities."""

    def __init__(self, fake: Fake) -> None:
        self._fake = fake

    @activity.defn(name=MODEL_ACTIVITY)
    async def model(self, request: ModelInput) -> dict[str, object]:
        return await self._fake.model(request.messages)

    @activity.defn(name=TOOL_ACTIVITY)
    async def tool(self, n: int) -> str:
        return await self._fake.tool(n)


async def plain(args: ChildArgs) -> ScenarioResult:
    clock = WorkClock()
    fake = args.fake(clock)

    async def run_one(_: int) -> None:
        assert is_answer(await run_loop(fake.model, fake.tool))

    result = ScenarioResult(scenario="a", label=LABELS["a"], turns=args.turns)
    await args.measure(result, run_one, clock, on_server=False)
    return result


async def workflow_loop(args: ChildArgs) -> ScenarioResult:
    assert args.address, "the Temporal scenarios need --address"
    clock = WorkClock()
    activities = LoopActivities(args.fake(clock))
    client = await Client.connect(args.address)
    queue = f"bench-{args.scenario}-{uuid.uuid4().hex[:8]}"
    mode = MODES[args.scenario]
    request = LoopRequest(turns=args.turns, mode=mode, input=args.input)  # type: ignore[arg-type]
    result = ScenarioResult(scenario=args.scenario, label=LABELS[args.scenario], turns=args.turns)
    if args.scenario == "floor":
        result.notes.append("model and tool run inside the workflow: no model/tool time counted")

    async def run_one(_: int) -> None:
        output = await client.execute_workflow(
            BenchLoop.run, request, id=f"bench-{uuid.uuid4().hex}", task_queue=queue
        )
        assert is_answer(output), output[:100]

    async with Worker(
        client,
        task_queue=queue,
        workflows=[BenchLoop],
        activities=[activities.model, activities.tool],
    ):
        await args.measure(result, run_one, clock)
        result.history = await history_figures(
            lambda: client.start_workflow(
                BenchLoop.run, request, id=f"bench-{uuid.uuid4().hex}", task_queue=queue
            ),
            runs=min(TIMELINE_RUNS, args.runs),
        )
    return result


if __name__ == "__main__":
    main({"a": plain, "c": workflow_loop, "d": workflow_loop, "floor": workflow_loop})
