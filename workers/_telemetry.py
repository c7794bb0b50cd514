"""Turning telemetry on in a process: OpenTelemetry providers, exporters and the /metrics port.

OpenTelemetry's global providers can be set once per process, and workflow code may only use
Temporal's replay-safe wrappers (``duragent._telemetry`` records nothing otherwise), so a
process calls ``start_telemetry`` once, before it connects, and keeps the returned
``Telemetry`` for its lifetime:

- traces: a ``ReplaySafeTracerProvider`` (deterministic span ids in workflows, no span ended
  twice on replay) with the exporters asked for (OTLP, console, or one given, e.g. in-memory),
  and Temporal's ``OpenTelemetryPlugin`` on the client, which carries the trace context from
  the client through the workflow to every activity and across continue-as-new;
- metrics: a ``ReplaySafeMeterProvider`` read by a Prometheus endpoint (``metrics_port``), an
  OTLP or console push, or a reader given; the Temporal SDK's own metrics are drained into the
  same provider, so one scrape shows both. A worker creates its app's run series at zero when
  it is built (``duragent._telemetry.seed_run_metrics``; the endpoint's reader adds the
  histograms', ``_zero_series``), so an alert sees the first run of a new agent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from temporalio.client import Client
from temporalio.contrib.opentelemetry import (
    MetricsExporter,
    OpenTelemetryPlugin,
    ReplaySafeMeterProvider,
    ReplaySafeTracerProvider,
    create_tracer_provider,
)
from temporalio.plugin import SimplePlugin
from temporalio.runtime import MetricBuffer, MetricBufferDurationFormat, Runtime, TelemetryConfig

from duragent._names import LATENCY_BUCKETS_S, METRIC_PENDING_APPROVALS, SA_PENDING, WORKFLOW
from duragent.errors import DuragentError
from duragent.settings import Settings

log = structlog.get_logger("duragent.telemetry")

PENDING_QUERY = (
    f"WorkflowType = '{WORKFLOW}' AND ExecutionStatus = 'Running' AND {SA_PENDING.name} > 0"
)


@dataclass
class Telemetry:
    """This process's telemetry: what is on, and what to flush and stop at exit."""

    tracing: bool = False
    metrics: bool = False
    runtime: Runtime | None = None
    """The Temporal runtime whose SDK metrics are exported; clients connect with it."""
    tracer_provider: ReplaySafeTracerProvider | None = None
    meter_provider: MeterProvider | None = None
    metrics_port: int | None = None
    _exporter: MetricsExporter | None = None
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _pending: int | None = None

    def plugins(self) -> list[SimplePlugin]:
        """Client plugins: Temporal's OpenTelemetry plugin when tracing is on."""
        return [OpenTelemetryPlugin(add_temporal_spans=True)] if self.tracing else []

    async def start(self) -> None:
        """Start draining the SDK's metrics (call inside the running event loop)."""
        if self._exporter is not None:
            await self._exporter.__aenter__()

    def watch_pending_approvals(self, client: Client, *, every_s: float = 15.0) -> None:
        """Report ``duragent_pending_approvals`` from visibility, refreshed every ``every_s``."""
        if self.meter_provider is None:
            return
        meter = self.meter_provider.get_meter("duragent")
        meter.create_observable_gauge(
            METRIC_PENDING_APPROVALS,
            callbacks=[self._observe_pending],
            description="Runs waiting for a human decision (namespace-wide).",
        )
        self._tasks.append(asyncio.create_task(self._poll_pending(client, every_s)))

    def _observe_pending(self, _: CallbackOptions) -> Iterable[Observation]:
        return [] if self._pending is None else [Observation(self._pending)]

    async def _poll_pending(self, client: Client, every_s: float) -> None:
        while True:
            try:
                counted = await client.count_workflows(PENDING_QUERY)
                self._pending = counted.count
            except Exception as exc:  # a visibility hiccup must not stop the worker
                log.warning("could not count pending approvals", error=str(exc))
            await asyncio.sleep(every_s)

    async def shutdown(self) -> None:
        """Stop the background work and flush every exporter."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._exporter is not None:
            await self._exporter.__aexit__(None, None, None)
        if self.tracer_provider is not None:
            self.tracer_provider.force_flush()
        if self.meter_provider is not None:
            self.meter_provider.force_flush()


_installed: Telemetry | None = None


def start_telemetry(
    settings: Settings,
    *,
    span_exporters: Sequence[SpanExporter] = (),
    metric_readers: Sequence[MetricReader] = (),
    service_name: str = "duragent-worker",
) -> Telemetry:
    """Install this process's tracer and meter providers per ``settings`` (once per process).

    ``span_exporters`` and ``metric_readers`` add to what the settings ask for (tests pass
    in-memory ones). Nothing asked for: nothing installed, and nothing is recorded.
    """
    global _installed
    if _installed is not None:
        raise DuragentError("telemetry is already set up in this process; call it once")
    resource = Resource.create()  # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES apply
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": service_name}))
    telemetry = Telemetry()
    processors = _span_processors(settings.traces_exporter, span_exporters)
    if processors:
        provider = create_tracer_provider(resource=resource)
        for processor in processors:
            provider.add_span_processor(processor)
        trace.set_tracer_provider(provider)
        telemetry.tracing, telemetry.tracer_provider = True, provider
    readers = _metric_readers(settings, metric_readers)
    if readers:
        meter_provider = MeterProvider(
            metric_readers=readers,
            resource=resource,
            # The SDK's histograms arrive in seconds; OpenTelemetry's default buckets are
            # meant for milliseconds and would put everything under 5 s in one bucket.
            views=[
                View(
                    meter_name="temporalio",
                    instrument_type=Histogram,
                    aggregation=ExplicitBucketHistogramAggregation(LATENCY_BUCKETS_S),
                )
            ],
        )
        metrics.set_meter_provider(ReplaySafeMeterProvider(meter_provider))
        buffer = MetricBuffer(100_000, MetricBufferDurationFormat.SECONDS)
        telemetry.runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer))
        telemetry._exporter = MetricsExporter(buffer, meter_provider)
        telemetry.metrics, telemetry.meter_provider = True, meter_provider
        telemetry.metrics_port = settings.metrics_port
    _installed = telemetry
    return telemetry


def _span_processors(exporters: str, extra: Sequence[SpanExporter]) -> list[SpanProcessor]:
    processors: list[SpanProcessor] = [SimpleSpanProcessor(e) for e in extra]
    for name in exporters.split(","):
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            processors.append(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":
            processors.append(SimpleSpanProcessor(ConsoleSpanExporter()))
    return processors


def _metric_readers(settings: Settings, extra: Sequence[MetricReader]) -> list[MetricReader]:
    readers = list(extra)
    if settings.metrics_port is not None:
        readers.append(_prometheus(settings.metrics_port))
    for name in settings.metrics_exporter.split(","):
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

            readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
        elif name == "console":
            from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

            readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter()))
    return readers


def _prometheus(port: int) -> MetricReader:
    from prometheus_client import start_http_server

    from duragent.workers._zero_series import ZeroSeededPrometheusReader

    if not 0 < port < 65536:
        raise DuragentError(f"--metrics-port {port}: a port must be between 1 and 65535")
    try:
        start_http_server(port)
    except OSError as exc:
        raise DuragentError(
            f"cannot serve metrics on port {port} ({exc.strerror}); pick a free port with "
            "--metrics-port or DURAGENT_METRICS_PORT"
        ) from None
    return ZeroSeededPrometheusReader()
