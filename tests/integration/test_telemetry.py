"""Traces and metrics of real runs, read through OpenTelemetry's in-memory exporter and reader.

One process can install OpenTelemetry's global providers once, so the session shares one
``Telemetry`` (the ``telemetry`` fixture); each test tells its runs apart by a unique agent name
and by trace id.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr
from temporalio.client import Client

from duragent import Agent, App, RunRequest, RunResult, tool
from duragent._names import WORKFLOW
from duragent._telemetry import FINISHED_STATUSES
from duragent.client import start_run
from duragent.settings import Settings
from duragent.workers import Telemetry, connect, start_telemetry
from tests.conftest import new_worker


@dataclass
class Captured:
    telemetry: Telemetry
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    client: Client


@pytest.fixture(scope="session")
async def traced(client: Client, payload_store: Any) -> AsyncIterator[Captured]:
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    telemetry = start_telemetry(Settings(), span_exporters=[spans], metric_readers=[reader])
    await telemetry.start()
    settings = Settings(
        address=client.service_client.config.target_host, payload_store=payload_store
    )
    traced_client = await connect(settings, telemetry)
    yield Captured(telemetry, spans, reader, traced_client)
    await telemetry.shutdown()


@tool(timeout=5)
def lookup_order(order_id: str) -> dict[str, Any]:
    """Look up an order."""
    return {"order_id": order_id, "status": "shipped"}


@tool(risk="write", timeout=5, idempotent=True, execution="activity")
def reset_password(email: str, new_password: SecretStr) -> str:
    """Set a new password (the model never needs to see it again)."""
    return f"password of {email} reset"


def support_app(prefix: str) -> App:
    router = Agent(
        name=f"{prefix}-router",
        model="scripted/router",
        handoffs=[f"{prefix}-info"],
        script=[{"when": "order|password", "handoff": f"{prefix}-info"}, {"say": "Hello."}],
    )
    info = Agent(
        name=f"{prefix}-info",
        model="scripted/info",
        tools=["lookup_order", "reset_password"],
        script=[
            {
                "on": "tool",
                "tool": "lookup_order",
                "say": "Order {result.order_id} is {result.status}.",
            },
            {"on": "tool", "tool": "reset_password", "say": "Done: {result}."},
            {
                "when": r"order (\d+)",
                "call": {"tool": "lookup_order", "arguments": {"order_id": "{1}"}},
            },
            {
                "when": r"password of (\S+) to (\S+)",
                "call": {
                    "tool": "reset_password",
                    "arguments": {"email": "{1}", "new_password": "{2}"},
                },
            },
            {"say": "Sorry?"},
        ],
    )
    return App(name=prefix, agents=[router, info], tools=[lookup_order, reset_password])


async def run_once(
    captured: Captured, app: App, text: str, **worker_options: Any
) -> tuple[RunResult, list[ReadableSpan]]:
    """One run on a traced worker; its result and every span of its trace."""
    async with new_worker(captured.client, app, **worker_options) as worker:
        handle = await start_run(
            captured.client,
            RunRequest(agent=f"{app.name}-router", input=text),
            task_queue=worker.task_queue,
        )
        result: RunResult = await handle.result()
    captured.telemetry.tracer_provider.force_flush()  # type: ignore[union-attr]
    ours = [
        s
        for s in captured.spans.get_finished_spans()
        if (s.attributes or {}).get("temporalWorkflowID") == handle.id
    ]
    assert ours, f"no span names workflow {handle.id}"
    trace_ids = {s.context.trace_id for s in ours if s.context is not None}
    return result, [
        s
        for s in captured.spans.get_finished_spans()
        if s.context is not None and s.context.trace_id in trace_ids
    ]


def metric_points(
    reader: InMemoryMetricReader, name: str, agent: str
) -> dict[tuple[Any, ...], Any]:
    """Data points of one metric for one agent, keyed by their other label values."""
    found: dict[tuple[Any, ...], Any] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name != name:
                    continue
                for point in metric.data.data_points:
                    labels = dict(point.attributes or {})
                    if labels.pop("agent", None) == agent:
                        found[tuple(sorted(labels.items()))] = point
    return found


def by_name(spans: list[ReadableSpan]) -> Counter[str]:
    return Counter(s.name for s in spans)


def parent_of(span: ReadableSpan, spans: list[ReadableSpan]) -> ReadableSpan | None:
    ids = {s.context.span_id: s for s in spans if s.context is not None}
    return ids.get(span.parent.span_id) if span.parent is not None else None


def ancestors(span: ReadableSpan, spans: list[ReadableSpan]) -> list[str]:
    names, current = [], parent_of(span, spans)
    while current is not None:
        names.append(current.name)
        current = parent_of(current, spans)
    return names


async def test_a_run_is_one_trace_with_turns_model_calls_tools_and_handoff(
    traced: Captured,
) -> None:
    prefix = f"tr{uuid.uuid4().hex[:6]}"
    result, spans = await run_once(traced, support_app(prefix), "Where is order 1001?")

    assert result.status == "completed", result.error
    assert len({s.context.trace_id for s in spans if s.context}) == 1
    names = by_name(spans)
    assert names[f"StartWorkflow:{WORKFLOW}"] == 1
    assert names[f"RunWorkflow:{WORKFLOW}"] == 1
    assert names[f"invoke_agent {prefix}-router"] == 1
    assert names["turn 1"] == names["turn 2"] == names["turn 3"] == 1
    assert names["chat router"] == 1 and names["chat info"] == 2
    assert names["execute_tool lookup_order"] == 1
    assert names[f"handoff {prefix}-router -> {prefix}-info"] == 1

    # The tree: client → workflow → agent → turn → activity → the GenAI call.
    for chat in (s for s in spans if s.name.startswith("chat ")):
        chain = ancestors(chat, spans)
        assert chain[0] == "RunActivity:model.call"
        assert chain[1] == "StartActivity:model.call"
        assert chain[2].startswith("turn ")
        assert chain[3:] == [
            f"invoke_agent {prefix}-router",
            f"RunWorkflow:{WORKFLOW}",
            f"StartWorkflow:{WORKFLOW}",
        ]
    tool_span = next(s for s in spans if s.name == "execute_tool lookup_order")
    assert ancestors(tool_span, spans)[2] == "turn 2"

    # GenAI attributes equal the run's recorded usage, call by call and in total.
    chats = sorted(
        (s for s in spans if s.name.startswith("chat ")), key=lambda s: s.start_time or 0
    )
    model_steps = [s for s in result.steps if s.kind == "model"]
    assert len(chats) == len(model_steps)
    for chat, step in zip(chats, model_steps, strict=True):
        attributes = chat.attributes or {}
        assert step.usage is not None
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.provider.name"] == "scripted"
        assert f"scripted/{attributes['gen_ai.request.model']}" == step.model
        assert attributes["gen_ai.usage.input_tokens"] == step.usage.input_tokens
        assert attributes["gen_ai.usage.output_tokens"] == step.usage.output_tokens
        assert "gen_ai.input.messages" not in attributes  # content only when opted in
    run_span = next(s for s in spans if s.name.startswith("invoke_agent"))
    assert (run_span.attributes or {})["gen_ai.usage.input_tokens"] == result.usage.input_tokens
    assert (run_span.attributes or {})["duragent.status"] == "completed"


async def test_metrics_equal_the_runs_record(traced: Captured) -> None:
    prefix = f"mt{uuid.uuid4().hex[:6]}"
    agent = f"{prefix}-router"
    result, _ = await run_once(traced, support_app(prefix), "Where is order 1002?")

    runs = metric_points(traced.metrics, "duragent_runs", agent)
    # The worker created the agent's series at zero: the other statuses are there, at 0.
    assert {k: p.value for k, p in runs.items()} == {
        (("status", status),): int(status == "completed") for status in FINISHED_STATUSES
    }
    tokens = metric_points(traced.metrics, "duragent_tokens", agent)
    total_in = sum(p.value for k, p in tokens.items() if ("type", "input") in k)
    total_out = sum(p.value for k, p in tokens.items() if ("type", "output") in k)
    assert (total_in, total_out) == (result.usage.input_tokens, result.usage.output_tokens)
    cost = metric_points(traced.metrics, "duragent_cost_usd", agent)
    assert sum(p.value for p in cost.values()) == pytest.approx(result.cost_usd, abs=1e-8)
    duration = metric_points(traced.metrics, "duragent_run_duration", agent)
    (point,) = duration.values()
    assert point.count == 1
    assert point.sum == pytest.approx(result.latency.total_ms / 1000, rel=1e-6)
    assert 10.0 in point.explicit_bounds  # buckets resolve P999 around 10 s
    layers = metric_points(traced.metrics, "duragent_layer_duration", agent)
    assert {dict(k)["layer"] for k in layers} == {
        "input", "reasoning", "output", "tool", "approval", "orchestration",
    }  # fmt: skip


async def test_replaying_every_task_adds_no_span_and_no_metric(traced: Captured) -> None:
    """With the workflow cache off, every workflow task replays the run from its first event:
    the replay-safe providers must keep span and metric counts exactly as without replay."""
    cached, uncached = f"rc{uuid.uuid4().hex[:6]}", f"ru{uuid.uuid4().hex[:6]}"
    text = "Set the password of ana@example.com to hunter2-correct-horse"
    first, with_cache = await run_once(traced, support_app(cached), text)
    second, replayed = await run_once(traced, support_app(uncached), text, max_cached_workflows=0)

    assert first.status == second.status == "completed"
    assert len(first.steps) == len(second.steps)

    def normalized(spans: list[ReadableSpan], prefix: str) -> Counter[str]:
        return Counter(s.name.replace(prefix, "P") for s in spans)

    assert normalized(replayed, uncached) == normalized(with_cache, cached)
    for name in ("duragent_runs", "duragent_tokens", "duragent_cost_usd", "duragent_run_duration"):
        a = metric_points(traced.metrics, name, f"{cached}-router")
        b = metric_points(traced.metrics, name, f"{uncached}-router")
        assert a.keys() == b.keys(), name
        for key in a:
            count = "count" if hasattr(a[key], "count") else "value"
            assert getattr(a[key], count) == getattr(b[key], count), (name, key)
    # Every span was ended once: no two finished spans share an id.
    ids = [s.context.span_id for s in replayed if s.context]
    assert len(ids) == len(set(ids))


async def test_content_only_when_opted_in_and_secret_arguments_redacted(traced: Captured) -> None:
    prefix = f"cc{uuid.uuid4().hex[:6]}"
    password = "hunter2-correct-horse"
    text = f"Set the password of ana@example.com to {password}"
    result, spans = await run_once(
        traced, support_app(prefix), text, settings=Settings(capture_content=True)
    )
    assert result.status == "completed", result.error

    chats = [s for s in spans if s.name == "chat info"]
    calling = next(
        s
        for s in chats
        if "reset_password" in str((s.attributes or {}).get("gen_ai.output.messages"))
    )
    (message,) = json.loads(str((calling.attributes or {})["gen_ai.output.messages"]))
    (call,) = message["tool_calls"]
    # The model's call, with the argument the tool's schema marks secret (SecretStr) hidden.
    assert call == {
        "name": "reset_password",
        "arguments": {"email": "ana@example.com", "new_password": "[redacted]"},
    }
    # The next call's input repeats the conversation: the user's own text as typed (content
    # the user opted in to), the earlier tool call still with its secret hidden.
    history = json.loads(str((chats[-1].attributes or {})["gen_ai.input.messages"]))
    assert history[0] == {"role": "user", "content": text}
    earlier = [c for m in history for c in m.get("tool_calls", [])]
    assert earlier[-1] == call
