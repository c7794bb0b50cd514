"""Three agents with no runs yet, for the alerting test's worker (``duragent worker --app``):
``quick`` answers at once, ``slow`` waits 5.5 s in a tool (past the 5 s P99 threshold), and
``broken`` names a model whose provider has no key on the worker, so its run fails."""

from __future__ import annotations

import asyncio

from duragent import Agent, App, tool

SLOW_S = 5.5


@tool(risk="read", timeout=20)
async def wait_a_while() -> str:
    """Wait, as a slow backend does."""
    await asyncio.sleep(SLOW_S)
    return "waited"


quick = Agent(name="quick", model="scripted/quick", script=[{"say": "Done."}])
slow = Agent(
    name="slow",
    model="scripted/slow",
    tools=["wait_a_while"],
    script=[
        {"on": "tool", "say": "Done, slowly."},
        {"on": "user", "call": {"tool": "wait_a_while"}},
    ],
)
broken = Agent(name="broken", model="anthropic/claude-haiku-4-5", instructions="Answer.")

app = App(agents=[quick, slow, broken], tools=[wait_a_while], name="alerting")
