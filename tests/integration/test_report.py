"""``duragent report``'s figures against runs with known latencies and faults injected by mock-llm.

Twenty runs of one agent on the real openai provider: fifteen answered after 200 ms, two after
1.7 s (a slow first token), three failed by forced 500s and 401s. The report is computed by
the function the CLI uses, from Temporal; its percentiles must fall within one of the
Prometheus histogram's buckets of the injected latencies, and its cost and error types must be
exactly those of the runs.
"""

from __future__ import annotations

import asyncio
import bisect
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import Client

from duragent import Agent, App, ModelRef, RunConfig, RunRequest, RunResult
from duragent._names import LATENCY_BUCKETS_S
from duragent.activities.models import ModelProvider, OpenAIProvider
from duragent.activities.models._base import close_providers
from duragent.cli._report_runs import compute_report
from duragent.client import start_run
from duragent.mock_llm import FaultProfile, MockConfig, MockLLM
from duragent.report import Report, percentile
from tests.conftest import new_worker

FAST_S = 0.26
SLOW_S = FAST_S + 1.25
"""Each just above a bucket bound (0.25 s, 1.5 s): worker overhead only adds to a latency, so
the room it gets before leaving the next bucket up is most of two buckets."""
PLAN = ["fast"] * 7 + ["slow", "500"] + ["fast"] * 4 + ["401", "500"] + ["fast"] * 4 + ["slow"]
CONCURRENCY = 4
"""Runs in flight at once: enough to overlap, few enough that a 2-core machine under a full
test suite does not add seconds of scheduling to each."""


def bucket(seconds: float) -> int:
    """Index of the histogram bucket a value falls in (``le`` bounds, as Prometheus counts)."""
    return bisect.bisect_left(LATENCY_BUCKETS_S, seconds)


def within_one_bucket(measured: float | None, injected: float) -> bool:
    return measured is not None and abs(bucket(measured) - bucket(injected)) <= 1


async def run(client: Client, request: RunRequest, task_queue: str) -> RunResult:
    handle = await start_run(client, request, task_queue=task_queue)
    return await handle.result()


async def report_when_listed(client: Client, since: datetime, agent: str, runs: int) -> Report:
    """Visibility is eventually consistent: wait until every finished run is listed."""
    deadline = time.monotonic() + 10
    while True:
        report, _ = await compute_report(client, since, agent=agent)
        if report.finished >= runs or time.monotonic() > deadline:
            return report
        await asyncio.sleep(0.2)


async def test_report_figures_match_the_injected_latencies_and_faults(client: Client) -> None:
    name = f"report-{uuid.uuid4().hex[:8]}"
    since = datetime.now(UTC) - timedelta(seconds=1)
    faults = FaultProfile(slow_first_token_ms=(SLOW_S - FAST_S) * 1000)
    async with MockLLM(MockConfig(latency_ms=FAST_S * 1000, faults=faults)) as mock:
        model = ModelRef(provider="openai", name="gpt-4o-mini", base_url=mock.openai_base_url)
        spec = Agent(name=name, model=model, retry={"max_attempts": 2})
        warm_up = Agent(name=f"{name}-warm-up", model=model)

        def request(i: int, kind: str) -> RunRequest:
            """The fault forced on this run's model calls, as a body field mock-llm reads."""
            forced = {} if kind == "fast" else {"mock_fault": "slow" if kind == "slow" else kind}
            # A 401 opens the worker's circuit for its endpoint at once (a key the provider
            # refuses fails every call): that run names a model of its own, as a revoked key's
            # model would be, so the others still reach theirs.
            endpoint = f"{model.name}-revoked" if kind == "401" else model.name
            per_run = RunConfig(model=model.model_copy(update={"params": forced, "name": endpoint}))
            return RunRequest(agent=name, input=f"question {i}", run_config=per_run)

        providers: dict[str, ModelProvider] = {"openai": OpenAIProvider(api_key="test")}
        try:
            app = App(agents=[spec, warm_up])
            async with new_worker(client, app, providers=providers) as worker:
                queue = worker.task_queue
                # Another agent's run first: the worker's pollers and the HTTP connection are
                # ready before the measured runs start, and the report leaves it out.
                await run(client, RunRequest(agent=warm_up.name, input="hello"), queue)
                gate = asyncio.Semaphore(CONCURRENCY)

                async def measured(i: int, kind: str) -> RunResult:
                    async with gate:
                        return await run(client, request(i, kind), queue)

                results = await asyncio.gather(*(measured(i, k) for i, k in enumerate(PLAN)))
        finally:
            await close_providers(providers)
        injected = Counter(mock.stats()["faults"])

    report = await report_when_listed(client, since, name, len(PLAN))
    assert Counter(r.status for r in results) == {"completed": 17, "failed": 3}
    assert (report.runs, report.finished, report.in_flight) == (20, 20, 0)
    assert report.outcomes == {"completed": 17, "failed": 3}
    assert report.error_runs == 3 and report.error_rate == pytest.approx(3 / 20)

    # Nearest rank over 20 runs: P50 is the 10th fastest (a fast one), P99 and P999 the slowest.
    for layer, expected in (("total", (FAST_S, SLOW_S, SLOW_S)), ("reasoning", (FAST_S, SLOW_S, SLOW_S))):  # fmt: skip
        dist = report.latency_s[layer]
        measured = (dist.p50, dist.p99, dist.p999)
        assert all(map(within_one_bucket, measured, expected)), (layer, measured, expected)
        exact = [getattr(r.latency, f"{layer}_ms") / 1000 for r in results]
        assert measured == (percentile(exact, 50), percentile(exact, 99), percentile(exact, 99.9))
    assert report.latency_s["total"].count == 20

    total_cost = sum(r.cost_usd for r in results)
    assert total_cost > 0
    assert report.total_cost_usd == pytest.approx(total_cost)
    assert report.cost_per_request_usd == pytest.approx(total_cost / 20)
    assert report.tokens.input == sum(r.usage.input_tokens for r in results)

    # Two attempts at each 500, one at the 401 (never retried): every one is counted, by type.
    assert injected == {"slow_first_token": 2, "server_error": 4, "auth": 1}
    assert report.error_types == {"server_error": 4, "auth": 1}
    assert report.approval_runs == 0 and report.approval_rate == 0.0
    print(  # the figures, for whoever reads the test log
        f"\nP50/P99/P999 total {[report.latency_s['total'].p50, report.latency_s['total'].p99, report.latency_s['total'].p999]} s, "
        f"reasoning {[report.latency_s['reasoning'].p50, report.latency_s['reasoning'].p99]} s, "
        f"cost/request ${report.cost_per_request_usd:.8f}, errors {report.error_types}"
    )
