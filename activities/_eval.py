"""The evaluation's activities: checking a dataset against the worker, and Python scorers.

``eval.check`` runs once before an evaluation's first case, so a dataset naming an agent, a
scorer or a judge provider this worker does not have fails before anything is run or paid for.
``eval.score_python`` runs a scorer the App registered (``App(scorers=...)``) on a finished
case: user code, so it is an activity, and what it returns or raises becomes a ``Score``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping

from temporalio import activity
from temporalio.exceptions import ApplicationError

from duragent import App
from duragent._contracts import EvalScoring
from duragent._names import ACTIVITY_EVAL_CHECK, ACTIVITY_SCORE_PYTHON
from duragent._redact import redact
from duragent._spec import ModelRef
from duragent.activities.models import ModelProvider
from duragent.eval import EvalCheck, PythonScoreRequest, Score, coerce_score


class EvalActivities(EvalScoring):
    def __init__(self, app: App, *, providers: Mapping[str, ModelProvider]) -> None:
        self._app = app
        self._providers = providers

    @activity.defn(name=ACTIVITY_EVAL_CHECK)
    async def check(self, request: EvalCheck) -> list[str]:
        """What this worker lacks to run the evaluation; empty when nothing."""
        problems = []
        agents = self._app.agents
        for name in request.agents:
            if name not in agents:
                known = ", ".join(sorted(agents)) or "none"
                problems.append(f"agent {name!r} is not in the workers' app (agents: {known})")
        for name in request.python_scorers:
            if name not in self._app.scorers:
                known = ", ".join(self._app.scorers.names()) or "none"
                problems.append(
                    f"python scorer {name!r} is not registered in the workers' app (registered: "
                    f"{known}); register it with App(scorers={{{name!r}: fn}})"
                )
        judges = [ModelRef.model_validate(model) for model in request.judge_models]
        for what, models in (("model", request.models), ("judge model", judges)):
            for model in models:
                problem = self._unready(model)
                if problem:
                    problems.append(f"{what} {model.label!r}: {problem}")
        return problems

    def _unready(self, model: ModelRef) -> str | None:
        provider = self._providers.get(model.provider)
        if provider is None:
            known = ", ".join(sorted(self._providers)) or "none"
            return f"provider {model.provider!r} is not served by the workers (providers: {known})"
        unready = getattr(provider, "unready", None)
        return unready(model) if unready is not None else None

    @activity.defn(name=ACTIVITY_SCORE_PYTHON)
    async def score_python(self, request: PythonScoreRequest) -> Score:
        """The scorer's verdict; a scorer that raises is incorrect, saying what it raised
        (retrying user code that failed on the same input would fail the same way)."""
        try:
            fn = self._app.scorers.get(request.name)
        except KeyError as exc:
            raise ApplicationError(
                str(exc.args[0]), type="unknown_scorer", non_retryable=True
            ) from None
        shown = request.name
        try:
            if request.options:
                value = fn(request.case, request.result, **request.options)
            else:
                value = fn(request.case, request.result)
            if inspect.isawaitable(value):
                value = await value
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            message = redact(f"{type(exc).__name__}: {exc}")[:300]
            return Score(
                scorer=shown, verdict="incorrect", score=0.0, reason=f"the scorer raised {message}"
            )
        return coerce_score(shown, value)
