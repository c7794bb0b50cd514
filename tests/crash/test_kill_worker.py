"""Crash and restart survival: SIGKILL the worker mid-run, restart the dev server mid-run.

Every run must complete with its expected answer, and its side effects must have happened
exactly once, judged by what the outside world saw rather than by logs or by what the workflow
says it did:

- each tool step made one row in the crash app's ledger (``crash_app.effects``), none missing,
  none extra, with the arguments the run recorded;
- the model server saw each turn once, except the one call a kill interrupted;
- the audit log holds each step of the run once.

Workers are real ``duragent worker`` processes, killed with SIGKILL: no graceful shutdown, no
sticky queue released. The model is ``duragent mock-llm`` (``MockLLM``) in this process, so it
outlives the workers and counts their requests. ``bench/recovery.py`` reuses this harness to
measure how long recovery takes.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import statistics
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter

from duragent import Message, RunRequest, RunResult
from duragent.audit import AuditLog, SQLiteAuditLog
from duragent.client import start_run
from duragent.mock_llm import MockConfig, MockLLM
from duragent.mock_llm._engine import Answer, Engine
from duragent.workers._devserver import DevServer
from tests.crash import crash_app
from tests.e2e.test_cli import DURAGENT, ROOT, env_for, free_port, stop

APP_REF = "tests.crash.crash_app:app"
MOCK_LATENCY_MS = 60.0
MOCK_PER_TOKEN_MS = 4.0
"""A model call takes ~0.1 s, so kills land inside model calls too, not only inside tools."""
RESULT_TIMEOUT_S = 90.0
"""Recovery takes ~15 s (the heartbeat timeout, then the dead worker's sticky queue's 10 s
schedule-to-start timeout, or the 10 s workflow task timeout); longer than this is a hang."""
SEED = 20240611
SERVER_DOWN_S = 2.0

Landing = Literal["tool", "model", "elsewhere", "after"]
"""Where a kill landed: inside a tool call, inside a model call, elsewhere in the run (a
workflow task, a local activity, between calls), or after the run had already completed."""


# -- the model: mock-llm, counting requests per run and turn ----------------------------------


class _RecordingEngine(Engine):
    def __init__(self, config: MockConfig) -> None:
        super().__init__(config)
        self._seen_lock = threading.Lock()  # requests are served on the mock's own thread
        self.seen: Counter[tuple[str, int]] = Counter()

    def answer(
        self, messages: Sequence[Message], *, filtered: bool = False, logprobs: bool = False
    ) -> Answer:
        run_input = next((m.content for m in messages if m.role == "user"), "")
        turn = 1 + sum(1 for m in messages if m.role == "assistant")
        with self._seen_lock:
            self.seen[(run_input, turn)] += 1
        return super().answer(messages, filtered=filtered, logprobs=logprobs)


class RecordingMock(MockLLM):
    """``MockLLM`` answering from the crash app's script, counting requests per run and turn."""

    def __init__(self) -> None:
        config = MockConfig(
            rules=crash_app.SCRIPT, latency_ms=MOCK_LATENCY_MS, per_token_ms=MOCK_PER_TOKEN_MS
        )
        super().__init__(config)
        self.engine = _RecordingEngine(config)
        self._engine = self.engine  # MockLLM serves its _engine: swap in the counting one

    def calls(self, run_input: str) -> dict[int, int]:
        """How many requests each turn of the run with this input sent, by turn."""
        with self.engine._seen_lock:
            return {turn: n for (text, turn), n in self.engine.seen.items() if text == run_input}


# -- worker processes ------------------------------------------------------------------------


class WorkerProcess:
    """One ``duragent worker --app tests.crash.crash_app:app`` process."""

    def __init__(
        self, *, address: str, task_queue: str, env: dict[str, str], cwd: Path, log: Path
    ) -> None:
        self.address = address
        self.task_queue = task_queue
        self.env = env
        self.cwd = cwd
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self, timeout_s: float = 60.0) -> None:
        """Start the process; return once it polls its task queue."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: ASYNC220 - returns at once; we poll below
                [
                    DURAGENT, "worker", "--app", APP_REF,
                    "--address", self.address, "--task-queue", self.task_queue,
                ],
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        self._check_is_python(self.process.pid)
        deadline = time.monotonic() + timeout_s
        while not self._serving():
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the worker exited with {self.process.returncode}:\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"the worker did not start in {timeout_s:g} s:\n{self.tail()}")
            await asyncio.sleep(0.05)

    @staticmethod
    def _check_is_python(pid: int) -> None:
        # The console script's shebang execs Python itself: this pid is the worker, not a
        # wrapper, so SIGKILL hits the process that runs the activities.
        exe = Path(f"/proc/{pid}/exe")
        if exe.exists():
            assert "python" in os.readlink(exe), f"{exe} is not Python"

    def _serving(self) -> bool:
        return "worker serving" in self.log.read_text(errors="replace")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the worker gets no chance to finish, report or release anything."""
        assert self.process is not None and self.alive, "the worker is not running"
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """SIGTERM (a graceful drain), then SIGKILL if it takes too long."""
        if self.process is not None:
            stop(self.process, signal.SIGTERM, timeout=15)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@dataclass
