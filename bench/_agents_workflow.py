"""Scenario (e): the T-turn agent as Temporal's OpenAI Agents integration runs it.

The workflow calls ``Runner.run``; the integration turns each model call into an activity (or
a local activity, ``ModelActivityParameters(use_local_activity=True)``), and the tool is an
activity through ``activity_as_tool``, as its guide recommends for tools with side effects.
Runs inside the workflow sandbox (the plugin passes ``agents`` and ``openai`` through).
Imported from bench/.venv-openai-agents only.
"""

from __future__ import annotations

from datetime import timedelta

from agents import Agent, Runner
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.openai_agents.workflow import activity_as_tool

from bench._fake import Fake
from bench._workload import INPUT

INSTRUCTIONS = "Call the step tool until told to stop, then answer."


class StepActivities:
    """The fake tool as an activity."""

    def __init__(self, fake: Fake) -> None:
        self._fake = fake

    @activity.defn(name="bench.step")
    async def step(self, n: int) -> str:
        """Returns the next step's name."""
        return await self._fake.tool(n)


@workflow.defn(name="OpenAIAgentsBench")
class AgentsBench:
    @workflow.run
    async def run(self, turns: int, input: str = INPUT) -> str:
        agent: Agent[None] = Agent(
            name="bench",
            instructions=INSTRUCTIONS,
            model="fake",
            tools=[
                activity_as_tool(
                    StepActivities.step,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=RetryPolicy(maximum_attempts=3),
                )
            ],
        )
        result = await Runner.run(agent, input, max_turns=turns + 1)
        return str(result.final_output)
