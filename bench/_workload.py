"""The workload every scenario runs: an agent run of T turns.

T model calls and T-1 tool calls. The fake model answers from the conversation alone: while
fewer than T-1 tool results are in it, it calls the ``step`` tool with the number of results
so far; then it answers. ``step(n)`` returns ``step-<n+1>``. Both answer at once unless a
latency profile is given (``--model-ms``, ``--tool-ms``).

Pure and standard library only: the hand-written workflows call it inside the workflow sandbox
(the no-activity floor), and the OpenAI Agents scenarios import it from their own virtualenv.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

INPUT = "Run the bench task."
ANSWER = "done"
TOOL = "step"


def filler(size: int, head: str = "") -> str:
    """``head`` followed by words of text up to ``size`` characters: the long user and assistant
    messages and tool outputs of runs of realistic length (an empty padding when ``size`` is 0).
    Plain words, so guardrail scans, tokenizers and compression see text, not one long run."""
    if size <= len(head):
        return head
    words = "the customer asked about order status shipping refund and the agent checked "
    prefix = f"{head} " if head else ""
    return prefix + (words * (size // len(words) + 1))[: size - len(prefix)]


def is_answer(text: str) -> bool:
    """Whether a run's final output is the workload's answer (padded or not)."""
    return text.split(" ", 1)[0] == ANSWER


def model_reply(messages: list[dict[str, Any]], turns: int) -> dict[str, Any]:
    """The fake model's next message: a ``step`` call, or the answer on turn T."""
    results = sum(1 for m in messages if m["role"] == "tool")
    if results < turns - 1:
        return {"role": "assistant", "tool_call": {"name": TOOL, "arguments": {"n": results}}}
    return {"role": "assistant", "content": ANSWER}


def step(n: int) -> str:
    """The fake tool."""
    return f"step-{n + 1}"


async def run_loop(
    model: Callable[[list[dict[str, Any]]], Awaitable[dict[str, Any]]],
    tool: Callable[[int], Awaitable[str]],
) -> str:
    """Scenario (a): the loop every framework here wraps, with nothing around it."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": INPUT}]
    while True:
        reply = await model(messages)
        messages.append(reply)
        if "tool_call" not in reply:
            return str(reply["content"])
        output = await tool(reply["tool_call"]["arguments"]["n"])
        messages.append({"role": "tool", "content": output})