class Harness:
    """The dev server, the model and the ledger the crash runs share, and their workers."""

    server: DevServer
    mock: RecordingMock
    folder: Path

    def __post_init__(self) -> None:
        self.workers: list[WorkerProcess] = []
        self.env = env_for(self.folder)
        # Workers run in the temporary folder, so state a setting keeps under ./.duragent by
        # default (the transcript store, payloads, ...) stays there, shared by all of them;
        # the repository is on the path for ``tests.crash.crash_app``.
        path = self.env.get("PYTHONPATH")
        self.env.update(
            {
                "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else ""),
                crash_app.LEDGER_ENV: str(self.ledger),
                crash_app.MODEL_URL_ENV: self.mock.openai_base_url,
                "DURAGENT_AUDIT_LOG": str(self.audit_path),
                "DURAGENT_SHUTDOWN_GRACE_S": "2",
            }
        )

    @property
    def ledger(self) -> Path:
        return self.folder / "ledger.db"

    @property
    def audit_path(self) -> Path:
        return self.folder / "audit.db"

    async def client(self) -> Client:
        return await Client.connect(self.server.address, data_converter=pydantic_data_converter)

    async def worker(self, task_queue: str) -> WorkerProcess:
        """A started worker on ``task_queue``; stopped by ``stop_workers``."""
        worker = WorkerProcess(
            address=self.server.address,
            task_queue=task_queue,
            env=self.env,
            cwd=self.folder,
            log=self.folder / f"worker-{len(self.workers):03d}-{task_queue}.log",
        )
        self.workers.append(worker)
        await worker.start()
        return worker

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()

    def audit_log(self) -> AuditLog:
        return SQLiteAuditLog(self.audit_path)


# -- one run, with or without a kill -----------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """A finished run: what was asked, what came back, and how long it took."""

    text: str
    expected: str
    result: RunResult
    wall_s: float
    """From asking for the run to its result."""
    delay_s: float | None = None
    """When the worker was killed (or the server stopped), counted from asking for the run;
    None: nothing happened to it."""
    done_before_kill: bool = False
    waits: tuple[str, ...] = ()
    """The timeouts the run's history shows it waited for (see ``waits``)."""


def run_input(lane: int, index: int) -> tuple[str, str]:
    """A unique input for run ``index`` of ``lane`` and the answer it must give."""
    order, amount, user = (
        f"A{lane}{index:03d}{uuid.uuid4().hex[:4]}",
        f"{10 + index}.50",
        f"u{lane}x{index}",
    )
    return crash_app.request_text(order, amount, user), crash_app.expected_output(
        order, amount, user
    )


async def _start(client: Client, text: str, task_queue: str) -> WorkflowHandle[Any, RunResult]:
    return await start_run(
        client, RunRequest(agent=crash_app.AGENT, input=text), task_queue=task_queue
    )


async def waits(client: Client, workflow_id: str) -> tuple[str, ...]:
    """The timeouts a run waited for, from its history: an activity retried after its
    heartbeat (or start-to-close) timeout, a workflow task timed out in a dead worker's sticky
    queue (``schedule_to_start``) or while the dead worker held it (``start_to_close``)."""
    found: list[str] = []
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
            kind = event.workflow_task_timed_out_event_attributes.timeout_type
            found.append(f"workflow task {_timeout_name(kind)}")
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            if started.attempt > 1:
                kind = started.last_failure.timeout_failure_info.timeout_type
                found.append(f"activity retried after {_timeout_name(kind)}")
    return tuple(found)


def _timeout_name(kind: TimeoutType.ValueType) -> str:
    return TimeoutType.Name(kind).removeprefix("TIMEOUT_TYPE_").lower()


async def plain_run(client: Client, task_queue: str, text: str, expected: str) -> Run:
    started = time.monotonic()
    handle = await _start(client, text, task_queue)
    result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)
    return Run(text, expected, result, time.monotonic() - started)


