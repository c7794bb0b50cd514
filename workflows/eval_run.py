"""``EvalRun``: an evaluation as a Temporal workflow (``duragent eval``).

Each attempt at each case is a child ``AgentRun`` (id ``<eval id>-<case>-<attempt>``, with
``on_approval="end"``: a case that asks a person ends ``awaiting_approval`` instead of waiting),
at most ``concurrency`` at a time. A finished child is scored at once: deterministic scorers
here, in the workflow (a replay scores it the same way again), ``judge`` scorers through the
``model.call`` activity (their cost kept apart from the agent's) and ``python`` scorers through
``eval.score_python``. The outcome is kept in the workflow's state and shown by the ``progress``
query as it lands.

Durable: a completed child's result is in this workflow's history, so a worker killed halfway
resumes the evaluation without running (or paying for) a finished case again; children still
running carry on meanwhile. A long evaluation continues as new when Temporal suggests it (or
every ``continue_as_new_every`` attempts), carrying its outcomes: it stops starting cases,
waits for the running ones, and goes on in a fresh history.

Before its first case it asks a worker (``eval.check``) whether the agents, Python scorers and
judge providers the dataset names exist, and fails at once (``eval_invalid``) when one does not.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from datetime import timedelta

from pydantic import ValidationError
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, ChildWorkflowError

from duragent._contracts import EvalScoring, ModelCalls
from duragent._messages import Message, ModelRequest, RunConfig, RunRequest, RunResult
from duragent._names import EVAL_WORKFLOW, QUERY_PROGRESS
from duragent._spec import ModelRef, RetrySpec
from duragent.eval import (
    JUDGE_INSTRUCTIONS,
    Case,
    CaseOutcome,
    EvalCheck,
    EvalProgress,
    EvalRequest,
    EvalResult,
    JudgeScorer,
    PythonScorer,
    PythonScoreRequest,
    Score,
    ScorerSpec,
    combine,
    default_scorers,
    judge_prompt,
    judge_score,
    score_case,
)
from duragent.workflows._calls import ACTIVITY_FAILURES, error_message, error_type, model_retry
from duragent.workflows._child import start_agent

JUDGE_TIMEOUT = timedelta(minutes=2)
SCORER_TIMEOUT = timedelta(minutes=1)


_PLAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,79}")


def child_id(eval_id: str, case_id: str, attempt: int) -> str:
    """The workflow id of a case's run: ``<eval id>-<case id>-<attempt>``. A case id that is not
    plain (pydantic-evals names are free text: spaces, quotes, newlines, any length) is written
    as a slug and a hash of it, so the id stays short, unique, and usable in a visibility query
    or on a command line."""
    if not _PLAIN_ID.fullmatch(case_id):
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", case_id).strip("-.")[:40]
        digest = hashlib.sha256(case_id.encode()).hexdigest()[:10]
        case_id = f"{slug}-{digest}" if slug else digest
    return f"{eval_id}-{case_id}-{attempt}"


def _scorers(request: EvalRequest, case: Case) -> list[ScorerSpec]:
    return case.scorers or request.dataset.scorers or default_scorers(case)


def _failed(case: Case, attempt: int, workflow_id: str, kind: str, reason: str) -> CaseOutcome:
    """The outcome of a case whose run did not finish (or could not start): incorrect."""
    return CaseOutcome(
        case_id=case.id,
        category=case.category,
        tags=case.tags,
        attempt=attempt,
        verdict="incorrect",
        score=0.0,
        scores=[Score(scorer="run", verdict="incorrect", score=0.0, reason=reason)],
        workflow_id=workflow_id,
        status="failed",
        errors={kind: 1},
    )


@workflow.defn(name=EVAL_WORKFLOW)
class EvalRun:
    @workflow.init
    def __init__(self, request: EvalRequest) -> None:
        self._request = request
        self._outcomes: dict[tuple[str, int], CaseOutcome] = {
            (o.case_id, o.attempt): o for o in request.carry
        }
        self._running = 0
        self._started = 0
        self._draining = False

    @workflow.query(name=QUERY_PROGRESS)
    def progress(self) -> EvalProgress:
        outcomes = list(self._outcomes.values())
        verdicts = [o.verdict for o in outcomes]
        return EvalProgress(
            total=len(self._request.dataset.cases) * self._request.repeat,
            done=len(outcomes),
            correct=verdicts.count("correct"),
            partial=verdicts.count("partial"),
            incorrect=verdicts.count("incorrect"),
            running=self._running,
            cost_usd=sum(o.cost_usd for o in outcomes),
            judge_cost_usd=sum(o.judge_cost_usd for o in outcomes),
        )

    @workflow.run
    async def run(self, request: EvalRequest) -> EvalResult:
        started_at = request.started_at or workflow.now()
        if not request.carry and request.started_at is None:
            await self._check(request)
        attempts = [
            (case, attempt)
            for attempt in range(1, request.repeat + 1)
            for case in request.dataset.cases
        ]
        gate = asyncio.Semaphore(request.concurrency)
        await asyncio.gather(
            *(
                self._attempt(case, attempt, gate)
                for case, attempt in attempts
                if (case.id, attempt) not in self._outcomes
            )
        )
        ordered = [
            self._outcomes[(case.id, attempt)]
            for case in request.dataset.cases
            for attempt in range(1, request.repeat + 1)
            if (case.id, attempt) in self._outcomes
        ]
        if len(ordered) < len(attempts):
            workflow.continue_as_new(
                request.model_copy(update={"carry": ordered, "started_at": started_at})
            )
        return EvalResult(
            dataset=request.dataset.name,
            agent=request.agent,
            model=request.model.label if request.model else None,
            started_at=started_at,
            finished_at=workflow.now(),
            outcomes=ordered,
        )

    async def _check(self, request: EvalRequest) -> None:
        cases = request.dataset.cases
        specs = [spec for case in cases for spec in _scorers(request, case)]
        check = EvalCheck(
            agents=sorted({request.agent, *(case.agent for case in cases if case.agent)}),
            python_scorers=sorted({s.name for s in specs if isinstance(s, PythonScorer)}),
            judge_models=sorted({s.model for s in specs if isinstance(s, JudgeScorer)}),
            models=[request.model] if request.model else [],
        )
        problems = await workflow.execute_local_activity_method(
            EvalScoring.check,
            check,
            start_to_close_timeout=timedelta(seconds=30),
            summary=f"check {request.dataset.name}",
        )
        if problems:
            raise ApplicationError(
                f"dataset {request.dataset.name!r} cannot run on these workers: "
                + "; ".join(problems),
                type="eval_invalid",
                non_retryable=True,
            )

    def _drain(self) -> bool:
        """Whether to stop starting cases, to continue as new once the running ones end."""
        every = self._request.continue_as_new_every
        if not self._draining and (
            workflow.info().is_continue_as_new_suggested()
            or (every is not None and self._started >= every)
        ):
            self._draining = True
        return self._draining

    async def _attempt(self, case: Case, attempt: int, gate: asyncio.Semaphore) -> None:
        async with gate:
            if self._drain():
                return
            self._started += 1
            self._running += 1
            try:
                outcome = await self._run_case(case, attempt)
            finally:
                self._running -= 1
            self._outcomes[(case.id, attempt)] = outcome

    async def _run_case(self, case: Case, attempt: int) -> CaseOutcome:
        request = self._request
        run_id = child_id(workflow.info().workflow_id, case.id, attempt)
        if isinstance(case.input, str):
            text, earlier = case.input, []
        else:
            text, earlier = case.input[-1].content, case.input[:-1]
        limits = case.limits
        try:
            run_request = RunRequest(
                agent=case.agent or request.agent,
                input=text,
                history=[Message(role=turn.role, content=turn.content) for turn in earlier],
                tenant=request.tenant,
                user=request.user,
                metadata={
                    "eval": workflow.info().workflow_id,
                    "eval_case": case.id,
                    "eval_attempt": str(attempt),
                },
                run_config=RunConfig(
                    model=request.model,
                    max_turns=limits.max_turns if limits else None,
                    max_cost_usd=limits.max_cost_usd if limits else None,
                    on_approval="end",
                ),
            )
        except ValidationError as exc:
            return _failed(case, attempt, run_id, "invalid_case", f"invalid case: {exc}")
        try:
            handle = await start_agent(
                run_request,
                id=run_id,
                execution_timeout=timedelta(seconds=request.case_timeout_s),
            )
            result: RunResult = await handle
        except ChildWorkflowError as exc:
            cause = exc.cause
            kind = "timeout" if type(cause).__name__ == "TimeoutError" else "run_failed"
            reason = getattr(cause, "message", None) or str(cause or exc)
            return _failed(case, attempt, run_id, kind, f"the run did not finish: {reason}")
        return await self._score(case, attempt, result)

    async def _score(self, case: Case, attempt: int, result: RunResult) -> CaseOutcome:
        scores: list[Score] = []
        errors = dict(result.errors)
        judge_cost = 0.0
        for spec in _scorers(self._request, case):
            if isinstance(spec, JudgeScorer):
                score, cost, error = await self._judge(spec, case, result)
                judge_cost += cost
            elif isinstance(spec, PythonScorer):
                score, error = await self._python(spec, case, result)
            else:
                scores.extend(score_case(case, result, [spec]))
                continue
            scores.append(score)
            if error:
                errors[error] = errors.get(error, 0) + 1
        verdict, value = combine(scores)
        return CaseOutcome(
            case_id=case.id,
            category=case.category,
            tags=case.tags,
            attempt=attempt,
            verdict=verdict,
            score=value,
            scores=scores,
            workflow_id=result.workflow_id,
            status=result.status,
            latency_ms=result.latency.total_ms,
            cost_usd=result.cost_usd,
            tokens=result.usage.total_tokens,
            judge_cost_usd=judge_cost,
            errors=errors,
            output=result.output or "",
        )

    async def _judge(
        self, spec: JudgeScorer, case: Case, result: RunResult
    ) -> tuple[Score, float, str | None]:
        """A judge model's grade, its cost, and the error kind when the call failed."""
        request = ModelRequest(
            run_id=result.workflow_id,
            agent="eval-judge",
            turn=0,
            model=ModelRef.model_validate(spec.model),
            instructions=JUDGE_INSTRUCTIONS,
            messages=[Message(role="user", content=judge_prompt(spec, case, result))],
        )
        try:
            reply = await workflow.execute_activity_method(
                ModelCalls.call,
                request,
                start_to_close_timeout=JUDGE_TIMEOUT,
                retry_policy=model_retry(RetrySpec()),
                summary=f"judge {case.id}",
            )
        except ACTIVITY_FAILURES as exc:
            kind = f"judge_{error_type(exc)}"
            reason = f"the judge call failed ({error_type(exc)}): {error_message(exc)}"
            return Score(scorer=spec.shown, verdict="incorrect", score=0.0, reason=reason), 0, kind
        return judge_score(spec, reply.message.content or ""), reply.cost_usd or 0.0, None

    async def _python(
        self, spec: PythonScorer, case: Case, result: RunResult
    ) -> tuple[Score, str | None]:
        """The App's Python scorer's verdict, named as the dataset shows it."""
        try:
            score = await workflow.execute_activity_method(
                EvalScoring.score_python,
                PythonScoreRequest(name=spec.name, case=case, result=result, options=spec.options),
                start_to_close_timeout=SCORER_TIMEOUT,
                retry_policy=RetryPolicy(
                    maximum_attempts=3, non_retryable_error_types=["unknown_scorer"]
                ),
                summary=f"score {case.id} with {spec.name}",
            )
        except ACTIVITY_FAILURES as exc:
            reason = f"python scorer {spec.name!r} failed: {error_message(exc)}"
            return Score(scorer=spec.shown, verdict="incorrect", score=0.0, reason=reason), (
                "scorer_failed"
            )
        return score.model_copy(update={"scorer": spec.shown}), None
