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
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry import context, metrics, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from temporalio.contrib.opentelemetry import ReplaySafeMeterProvider, ReplaySafeTracerProvider

from duragent._messages import RunResult, RunStatus
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
from duragent._spec import AgentSpec
from duragent._vocab import LAYERS
from duragent.errors import RETRY_SEMANTICS

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


# The series a worker creates at zero for each agent of its app (``RunMetrics.seed``). Prometheus
# reads a counter's first sample as its starting point: a series born at 1 shows no increase to
# rate() or increase(), so without a zero before it the first failed or slow run of an agent is
# never seen by an alert. Each tuple is every value the label takes on a finished run.
FINISHED_STATUSES: tuple[RunStatus, ...] = ("completed", "failed", "rejected", "budget_exceeded")
SEEDED_ERROR_TYPES: tuple[str, ...] = tuple(
    dict.fromkeys(
        (
            # The types the README lists under "Observability", then every kind of provider
            # error (``duragent.errors``). A type outside them still counts; its series is born
            # at its first error, so rate() sees it from its second on.
            "timeout",
            "rate_limit",
            "validation_error",
            "tool_error",
            "provider_error",
            "guardrail_blocked",
            "approval_rejected",
            "budget_exceeded",
            "sandbox_violation",
            *RETRY_SEMANTICS,
        )
    )
)
DECISION_OUTCOMES = ("approved", "rejected", "timed_out")
TOKEN_TYPES = ("input", "output", "cached")


@dataclass(frozen=True)
class ZeroHistogram:
    """A histogram's series that exist before anything was recorded on them: the metric reader
    adds them at zero (OpenTelemetry has no way to create a histogram series without a value)."""

    name: str
    unit: str
    description: str
    boundaries: tuple[float, ...]
    attributes: tuple[Mapping[str, str], ...]


_RUN_DURATION = ZeroHistogram(
    METRIC_RUN_DURATION.removesuffix("_seconds"), "s", "Wall time of finished agent runs.",
    LATENCY_BUCKETS_S, (),
)  # fmt: skip
_LAYER_DURATION = ZeroHistogram(
    METRIC_LAYER_DURATION.removesuffix("_seconds"), "s", "Time finished runs spent in each layer.",
    LATENCY_BUCKETS_S, (),
)  # fmt: skip


class RunMetrics:
    """The instruments a finished run is recorded on, created once per meter provider."""

    _cached: tuple[object, RunMetrics] | None = None

    def __init__(self, meter: metrics.Meter) -> None:
        self._zero: dict[str, ZeroHistogram] = {}
        self.run_duration = meter.create_histogram(
            _RUN_DURATION.name,
            unit=_RUN_DURATION.unit,
            description=_RUN_DURATION.description,
            explicit_bucket_boundaries_advisory=LATENCY_BUCKETS_S,
        )
        self.layer_duration = meter.create_histogram(
            _LAYER_DURATION.name,
            unit=_LAYER_DURATION.unit,
            description=_LAYER_DURATION.description,
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

    def seed(self, agents: Iterable[AgentSpec]) -> None:
        """Create at zero every series a finished run of one of ``agents`` records, so that its
        first run is an increase Prometheus sees (call it outside workflow code, at start).

        Counters get an ``add(0)``; the histograms' zero series are listed in
        ``zero_histograms()`` for the metric reader to add. Tokens and cost are seeded for the
        agent's own model and fallbacks, the models its runs use unless a run overrides them.
        """
        runs: list[Mapping[str, str]] = list(
            self._zero.get(_RUN_DURATION.name, _RUN_DURATION).attributes
        )
        layers: list[Mapping[str, str]] = list(
            self._zero.get(_LAYER_DURATION.name, _LAYER_DURATION).attributes
        )
        for spec in agents:
            agent = {"agent": spec.name}
            for status in FINISHED_STATUSES:
                self.runs.add(0, {**agent, "status": status})
                runs.append({**agent, "status": status})
            for layer in LAYERS:
                layers.append({**agent, "layer": layer})
            for kind in SEEDED_ERROR_TYPES:
                self.errors.add(0, {**agent, "type": kind})
            for outcome in DECISION_OUTCOMES:
                self.approvals.add(0, {**agent, "outcome": outcome})
            for model in dict.fromkeys(m.label for m in (spec.model, *spec.fallbacks)):
                self.cost.add(0, {**agent, "model": model})
                for kind in TOKEN_TYPES:
                    self.tokens.add(0, {**agent, "model": model, "type": kind})
        # Replaced whole, never mutated: the reader reads them from its own thread.
        self._zero = {
            _RUN_DURATION.name: _with(_RUN_DURATION, runs),
            _LAYER_DURATION.name: _with(_LAYER_DURATION, layers),
        }

    def zero_histograms(self) -> tuple[ZeroHistogram, ...]:
        """The histogram series ``seed`` declared, for the metric reader to show at zero."""
        return tuple(self._zero.values())

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


def _with(histogram: ZeroHistogram, attributes: Iterable[Mapping[str, str]]) -> ZeroHistogram:
    unique = {tuple(sorted(a.items())): a for a in attributes}
    return ZeroHistogram(
        histogram.name,
        histogram.unit,
        histogram.description,
        histogram.boundaries,
        tuple(unique.values()),
    )


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


def seed_run_metrics(agents: Iterable[AgentSpec]) -> None:
    """Create the run series of ``agents`` at zero on the global replay-safe meter provider,
    when there is one (``RunMetrics.seed``). Workers call it when they start."""
    instruments = RunMetrics.current()
    if instruments is not None:
        instruments.seed(agents)
