"""An evaluation survives a SIGKILLed worker: nothing lost, no finished case run again.

``EvalRun`` promises (``workflows/eval_run.py``) that a worker killed halfway through an
evaluation resumes it without running, or paying for, a case that had already finished. This
holds it to that the way a user would check, from outside the workflow: a real ``duragent
worker`` serving the crash app (each case is a five-turn run with tools writing to a ledger,
its model ``duragent mock-llm`` counting every request) is killed with SIGKILL once a third of
the cases are done, and a fresh worker finishes the evaluation.

- every case has one outcome, in dataset order, scored correct;
- each case ran as one child run, which completed in one execution;
- the mock saw each finished case's turns once: a case that had finished before the kill sent
  nothing after it; a case in flight repeated at most the one call the kill interrupted, and at
  most ``concurrency`` cases were in flight;
- the ledger and the audit log hold each child's steps once (``check_exactly_once``).

The harness (dev server, mock, worker processes, the exactly-once check) is
``test_kill_worker``'s.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from duragent import RunResult
from duragent._names import EVAL_WORKFLOW, QUERY_PROGRESS
from duragent.eval import Case, Dataset, EvalProgress, EvalRequest, EvalResult
from tests.crash import crash_app
from tests.crash import test_kill_worker as kill_worker
from tests.crash.test_kill_worker import Harness, Landing, Run, check_exactly_once, run_input

# test_kill_worker's fixtures, bound here so pytest finds them for this module's tests.
harness = kill_worker.harness
mock = kill_worker.mock
server = kill_worker.server

CASES = 48
CONCURRENCY = 8
KILL_AT = 0.3
"""Kill once this share of the cases is done: past the first wave, well before the last."""
EVAL_TIMEOUT_S = 120.0


def _dataset() -> Dataset:
    """``CASES`` crash-app cases, each with its own input text (so the mock tells them apart),
    scored by the default scorer: the output contains the expected answer."""
    cases = []
    for i in range(CASES):
        text, expected = run_input(7, i)
        cases.append(Case(id=f"c{i:02d}", input=text, expected=expected))
    return Dataset(name="crash", cases=cases)


async def _children(client: Client, eval_id: str) -> list[WorkflowExecution]:
    """Every execution of the evaluation's child runs, once visibility has caught up with
    them all having closed."""
    deadline = time.monotonic() + 15.0
    while True:
        found = [w async for w in client.list_workflows(f'WorkflowId STARTS_WITH "{eval_id}-"')]
        if (len(found) >= CASES and all(w.close_time for w in found)) or (
            time.monotonic() > deadline
        ):
            return found
        await asyncio.sleep(0.2)


@pytest.mark.timeout(240)
async def test_an_evaluation_survives_a_sigkilled_worker(harness: Harness) -> None:
    dataset = _dataset()
    texts = {c.id: str(c.input) for c in dataset.cases}
    client = await harness.client()
    task_queue = f"crash-eval-{uuid.uuid4().hex[:6]}"
    worker = await harness.worker(task_queue)
    eval_id = f"eval-crash-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    handle = await client.start_workflow(
        EVAL_WORKFLOW,
        EvalRequest(dataset=dataset, agent=crash_app.AGENT, concurrency=CONCURRENCY),
        id=eval_id,
        task_queue=task_queue,
        result_type=EvalResult,
    )

    # Kill once KILL_AT of the cases are done (the query is answered by the worker itself).
    progress = EvalProgress(total=CASES)
    while progress.done < KILL_AT * CASES:
        assert time.monotonic() - started < EVAL_TIMEOUT_S, f"stuck at {progress}"
        progress = await handle.query(QUERY_PROGRESS, result_type=EvalProgress)
        assert progress.total == CASES and progress.running <= CONCURRENCY, progress
        await asyncio.sleep(0.05)
    # A child closed before the kill had finished; one started after it had nothing to lose.
    killing = datetime.now(UTC)
    worker.kill()
    killed = datetime.now(UTC)
    kill_s = time.monotonic() - started
    seen_at_kill = {text: harness.mock.calls(text) for text in texts.values()}
    assert progress.done <= 0.6 * CASES and progress.running > 0, (
        f"the kill must land mid-evaluation: {progress}"
    )

    await harness.worker(task_queue)
    try:
        result = await asyncio.wait_for(handle.result(), EVAL_TIMEOUT_S)
    except TimeoutError:
        raise AssertionError(
            f"the evaluation (killed {kill_s:.1f} s in at {progress}) did not finish in "
            f"{EVAL_TIMEOUT_S:g} s after the restart; worker log:\n{harness.workers[-1].tail()}"
        ) from None
    wall_s = time.monotonic() - started

    # Every case, once, in dataset order, correct; each outcome its own child run.
    assert [(o.case_id, o.attempt) for o in result.outcomes] == [(c.id, 1) for c in dataset.cases]
    wrong = {o.case_id: (o.status, o.output, o.errors) for o in result.outcomes
             if o.verdict != "correct"}  # fmt: skip
    assert not wrong, f"cases scored wrong after the kill: {wrong}"
    assert [o.workflow_id for o in result.outcomes] == [
        f"{eval_id}-{c.id}-1" for c in dataset.cases
    ]

    # Each child completed in exactly one execution: none failed, none was started twice.
    children = await _children(client, eval_id)
    executions = Counter(w.id for w in children)
    assert executions == Counter(o.workflow_id for o in result.outcomes), executions
    assert {w.status for w in children} == {WorkflowExecutionStatus.COMPLETED}
    finished_before = {w.id for w in children if w.close_time and w.close_time <= killing}
    assert len(finished_before) >= progress.done, "outcomes landed before their children closed"
    in_flight = {w.id for w in children if w.start_time <= killed and w.id not in finished_before}
    assert 0 < len(in_flight) <= CONCURRENCY, in_flight
    assert _most_at_once(children) <= CONCURRENCY, "the restart ran more cases at once"

    # No finished case ran again: a child closed before the kill sent nothing after it, and
    # its calls (and tools, and audit records) happened once; one in flight repeated at most
    # the call the kill interrupted.
    repeats: dict[str, int] = {}
    landings: Counter[Landing] = Counter()
    with harness.audit_log() as audit:
        for index, outcome in enumerate(result.outcomes):
            text = texts[outcome.case_id]
            interrupted = outcome.workflow_id in in_flight
            if outcome.workflow_id in finished_before:
                assert harness.mock.calls(text) == seen_at_kill[text], (
                    f"{outcome.case_id} had finished before the kill and was run again: "
                    f"{seen_at_kill[text]} then {harness.mock.calls(text)} requests per turn"
                )
            child = await client.get_workflow_handle(
                outcome.workflow_id, result_type=RunResult
            ).result()
            run = Run(
                text,
                str(dataset.cases[index].expected),
                child,
                wall_s,
                delay_s=kill_s if interrupted else None,
            )
            landing = check_exactly_once(run, harness, audit)
            if interrupted:
                landings[landing] += 1
            repeats[outcome.case_id] = sum(harness.mock.calls(text).values()) - crash_app.TURNS
        report = audit.verify()
        assert report.ok, report.problems
    requests = sum(sum(harness.mock.calls(t).values()) for t in texts.values())
    bound = crash_app.TURNS * CASES + CONCURRENCY
    repeated = {case: n for case, n in repeats.items() if n}
    assert requests <= bound and len(repeated) <= CONCURRENCY, (requests, bound, repeated)

    print(
        f"\n{CASES} cases at concurrency {CONCURRENCY}: killed {kill_s:.1f} s in with "
        f"{progress.done} done, {progress.running} running ({len(finished_before)} children "
        f"closed); finished {wall_s:.1f} s in; {requests} model requests (bound {bound}, "
        f"{len(repeated)} cases repeated a model call: {repeated}); in the {len(in_flight)} "
        f"cases in flight the kill landed {dict(landings)}"
    )


def _most_at_once(children: list[WorkflowExecution]) -> int:
    """The most child runs open at one time (a close and a start at the same instant: the
    close first, since the evaluation starts a case only once another has ended)."""
    events = sorted(
        [(w.start_time, 1) for w in children]
        + [(w.close_time, -1) for w in children if w.close_time]
    )
    most = running = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most
