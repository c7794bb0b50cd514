"""Scenario (f), duragent's ``AgentRun``, in each execution mode, in a child of ``python -m bench``.

    f       regular activities: the model and the tool each a regular activity (the mode the
            issue's "default" targets compare, and what (c) and (e) do);
    f-auto  duragent's defaults for this agent: the model a regular activity, the tool (read
            only, short timeout, so ``execution="auto"`` picks local) a local activity;
    f-fast  the model and the tool declared local (``ModelRef.execution="local"``,
            ``@tool(execution="local")``): no server round trip per call.

The agent is a T-turn scripted agent (``Agent(script=[...])``): on the user's message it calls
the tool, on each tool result but the last it calls it again, then it answers. Governance is on
as in production: a guardrail policy checked at every stage (input, each tool call, output,
none of which fires on this workload), the audit log in SQLite, the transcript store, specs
resolved and recorded with their hashes. Tracing and metrics are on too, as the issue's targets
ask (``--no-telemetry`` turns them off): spans batched over OTLP/HTTP to a receiver that
discards them, in its own process as a collector would be (bench._otlp_sink), and a Prometheus
/metrics port, as a production worker runs (bench.telemetry measures what they cost alone).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from bench import _otlp_sink
from bench._child import ChildArgs, history_figures, load_figures, main
from bench._fake import Fake
from bench._measure import ScenarioResult, WorkClock
from bench._workload import ANSWER, filler
from duragent import Agent, App, ModelRequest, ModelResponse, RunRequest, tool
from duragent.activities.models import OpenAIProvider, ScriptedProvider
from duragent.audit import SQLiteAuditLog
from duragent.client import start_run
from duragent.settings import Settings
from duragent.workers import Telemetry, build_worker, connect, start_telemetry

LABELS = {
    "f": "duragent AgentRun, regular activities",
    "f-auto": "duragent AgentRun, defaults (tool local)",
    "f-fast": "duragent AgentRun, fast (model + tool local)",
}
TOOLS = {"f": "step", "f-auto": "step_auto", "f-fast": "step_local"}

POLICY: list[dict[str, Any]] = [
    {"name": "prompt_injection", "stage": "input",
     "when": {"matches": r"ignore (all )?(previous|prior) instructions|system prompt"},
     "action": "block"},
    {"name": "cards_in_input", "stage": "input", "when": {"pii": ["credit_card", "ssn"]},
     "action": "redact", "redact": ["credit_card", "ssn"]},
    {"name": "destructive_tools", "stage": "tool_call", "when": {"risk": "destructive"},
     "action": "block", "on_block": "tell_model"},
    {"name": "secrets_in_calls", "stage": "tool_call", "when": {"contains": ["password", "secret"]},
     "action": "block", "on_block": "tell_model"},
    {"name": "card_in_arguments", "stage": "tool_call", "when": {"pii": ["credit_card"]},
     "action": "block", "on_block": "tell_model"},
    {"name": "pii_in_output", "stage": "output", "when": {"pii": True}, "action": "redact"},
    {"name": "keys_in_output", "stage": "output", "when": {"pii": ["api_key"]}, "action": "block"},
]  # fmt: skip
"""Seven rules over the three stages, in the style of bench.rules' policy; none fires here."""


def make_app(turns: int, scenario: str, fake: Fake, model_url: str | None = None) -> App:
    """The T-turn agent and its tool, declared in the scenario's execution mode; with
    ``model_url`` the model is the ``openai`` provider at that server, which scripts the same
    answers (bench.load's mock-llm), else the ``scripted`` one."""

    async def step(n: int) -> str:
        """Returns the next step's name."""
        return await fake.tool(n)

    name = TOOLS[scenario]
    execution = {"f": "activity", "f-auto": "auto", "f-fast": "local"}[scenario]
    step_tool = tool(name=name, timeout=5, execution=execution)(step)  # type: ignore[call-overload]
    call = {"tool": name, "arguments": {"n": "{1}"}}
    script: list[dict[str, Any]] = [
        # \b, not $: the tool's output may be padded (the realistic curve's 4 KB outputs).
        {"on": "tool", "tool": name, "when": rf"^step-{turns - 1}\b", "say": ANSWER},
        {"on": "tool", "tool": name, "when": r"^step-(\d+)\b", "call": call},
        {"on": "user", "call": {"tool": name, "arguments": {"n": 0}}},
    ]
    if turns == 1:
        script = [{"on": "user", "say": ANSWER}]
    model: dict[str, Any] = {"provider": "scripted", "name": "bench"}
    if model_url:
        model = {"provider": "openai", "name": "mock", "base_url": model_url}
        script = []
    if scenario == "f-fast":
        model["execution"] = "local"
    agent = Agent(
        name="bench",
        model=model,
        tools=[name],
        script=script,
        guardrails=POLICY,
        limits={"max_turns": turns + 1},
    )
    return App(agents=[agent], tools=[step_tool])