class Lane:
    """One task queue and the worker serving it; killed and replaced once per crash run."""

    def __init__(self, harness: Harness, client: Client, number: int) -> None:
        self.harness = harness
        self.client = client
        self.number = number
        self.task_queue = f"crash-{number}-{uuid.uuid4().hex[:6]}"
        self.worker: WorkerProcess | None = None
        self.baseline_s = 0.0

    async def open(self, warmups: int = 2) -> list[Run]:
        """Start the worker and time runs nobody kills: the baseline of the crash runs."""
        self.worker = await self.harness.worker(self.task_queue)
        runs = [
            await plain_run(self.client, self.task_queue, *run_input(self.number, 900 + i))
            for i in range(warmups)
        ]
        self.baseline_s = min(run.wall_s for run in runs)  # the first may pay for a cold start
        return runs

    async def crash_run(self, index: int, fraction: float) -> Run:
        """A run whose worker is SIGKILLed ``fraction`` of the baseline into it, then replaced."""
        assert self.worker is not None
        text, expected = run_input(self.number, index)
        delay = fraction * self.baseline_s
        started = time.monotonic()
        handle = await _start(self.client, text, self.task_queue)
        await asyncio.sleep(max(0.0, delay - (time.monotonic() - started)))
        self.worker.kill()
        killed = time.monotonic() - started
        done = (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
        self.worker = await self.harness.worker(self.task_queue)
        try:
            result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)
        except TimeoutError:
            raise AssertionError(
                f"run {handle.id} (killed {killed:.2f} s in) did not finish in "
                f"{RESULT_TIMEOUT_S:g} s after the restart; worker log:\n{self.worker.tail()}"
            ) from None
        wall = time.monotonic() - started
        return Run(text, expected, result, wall, killed, done, await waits(self.client, handle.id))


# -- what "exactly once" means ---------------------------------------------------------------


def check_exactly_once(run: Run, harness: Harness, audit: AuditLog) -> Landing:
    """Assert the run completed and each of its side effects happened once; say where the
    kill (if any) landed, from the retries the tools and the model saw."""
    result = run.result
    where = f"run {result.workflow_id} ({run.text!r}, killed at {run.delay_s})"
    assert result.status == "completed", f"{where}: {result.status}: {result.error}"
    assert result.output == run.expected, where
    assert result.turns == crash_app.TURNS, where

    # Tools: the run's tool steps, each with exactly one effect, made with the same arguments.
    tool_steps = [s for s in result.steps if s.kind in ("tool", "tool_error")]
    assert [(s.kind, s.tool) for s in tool_steps] == [
        ("tool", name) for name in crash_app.EXPECTED_TOOLS
    ], f"{where}: a kill must delay a tool call, not fail it: {tool_steps}"
    made = crash_app.effects(harness.ledger, result.workflow_id)
    assert [(e.step_id, e.tool, e.detail) for e in made] == [
        (s.step_id, s.tool, s.arguments) for s in tool_steps
    ], f"{where}: side effects in the ledger differ from the run's tool steps"
    tries = crash_app.attempts(harness.ledger, result.workflow_id)
    assert set(tries) == {s.step_id for s in tool_steps}, where
    tool_retries = sum(n - 1 for n in tries.values())

    # The model: every turn reached it, and only an interrupted call went twice.
    calls = harness.mock.calls(run.text)
    assert sorted(calls) == list(range(1, crash_app.TURNS + 1)), f"{where}: {calls}"
    model_retries = sum(n - 1 for n in calls.values())
    assert [s.kind for s in result.steps if s.kind.startswith("model")] == [
        "model"
    ] * crash_app.TURNS

    # One kill interrupts at most one call (they run one after another); a second repeat would
    # be a call that had completed, done again.
    assert tool_retries + model_retries <= (0 if run.delay_s is None else 1), (
        f"{where}: completed calls were repeated: tool attempts {dict(tries)}, model calls "
        f"per turn {calls}"
    )

    # The audit log: every step of the run once.
    recorded = [r["step_id"] for r in audit.records_for(result.workflow_id)]
    assert sorted(recorded) == sorted(s.step_id for s in result.steps), where

    if run.done_before_kill:
        return "after"
    return "tool" if tool_retries else "model" if model_retries else "elsewhere"


def spread(count: int, seed: int = SEED) -> list[float]:
    """Where to kill each run, as fractions of a normal run's time: seeded, spread over it."""
    rng = random.Random(seed)
    # Stratified: one point in each of `count` equal slices, shuffled, so the kills cover the
    # run evenly (early model calls, tools, late turns) instead of clustering by chance.
    points = [(i + rng.random()) / count for i in range(count)]
    rng.shuffle(points)
    return [0.03 + 0.82 * p for p in points]


def percentile(values: Sequence[float], q: int) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


