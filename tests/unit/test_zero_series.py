"""A worker's run series exist at zero before the first run (``RunMetrics.seed`` and the
Prometheus reader's zero histograms), so Prometheus sees the first run as an increase."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData

from duragent import Agent
from duragent._names import LATENCY_BUCKETS_S
from duragent._telemetry import FINISHED_STATUSES, SEEDED_ERROR_TYPES, RunMetrics
from duragent.workers._zero_series import with_zero_histograms

AGENT = Agent(
    name="new", model="scripted/new", fallbacks=["scripted/backup"], script=[{"say": "Hi."}]
)


def points(data: MetricsData) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


def seeded() -> tuple[RunMetrics, InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    instruments = RunMetrics(MeterProvider(metric_readers=[reader]).get_meter("duragent"))
    instruments.seed([AGENT])
    return instruments, reader


def test_counters_of_every_agent_start_at_zero() -> None:
    _, reader = seeded()
    data = reader.get_metrics_data()
    assert data is not None
    found = points(data)
    runs = {p.attributes["status"]: p.value for p in found["duragent_runs"]}
    assert runs == dict.fromkeys(FINISHED_STATUSES, 0)
    errors = {p.attributes["type"] for p in found["duragent_errors"]}
    assert errors == set(SEEDED_ERROR_TYPES)
    cost = {p.attributes["model"]: p.value for p in found["duragent_cost_usd"]}
    assert cost == {"scripted/new": 0, "scripted/backup": 0}


def test_histograms_are_added_at_zero_until_a_run_records_its_own_point() -> None:
    instruments, reader = seeded()
    instruments.run_duration.record(6.0, {"agent": "new", "status": "failed"})
    data = reader.get_metrics_data()
    assert data is not None
    filled = points(with_zero_histograms(data, instruments.zero_histograms(), start_ns=1))
    runs = {p.attributes["status"]: p for p in filled["duragent_run_duration"]}
    assert set(runs) == set(FINISHED_STATUSES)
    assert runs["failed"].count == 1  # the real point, not replaced by a zero
    zero = runs["completed"]
    assert (zero.count, zero.sum, zero.explicit_bounds) == (0, 0, LATENCY_BUCKETS_S)
    assert list(zero.bucket_counts) == [0] * (len(LATENCY_BUCKETS_S) + 1)
    layers = filled["duragent_layer_duration"]  # nothing recorded yet: the metric is added
    assert len(layers) == 6 and all(p.count == 0 for p in layers)


def test_seeding_twice_declares_each_series_once() -> None:
    instruments, _ = seeded()
    instruments.seed([AGENT])
    (runs, _layers) = instruments.zero_histograms()
    assert len(runs.attributes) == len(FINISHED_STATUSES)