class TimedScripted(ScriptedProvider):
    """The scripted model, with its time (and the latency profile's) counted as model time;
    with ``say`` every answer is that many bytes of text, a tool call's too (the realistic
    curve's 2 KB assistant messages)."""

    def __init__(self, clock: WorkClock, model_ms: float, say: int = 0) -> None:
        self._clock = clock
        self._fake = Fake(0, WorkClock(), model_ms=model_ms)
        self._say = say

    async def complete(self, request: ModelRequest) -> ModelResponse:
        started = time.perf_counter()
        if self._fake.model_ms:
            await self._fake.model([])  # only for its wait: the answer is the script's
        response = await super().complete(request)
        if self._say:
            text = filler(self._say, response.message.content)
            message = response.message.model_copy(update={"content": text})
            response = response.model_copy(update={"message": message})
        self._clock.add(time.perf_counter() - started, tool=False)
        return response


class TimedOpenAI(OpenAIProvider):
    """The ``openai`` provider over HTTP, its time counted as model time (bench.load)."""

    def __init__(self, clock: WorkClock) -> None:
        super().__init__(api_key="unused")
        self._clock = clock

    async def complete(self, request: ModelRequest) -> ModelResponse:
        started = time.perf_counter()
        try:
            return await super().complete(request)
        finally:
            self._clock.add(time.perf_counter() - started, tool=False)


@asynccontextmanager
async def telemetry_on(home: Path) -> AsyncIterator[tuple[Settings, Telemetry]]:
    """Settings and started telemetry: OTLP spans to a sink process, metrics on a free port;
    shut down (spans flushed) and the sink stopped on the way out."""
    from bench._server import free_port

    sink, endpoint = _otlp_sink.start()
    try:
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
        settings = Settings.from_env(
            {}, home=home, metrics_port=free_port(), traces_exporter="otlp"
        )
        telemetry = start_telemetry(settings)
        await telemetry.start()
        try:
            yield settings, telemetry
        finally:
            await telemetry.shutdown()
    finally:
        sink.kill()
        sink.wait()


async def agent_run(args: ChildArgs) -> ScenarioResult:
    assert args.address, "the Temporal scenarios need --address"
    from duragent import logging as dlog

    dlog.configure(level="WARNING")
    clock = WorkClock()
    fake = Fake(args.turns, clock, tool_ms=args.tool_ms, pad=args.tool_bytes)
    app = make_app(args.turns, args.scenario, fake, args.model_url)
    result = ScenarioResult(scenario=args.scenario, label=LABELS[args.scenario], turns=args.turns)
    result.notes.append(f"{len(POLICY)} guardrail rules, audit log and transcript store on")
    result.notes.append(
        "tracing (OTLP) and metrics (/metrics) on" if args.telemetry else "telemetry off"
    )
    async with AsyncExitStack() as stack:
        home = Path(stack.enter_context(TemporaryDirectory(prefix="bench-duragent-")))
        telemetry = None
        if args.telemetry:
            settings, telemetry = await stack.enter_async_context(telemetry_on(home))
        else:
            settings = Settings.from_env({}, home=home)
        settings = replace(settings, address=args.address)
        if args.slots:
            settings = replace(
                settings,
                max_concurrent_activities=args.slots,
                max_concurrent_workflow_tasks=args.slots,
            )
        client = await connect(settings, telemetry)
        queue = f"bench-{args.scenario}-{uuid.uuid4().hex[:8]}"

        async def start() -> Any:
            handle = await start_run(
                client, RunRequest(agent="bench", input=args.input), task_queue=queue
            )
            args.workflow_ids.append(handle.id)
            return handle

        async def run_one(_: int) -> None:
            outcome = await (await start()).result()
            assert outcome.status == "completed" and outcome.turns == args.turns, outcome.error

        provider: ScriptedProvider | OpenAIProvider = TimedScripted(
            clock, args.model_ms, args.say_bytes
        )
        if args.model_url:
            provider = TimedOpenAI(clock)

        with SQLiteAuditLog(home / "audit.db") as audit:
            worker = build_worker(
                client,
                app,
                settings,
                audit_log=audit,
                providers={"scripted": provider, "openai": provider},
                task_queue=queue,
            )
            async with worker:
                await args.measure(result, run_one, clock)
                result.load = await load_figures(client, args)
                result.history = await history_figures(start, runs=args.timeline_runs)
    return result


if __name__ == "__main__":
    main({name: agent_run for name in LABELS})