def summary(runs: Sequence[Run], landings: Sequence[Landing], baseline_s: float) -> str:
    """What the crash runs measured, for the test's output and the benchmark."""
    crashed = [r for r, w in zip(runs, landings, strict=True) if w != "after"]
    recovery = [r.wall_s - baseline_s for r in crashed]
    kill_to_done = [r.wall_s - (r.delay_s or 0.0) for r in crashed]
    counted = Counter(landings)
    waited = Counter(w for r in runs for w in r.waits)
    return (
        f"{len(runs)} kills: {counted['tool']} inside a tool call, {counted['model']} inside a "
        f"model call, {counted['elsewhere']} elsewhere, {counted['after']} after completion; "
        f"normal run {baseline_s:.2f} s; recovery (the extra time a kill costs) median "
        f"{statistics.median(recovery):.2f} s, p90 {percentile(recovery, 90):.2f} s; kill to "
        f"result median {statistics.median(kill_to_done):.2f} s, p90 "
        f"{percentile(kill_to_done, 90):.2f} s; timeouts waited for: "
        + (", ".join(f"{kind} x{n}" for kind, n in waited.most_common()) or "none")
    )


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mock() -> Iterator[RecordingMock]:
    running = RecordingMock()
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DevServer]:
    """A dev server persisted in a temporary folder (so it can be restarted on its DB)."""
    dev = DevServer(home=tmp_path_factory.mktemp("temporal"), port=free_port(), ui_port=free_port())
    await dev.start()
    try:
        yield dev
    finally:
        await asyncio.to_thread(dev.stop)


@pytest.fixture
def harness(server: DevServer, mock: RecordingMock, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(server=server, mock=mock, folder=tmp_path)
    try:
        yield h
    finally:
        h.stop_workers()


# -- the tests --------------------------------------------------------------------------------


async def crash_runs(
    harness: Harness, *, total: int, lanes: int
) -> tuple[list[Run], list[Landing], float]:
    """``total`` crash runs over ``lanes`` task queues in parallel (each lane's runs in turn)."""
    client = await harness.client()
    opened = [Lane(harness, client, n) for n in range(lanes)]
    warmups = await asyncio.gather(*(lane.open() for lane in opened))
    fractions = spread(total)

    async def work(lane: Lane) -> list[Run]:
        return [await lane.crash_run(i, fractions[i]) for i in range(lane.number, total, lanes)]

    runs = [
        run
        for lane_runs in await asyncio.gather(*(work(lane) for lane in opened))
        for run in lane_runs
    ]
    with harness.audit_log() as audit:
        for run in (r for lane_runs in warmups for r in lane_runs):
            check_exactly_once(run, harness, audit)
        landings = [check_exactly_once(run, harness, audit) for run in runs]
        report = audit.verify()
        assert report.ok, report.problems
    baseline = statistics.median(lane.baseline_s for lane in opened)
    return runs, landings, baseline


@pytest.mark.timeout(300)
async def test_twenty_runs_each_survive_a_sigkilled_worker(harness: Harness) -> None:
    started = time.monotonic()
    runs, landings, baseline = await crash_runs(harness, total=20, lanes=5)
    assert len(runs) == 20
    # Stratified kill points over the whole run make this near certain; without one, the
    # retry path (attempts > 1, one effect) was never exercised.
    assert "tool" in landings, f"no kill landed inside a tool call: {landings}"
    print(f"\n{summary(runs, landings, baseline)}; test {time.monotonic() - started:.0f} s")


@pytest.mark.timeout(240)
async def test_run_survives_a_dev_server_restart(harness: Harness) -> None:
    """The server goes away mid-run and comes back on its database; the worker rides it out."""
    client = await harness.client()
    lane = Lane(harness, client, 99)
    warmups = await lane.open(warmups=1)
    assert lane.worker is not None
    text, expected = run_input(99, 0)
    started = time.monotonic()
    handle = await _start(client, text, lane.task_queue)
    await asyncio.sleep(0.4 * lane.baseline_s)
    stopping = time.monotonic() - started
    try:
        await asyncio.to_thread(harness.server.stop)  # SIGTERM; the database file stays
        await asyncio.sleep(SERVER_DOWN_S)  # long enough for the worker's polls to fail
    finally:
        await harness.server.start()
    back = time.monotonic() - started
    client = await harness.client()
    handle = client.get_workflow_handle(handle.id, result_type=RunResult)
    result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)
    assert lane.worker.alive, f"the worker died with the server:\n{lane.worker.tail()}"
    assert len(harness.workers) == 1, "one worker process served the run throughout"
    run = Run(text, expected, result, time.monotonic() - started, delay_s=stopping)
    with harness.audit_log() as audit:
        check_exactly_once(warmups[0], harness, audit)
        check_exactly_once(run, harness, audit)
    print(
        f"\nserver stopped {stopping:.2f} s into the run, back at {back:.2f} s; the run took "
        f"{run.wall_s:.2f} s (normally {lane.baseline_s:.2f} s)"
    )
