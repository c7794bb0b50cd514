"""The fake model and tool of the workload, timed, with an optional latency profile.

Standard library only (see ``bench._measure``). Whatever runs a scenario's model and tool calls
(a loop, an activity, an agents SDK ``Model``) calls these, so the time they take is counted
as model and tool time, never as orchestration.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench._measure import WorkClock
from bench._workload import filler, model_reply, step


class Fake:
    """``model`` and ``tool`` for a T-turn run; ``model_ms``/``tool_ms`` make them wait;
    ``pad`` bytes are appended to each tool output (the history curve's 10 KB messages), and
    ``say`` makes every assistant message that many bytes of text (a tool call's too, as a
    model that explains its call: the realistic curve's 2 KB assistant messages)."""

    def __init__(
        self,
        turns: int,
        clock: WorkClock,
        *,
        model_ms: float = 0.0,
        tool_ms: float = 0.0,
        pad: int = 0,
        say: int = 0,
    ) -> None:
        self.turns = turns
        self.clock = clock
        self.model_ms = model_ms
        self.tool_ms = tool_ms
        self.pad = pad
        self.say = say

    async def model(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        started = time.perf_counter()
        if self.model_ms:
            await asyncio.sleep(self.model_ms / 1000)
        reply = model_reply(messages, self.turns)
        if self.say:
            reply["content"] = filler(self.say, reply.get("content", ""))
        self.clock.add(time.perf_counter() - started, tool=False)
        return reply

    async def tool(self, n: int) -> str:
        started = time.perf_counter()
        if self.tool_ms:
            await asyncio.sleep(self.tool_ms / 1000)
        output = step(n) + (" " + "x" * self.pad if self.pad else "")
        self.clock.add(time.perf_counter() - started, tool=True)
        return output
