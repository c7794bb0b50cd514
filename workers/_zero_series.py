"""The Prometheus reader that shows a worker's run histograms at zero before their first run.

Prometheus takes a series' first sample as its starting point, so a series born with a count of
1 shows no increase to ``rate()``: the first slow run of a new agent would move no latency alert.
Counters are created at zero by adding 0 (``duragent._telemetry.RunMetrics.seed``); an
OpenTelemetry histogram has no such move (any ``record`` counts a run), so this reader adds the
declared series at zero to each collection, until the SDK has a point of its own for them.
Only the data handed to the Prometheus exporter changes; the SDK's aggregation is untouched.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    ScopeMetrics,
)

from duragent._telemetry import SCOPE, RunMetrics, ZeroHistogram


class ZeroSeededPrometheusReader(PrometheusMetricReader):
    """A ``PrometheusMetricReader`` that also shows the zero series ``RunMetrics.seed`` declared."""

    def __init__(self) -> None:
        super().__init__()
        self._started_ns = time.time_ns()

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        instruments = RunMetrics.current()
        if metrics_data is not None and instruments is not None:
            zero = instruments.zero_histograms()
            if zero:
                metrics_data = with_zero_histograms(metrics_data, zero, self._started_ns)
        super()._receive_metrics(metrics_data, timeout_millis, **kwargs)


def with_zero_histograms(
    data: MetricsData, declared: Sequence[ZeroHistogram], start_ns: int
) -> MetricsData:
    """``data`` with a zero point for every declared histogram series it lacks, in the
    ``duragent`` scope (seeding a counter puts that scope in every collection)."""
    now = time.time_ns()
    resources = []
    for resource in data.resource_metrics:
        scopes = [
            _fill(scope, declared, start_ns, now) if scope.scope.name == SCOPE else scope
            for scope in resource.scope_metrics
        ]
        resources.append(replace(resource, scope_metrics=scopes))
    return replace(data, resource_metrics=resources)


def _fill(
    scope: ScopeMetrics, declared: Sequence[ZeroHistogram], start_ns: int, now_ns: int
) -> ScopeMetrics:
    metrics = list(scope.metrics)
    for histogram in declared:
        index = next((i for i, m in enumerate(metrics) if m.name == histogram.name), None)
        existing = metrics[index] if index is not None else None
        points: list[HistogramDataPoint] = []
        if existing is not None and isinstance(existing.data, Histogram):
            points = list(existing.data.data_points)
        seen = {_key(p.attributes) for p in points}
        points += [
            _zero_point(attributes, histogram.boundaries, start_ns, now_ns)
            for attributes in histogram.attributes
            if _key(attributes) not in seen
        ]
        data = Histogram(points, AggregationTemporality.CUMULATIVE)
        if existing is not None and index is not None:
            metrics[index] = replace(existing, data=data)
        else:
            metrics.append(Metric(histogram.name, histogram.description, histogram.unit, data))
    return replace(scope, metrics=metrics)


def _key(attributes: Mapping[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((attributes or {}).items()))


def _zero_point(
    attributes: Mapping[str, str], bounds: tuple[float, ...], start_ns: int, now_ns: int
) -> HistogramDataPoint:
    return HistogramDataPoint(
        attributes=dict(attributes),
        start_time_unix_nano=start_ns,
        time_unix_nano=now_ns,
        count=0,
        sum=0,
        bucket_counts=[0] * (len(bounds) + 1),
        explicit_bounds=bounds,
        min=float("inf"),
        max=float("-inf"),
    )
