"""Scenarios (c), (d) and the floor: the T-turn loop as a hand-written Temporal workflow.

What a user would write without a framework: the conversation is a list in the workflow, the
whole list is the model activity's input, and each tool call is one activity. ``mode`` picks
regular activities (c), local activities (d), or no activities at all (the floor: the fake
model and tool run inside the workflow task, which is what no durability per call costs).

This module runs inside the workflow sandbox: it imports the workflow API and the pure workload.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy

from bench._workload import INPUT, model_reply, step

MODEL_ACTIVITY = "bench.model"
TOOL_ACTIVITY = "bench.tool"
TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(maximum_attempts=3)


@dataclass(frozen=True)
class LoopRequest:
    turns: int
    mode: Literal["activity", "local", "inline"]
    input: str = INPUT
    """The user's message (2 KB in the realistic curve)."""


@dataclass(frozen=True)
class ModelInput:
    messages: list[dict[str, Any]]
    turns: int


@workflow.defn(name="BenchLoop")
class BenchLoop:
    @workflow.run
    async def run(self, request: LoopRequest) -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": request.input}]
        while True:
            reply = await self._call(MODEL_ACTIVITY, ModelInput(messages, request.turns), request)
            messages.append(reply)
            if "tool_call" not in reply:
                return str(reply["content"])
            arguments = reply["tool_call"]["arguments"]
            output = await self._call(TOOL_ACTIVITY, arguments["n"], request)
            messages.append({"role": "tool", "content": output})

    async def _call(self, name: str, arg: Any, request: LoopRequest) -> Any:
        if request.mode == "inline":
            if name == MODEL_ACTIVITY:
                return model_reply(arg.messages, arg.turns)
            return step(arg)
        if request.mode == "local":
            return await workflow.execute_local_activity(
                name, arg, start_to_close_timeout=TIMEOUT, retry_policy=RETRY
            )
        return await workflow.execute_activity(
            name, arg, start_to_close_timeout=TIMEOUT, retry_policy=RETRY
        )
