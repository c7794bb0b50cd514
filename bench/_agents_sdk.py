"""Scenarios (b) and (e), run with bench/.venv-openai-agents's Python by ``python -m bench``.

    (b)        the OpenAI Agents SDK's ``Runner.run`` with a fake ``Model``, no Temporal;
    (e)        Temporal's OpenAI Agents integration (``temporalio-openai-agents``): the model
               call a regular activity, the tool an activity (``activity_as_tool``);
    (e-local)  the same with the integration's local-activity option for model calls.

The fake model answers from the input items: a ``step`` call while fewer than T-1 tool outputs
are in them, then the answer; it runs in the activity through the plugin's ``model_provider``.
The SDK's tracing export is disabled (it would post traces to OpenAI): duragent's scenarios run
with tracing off too.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from agents import (
    Agent,
    Model,
    ModelProvider,
    ModelResponse,
    Runner,
    Usage,
    function_tool,
    set_tracing_disabled,
)
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)

from bench._child import TIMELINE_RUNS, ChildArgs, history_figures, main
from bench._fake import Fake
from bench._measure import ScenarioResult, WorkClock
from bench._workload import ANSWER, INPUT

LABELS = {
    "b": "OpenAI Agents SDK Runner.run, no Temporal",
    "e": "Temporal OpenAI Agents integration",
    "e-local": "Temporal OpenAI Agents integration, local-activity model",
}


def _kind(item: Any) -> str | None:
    return item.get("type") if isinstance(item, dict) else getattr(item, "type", None)


class FakeModel(Model):
    """A ``Model`` answering from ``bench._workload``'s rule, with no network."""

    def __init__(self, fake: Fake) -> None:
        self._fake = fake

    async def get_response(
        self, system_instructions: Any, input: Any, *args: Any, **kwargs: Any
    ) -> ModelResponse:
        items = [] if isinstance(input, str) else input
        outputs = sum(1 for item in items if _kind(item) == "function_call_output")
        messages = [{"role": "user"}] + [{"role": "tool"}] * outputs
        reply = await self._fake.model(messages)
        if "tool_call" in reply:
            call = reply["tool_call"]
            output: Any = ResponseFunctionToolCall(
                arguments=json.dumps(call["arguments"]),
                call_id=f"call_{outputs}",
                name=call["name"],
                type="function_call",
                id=f"fc_{outputs}",
                status="completed",
            )
        else:
            text = ResponseOutputText(text=reply["content"], annotations=[], type="output_text")
            output = ResponseOutputMessage(
                id="msg", content=[text], role="assistant", status="completed", type="message"
            )
        return ModelResponse(output=[output], usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("the bench does not stream")


class FakeProvider(ModelProvider):
    def __init__(self, model: Model) -> None:
        self._model = model

    def get_model(self, model_name: str | None) -> Model:
        return self._model


async def runner(args: ChildArgs) -> ScenarioResult:
    set_tracing_disabled(True)
    clock = WorkClock()
    fake = Fake(args.turns, clock, model_ms=args.model_ms, tool_ms=args.tool_ms)

    @function_tool
    async def step(n: int) -> str:
        """Returns the next step's name."""
        return await fake.tool(n)

    agent: Agent[None] = Agent(
        name="bench", instructions="Call step, then answer.", model=FakeModel(fake), tools=[step]
    )

    async def run_one(_: int) -> None:
        result = await Runner.run(agent, INPUT, max_turns=args.turns + 1)
        assert result.final_output == ANSWER, result.final_output

    result = ScenarioResult(scenario="b", label=LABELS["b"], turns=args.turns)
    await args.measure(result, run_one, clock, on_server=False)
    return result


async def integration(args: ChildArgs) -> ScenarioResult:
    from datetime import timedelta

    from temporalio.client import Client
    from temporalio.openai_agents import ModelActivityParameters, OpenAIAgentsPlugin
    from temporalio.worker import Worker

    from bench._agents_workflow import AgentsBench, StepActivities

    assert args.address, "the Temporal scenarios need --address"
    set_tracing_disabled(True)
    clock = WorkClock()
    fake = Fake(args.turns, clock, model_ms=args.model_ms, tool_ms=args.tool_ms)
    plugin = OpenAIAgentsPlugin(
        model_params=ModelActivityParameters(
            start_to_close_timeout=timedelta(seconds=30),
            use_local_activity=args.scenario == "e-local",
        ),
        model_provider=FakeProvider(FakeModel(fake)),
    )
    client = await Client.connect(args.address, plugins=[plugin])
    queue = f"bench-{args.scenario}-{uuid.uuid4().hex[:8]}"
    tools = StepActivities(fake)
    result = ScenarioResult(scenario=args.scenario, label=LABELS[args.scenario], turns=args.turns)

    async def run_one(_: int) -> None:
        output = await client.execute_workflow(
            AgentsBench.run, args.turns, id=f"bench-{uuid.uuid4().hex}", task_queue=queue
        )
        assert output == ANSWER, output

    async with Worker(client, task_queue=queue, workflows=[AgentsBench], activities=[tools.step]):
        await args.measure(result, run_one, clock)
        result.history = await history_figures(
            lambda: client.start_workflow(
                AgentsBench.run, args.turns, id=f"bench-{uuid.uuid4().hex}", task_queue=queue
            ),
            runs=min(TIMELINE_RUNS, args.runs),
        )
    return result


if __name__ == "__main__":
    main({"b": runner, "e": integration, "e-local": integration})
