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
import time
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

from bench._child import ChildArgs, history_figures, load_figures, main
from bench._fake import Fake
from bench._measure import ScenarioResult, WorkClock
from bench._workload import is_answer

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
        output: list[Any] = []
        if reply.get("content"):
            text = ResponseOutputText(text=reply["content"], annotations=[], type="output_text")
            output.append(
                ResponseOutputMessage(
                    id="msg", content=[text], role="assistant", status="completed", type="message"
                )
            )
        if "tool_call" in reply:
            call = reply["tool_call"]
            output.append(
                ResponseFunctionToolCall(
                    arguments=json.dumps(call["arguments"]),
                    call_id=f"call_{outputs}",
                    name=call["name"],
                    type="function_call",
                    id=f"fc_{outputs}",
                    status="completed",
                )
            )
        return ModelResponse(output=output, usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("the bench does not stream")


class TimedModel(Model):
    """A real ``Model`` (the SDK's Chat Completions model over HTTP) with its time counted as
    model time on ``clock``, as the fakes count theirs."""

    def __init__(self, model: Model, clock: WorkClock) -> None:
        self._model = model
        self._clock = clock

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        started = time.perf_counter()
        try:
            return await self._model.get_response(*args, **kwargs)
        finally:
            self._clock.add(time.perf_counter() - started, tool=False)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("the bench does not stream")


def http_model(url: str, clock: WorkClock) -> Model:
    """The SDK's Chat Completions model at ``url`` (``duragent mock-llm``), retries off as the
    integration's default model is built, timed on ``clock``."""
    from agents import OpenAIChatCompletionsModel
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=url, api_key="unused", max_retries=0)
    return TimedModel(OpenAIChatCompletionsModel(model="mock", openai_client=client), clock)


class FakeProvider(ModelProvider):
    def __init__(self, model: Model) -> None:
        self._model = model

    def get_model(self, model_name: str | None) -> Model:
        return self._model


async def runner(args: ChildArgs) -> ScenarioResult:
    set_tracing_disabled(True)
    clock = WorkClock()
    fake = args.fake(clock)

    @function_tool
    async def step(n: int) -> str:
        """Returns the next step's name."""
        return await fake.tool(n)

    agent: Agent[None] = Agent(
        name="bench", instructions="Call step, then answer.", model=FakeModel(fake), tools=[step]
    )

    async def run_one(_: int) -> None:
        result = await Runner.run(agent, args.input, max_turns=args.turns + 1)
        assert is_answer(result.final_output), result.final_output

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
    fake = args.fake(clock)
    model = http_model(args.model_url, clock) if args.model_url else FakeModel(fake)
    plugin = OpenAIAgentsPlugin(
        model_params=ModelActivityParameters(
            start_to_close_timeout=timedelta(seconds=120 if args.model_url else 30),
            use_local_activity=args.scenario == "e-local",
        ),
        model_provider=FakeProvider(model),
    )
    client = await Client.connect(args.address, plugins=[plugin])
    queue = f"bench-{args.scenario}-{uuid.uuid4().hex[:8]}"
    tools = StepActivities(fake)
    result = ScenarioResult(scenario=args.scenario, label=LABELS[args.scenario], turns=args.turns)

    def start() -> Any:
        run_id = f"bench-{uuid.uuid4().hex}"
        args.workflow_ids.append(run_id)
        return client.start_workflow(
            AgentsBench.run, args=[args.turns, args.input], id=run_id, task_queue=queue
        )

    async def run_one(_: int) -> None:
        output = await (await start()).result()
        assert is_answer(output), output[:100]

    slots = {}
    if args.slots:
        slots = {"max_concurrent_activities": args.slots}
        slots["max_concurrent_workflow_tasks"] = args.slots
    async with Worker(
        client, task_queue=queue, workflows=[AgentsBench], activities=[tools.step], **slots
    ):
        await args.measure(result, run_one, clock)
        result.load = await load_figures(client, args)
        result.history = await history_figures(start, runs=args.timeline_runs)
    return result


if __name__ == "__main__":
    main({"b": runner, "e": integration, "e-local": integration})
