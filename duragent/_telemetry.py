"""Spans and metrics recorded by workflow and activity code, through OpenTelemetry's global
providers.

Workflow code re-executes on every replay (a cache eviction, a worker restart), so it may only
record through Temporal's replay-safe wrappers: ``workers`` installs a ``ReplaySafeTracerProvider``
and a ``ReplaySafeMeterProvider`` as the global providers when telemetry is on, and these
helpers record nothing unless they find them. Outside workflows (activities) any provider
works. No I/O happens here: exporting is the providers' business, set up in ``workers``.

Names follow the OpenTelemetry GenAI semantic conventions for spans and Prometheus conventions
for metrics (``duragent._names``). Text that can carry an error's words (a span's status
description, the ``type`` label of errors) passes the process's redactor (``duragent._redact``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context, metrics, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from temporalio.contrib.opentelemetry import ReplaySafeMeterProvider, ReplaySafeTracerProvider

from duragent._messages import RunResult
from duragent._names import (
    LATENCY_BUCKETS_S,
    METRIC_APPROVALS,
    METRIC_COST,
    METRIC_ERRORS,
    METRIC_LAYER_DURATION,
    METRIC_RUN_DURATION,
    METRIC_RUNS,
    METRIC_TOKENS,
)
from duragent._redact import redact
from duragent._vocab import LAYERS

SCOPE = "duragent"

# GenAI semantic-convention attribute names (opentelemetry-semantic-conventions, gen_ai.*).
OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CACHED_TOKENS = "gen_ai.usage.cache_read.input_tokens"
AGENT_NAME = "gen_ai.agent.name"
CONVERSATION_ID = "gen_ai.conversation.id"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
ERROR_TYPE = "error.type"


def workflow_tracer() -> trace.Tracer:
    """A tracer for workflow code: replay-safe, or one that records nothing."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, ReplaySafeTracerProvider):
        return provider.get_tracer(SCOPE)
    return trace.NoOpTracer()


def tracer() -> trace.Tracer:
    """A tracer for activity code (which never replays)."""
    return trace.get_tracer(SCOPE)


@contextmanager
def span(
    name: str,
    attributes: Mapping[str, Any] | None = None,
    *,
    in_workflow: bool = False,
    kind: SpanKind = SpanKind.INTERNAL,
    outcomes: tuple[type[BaseException], ...] = (),
) -> Iterator[Span]:
    """A span around a block, current inside it; an exception marks it failed with its type as
    ``error.type``, except those in ``outcomes`` (a run ending, continue-as-new): they only end
    it."""
    source = workflow_tracer() if in_workflow else tracer()
    current = source.start_span(name, kind=kind, attributes=_clean(attributes or {}))
    token = context.attach(trace.set_span_in_context(current))
    collected = False
    try:
        yield current
    except GeneratorExit:
        # The garbage collector is closing a workflow coroutine: a worker stopped with this run
        # idle in its cache (waiting on an approval, say), and the SDK drops such runs without
        # evicting them. This runs on whatever thread collected it, in that thread's context:
        # detaching our token there fails (and logs a traceback), and ending the span would
        # record a run that has not ended. The next worker replays the run; leave both alone.
        collected = True
        raise
    except outcomes:
        raise
    except BaseException as exc:
        if current.is_recording():
            current.set_attribute(ERROR_TYPE, redact(_error_type(exc)))
            current.set_status(Status(StatusCode.ERROR, redact(f"{type(exc).__name__}: {exc}")))
        raise
    finally:
        if not collected:
            context.detach(token)
            current.end()


def _error_type(exc: BaseException) -> str:
    kind = getattr(exc, "type", None) or getattr(exc, "kind", None)
    cause = exc.__cause__
    if kind is None and cause is not None:
        kind = getattr(cause, "type", None) or getattr(cause, "kind", None)
    return str(kind or type(exc).__name__)


def _clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v is not None}


