"""Failover latency: how long a run takes when its primary model fails and the fallback answers.

    .venv/bin/python -m bench.failover [--runs 10] [--timeout 1.0] [--timer-shift 10ms]

The primary is ``openai/gpt-4o-mini`` on one mock-llm, the fallback ``anthropic/claude-haiku-4-5``
on another, both through the real SDK clients over HTTP, on the embedded dev server tuned as
``duragent dev`` starts it. Scenarios, each on a fresh worker (so a fresh circuit breaker):

    healthy       the primary answers (the baseline)
    500           every primary request is a 500: three attempts with backoff, then the fallback
                  (the breaker is set not to trip, to measure retries alone)
    circuit open  the primary's circuit is already open: the call fails fast, the fallback answers
    hang          the primary never answers: each attempt waits for the model timeout (--timeout)
                  before the retry, then the fallback (breaker set not to trip)

Runs go one at a time, so the figure is latency, not throughput. ``--timer-shift`` overrides the dev
server's ``history.timerProcessorMaxTimeShift`` (default 1 s), which makes short timers, and so
the 100 ms and 200 ms retry backoffs, fire up to that late.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from duragent import Agent, App, RunRequest, RunResult
from duragent._names import SEARCH_ATTRIBUTES
from duragent.activities.models import (
    AnthropicProvider,
    ModelProvider,
    OpenAIProvider,
    close_providers,
)
from duragent.audit import SQLiteAuditLog
from duragent.client import start_run
from duragent.logging import configure
from duragent.mock_llm import FaultProfile, MockConfig, MockLLM
from duragent.settings import Settings
from duragent.workers import TUNING, build_worker, temporal_binary

NEVER_TRIPS = 1_000_000


def spec(primary: MockLLM, fallback: MockLLM, timeout_s: float) -> Agent:
    return Agent(
        name="support",
        instructions="Answer briefly.",
        model={"provider": "openai", "name": "gpt-4o-mini", "base_url": primary.openai_base_url},
        fallbacks=[
            {
                "provider": "anthropic",
                "name": "claude-haiku-4-5",
                "base_url": fallback.anthropic_base_url,
            }
        ],
        limits={"timeouts": {"model_s": timeout_s}},
    )


async def scenario(
    client: Client,
    faults: FaultProfile,
    *,
    runs: int,
    timeout_s: float,
    settings: Settings,
    prepare: Callable[[Callable[[], Awaitable[RunResult]]], Awaitable[Any]] | None = None,
) -> tuple[list[float], set[str], int]:
    """Wall seconds of ``runs`` sequential runs, who answered them, primary requests seen."""
    async with (
        MockLLM(MockConfig(faults=faults)) as primary,
        MockLLM(MockConfig()) as fallback,
    ):
        providers: dict[str, ModelProvider] = {
            "openai": OpenAIProvider(api_key="test"),
            "anthropic": AnthropicProvider(api_key="test"),
        }
        log = SQLiteAuditLog(Path(tempfile.mkdtemp()) / "audit.db")
        worker = build_worker(
            client,
            App(agents=[spec(primary, fallback, timeout_s)]),
            settings,
            providers=providers,
            audit_log=log,
            task_queue=f"bench-failover-{time.monotonic_ns()}",
        )
        walls: list[float] = []
        answered: set[str] = set()
        try:
            async with worker:

                async def one() -> RunResult:
                    handle = await start_run(
                        client,
                        RunRequest(agent="support", input="Where is my order?"),
                        task_queue=worker.task_queue,
                    )
                    return await handle.result()

                await one()  # warm-up (connections, caches); for "circuit open" it trips it
                if prepare is not None:
                    await prepare(one)
                before = primary.stats()["requests"]
                for _ in range(runs):
                    started = time.perf_counter()
                    result = await one()
                    walls.append(time.perf_counter() - started)
                    if result.status != "completed":
                        raise RuntimeError(f"run ended {result.status}: {result.error}")
                    answered.update(s.model or "" for s in result.steps if s.kind == "model")
                seen = primary.stats()["requests"] - before
        finally:
            await close_providers(providers)
            log.close()
    return walls, answered, seen


async def main(runs: int, timeout_s: float, timer_shift: str | None) -> None:
    # Failed attempts are the point here: keep their tracebacks and the circuit's warnings out
    # of the table (stderr, errors only).
    configure(level="ERROR")
    for name in ("temporalio", "temporalio.activity", "temporalio.worker"):
        logging.getLogger(name).setLevel(logging.ERROR)
    tuning = (
        [*TUNING, f'history.timerProcessorMaxTimeShift="{timer_shift}"'] if timer_shift else TUNING
    )
    extra = [a for v in tuning for a in ("--dynamic-config-value", v)]
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=extra,
        data_converter=pydantic_data_converter,
    )
    no_trip = Settings(circuit_failures=NEVER_TRIPS)
    trips = Settings(circuit_failures=3, circuit_cooldown_s=3600)
    rows: list[tuple[str, str, list[float], set[str], int]] = []
    try:
        client = env.client
        cases: list[tuple[str, str, FaultProfile, Settings, int]] = [
            ("healthy primary", "-", FaultProfile(), no_trip, runs),
            ("primary 500", "3 attempts, backoff", FaultProfile(server_error=1.0), no_trip, runs),
            ("circuit open", "fails fast", FaultProfile(server_error=1.0), trips, runs),
            (
                "primary hangs",
                f"3 attempts x {timeout_s:g} s timeout",
                FaultProfile(hang=1.0, hang_s=60),
                no_trip,
                max(3, runs // 3),
            ),
        ]
        for name, how, faults, settings, n in cases:
            walls, answered, seen = await scenario(
                client, faults, runs=n, timeout_s=timeout_s, settings=settings
            )
            rows.append((name, how, walls, answered, seen))
    finally:
        await env.shutdown()
    shift = timer_shift or "10ms (as duragent dev starts it)"
    print(
        f"Failover latency: sequential runs on the tuned dev server, model timeout {timeout_s:g} s, "
        f"timerProcessorMaxTimeShift {shift}"
    )
    print()
    print(
        "| scenario | primary | runs | wall ms p50 | min | max | answered by | primary requests |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, how, walls, answered, seen in rows:
        ms = sorted(w * 1000 for w in walls)
        print(
            f"| {name} | {how} | {len(ms)} | {statistics.median(ms):.0f} | {ms[0]:.0f} "
            f"| {ms[-1]:.0f} | {', '.join(sorted(answered))} | {seen} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--timeout", type=float, default=1.0, help="the agent's model timeout, in seconds"
    )
    parser.add_argument(
        "--timer-shift",
        help="the dev server's history.timerProcessorMaxTimeShift, e.g. 10ms (default: 1s)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.timeout, args.timer_shift))