class RunMetrics:
    """The instruments a finished run is recorded on, created once per meter provider."""

    _cached: tuple[object, RunMetrics] | None = None

    def __init__(self, meter: metrics.Meter) -> None:
        self.run_duration = meter.create_histogram(
            METRIC_RUN_DURATION.removesuffix("_seconds"),
            unit="s",
            description="Wall time of finished agent runs.",
            explicit_bucket_boundaries_advisory=LATENCY_BUCKETS_S,
        )
        self.layer_duration = meter.create_histogram(
            METRIC_LAYER_DURATION.removesuffix("_seconds"),
            unit="s",
            description="Time finished runs spent in each layer.",
            explicit_bucket_boundaries_advisory=LATENCY_BUCKETS_S,
        )
        self.runs = meter.create_counter(
            METRIC_RUNS.removesuffix("_total"), description="Finished agent runs, by status."
        )
        self.tokens = meter.create_counter(
            METRIC_TOKENS.removesuffix("_total"), description="Model tokens, by type."
        )
        self.cost = meter.create_counter(
            METRIC_COST.removesuffix("_total"), description="Model spend in US dollars."
        )
        self.errors = meter.create_counter(
            METRIC_ERRORS.removesuffix("_total"), description="Failures during runs, by type."
        )
        self.approvals = meter.create_counter(
            METRIC_APPROVALS.removesuffix("_total"), description="Human decisions, by outcome."
        )

    @classmethod
    def current(cls) -> RunMetrics | None:
        """The instruments on the global replay-safe meter provider; ``None`` if there is none."""
        provider = metrics.get_meter_provider()
        if not isinstance(provider, ReplaySafeMeterProvider):
            return None
        if cls._cached is None or cls._cached[0] is not provider:
            cls._cached = (provider, cls(provider.get_meter(SCOPE)))
        return cls._cached[1]

    def record(self, result: RunResult, *, entry_agent: str) -> None:
        """Record a finished run: its time by layer, tokens and cost by model, errors, decisions."""
        agent = {"agent": entry_agent}
        latency = result.latency
        self.run_duration.record(latency.total_ms / 1000, {**agent, "status": result.status})
        for layer in LAYERS:
            seconds = getattr(latency, f"{layer}_ms") / 1000
            self.layer_duration.record(seconds, {**agent, "layer": layer})
        self.runs.add(1, {**agent, "status": result.status})
        tokens: Counter[tuple[str, str]] = Counter()
        cost: dict[str, float] = {}
        for step in result.steps:
            if step.kind != "model" or step.model is None or step.usage is None:
                continue
            tokens[(step.model, "input")] += step.usage.input_tokens
            tokens[(step.model, "output")] += step.usage.output_tokens
            tokens[(step.model, "cached")] += step.usage.cached_tokens
            cost[step.model] = cost.get(step.model, 0.0) + (step.cost_usd or 0.0)
        for (model, kind), count in tokens.items():
            if count:
                self.tokens.add(count, {**agent, "model": model, "type": kind})
        for model, usd in cost.items():
            if usd:
                self.cost.add(usd, {**agent, "model": model})
        for kind, count in result.errors.items():
            self.errors.add(count, {**agent, "type": redact(kind)})
        for outcome, count in _decisions(result).items():
            self.approvals.add(count, {**agent, "outcome": outcome})


def _decisions(result: RunResult) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    for step in result.steps:
        if step.kind in ("approval_decided", "review_decided"):
            outcomes["rejected" if step.action == "reject" else "approved"] += 1
        elif step.kind == "approval_timeout":
            outcomes["timed_out"] += 1
    return outcomes


def record_run(result: RunResult, *, entry_agent: str) -> None:
    """Record a finished run on the global meter provider, when it is the replay-safe one."""
    instruments = RunMetrics.current()
    if instruments is not None:
        instruments.record(result, entry_agent=entry_agent)
