"""The activities a run calls, as signatures: what the workflow calls by reference and what the
worker's activity classes implement.

``AgentRun`` calls ``workflow.execute_activity_method(ModelCalls.call, ...)`` rather than an
activity by name, and each class in ``duragent.activities`` subclasses its contract here, so a
change to an activity's signature fails the type check on both sides instead of failing runs.
The names are the ones recorded in histories (``duragent._names``): never change them. Pure: the
workflow imports this module.
"""

from __future__ import annotations

from temporalio import activity

from duragent._messages import (
    AuditBatch,
    ModelRequest,
    ModelResponse,
    ResolvedSpecs,
    ResolveRequest,
    TokenCheck,
    TokenVerdict,
    ToolCallRequest,
    ToolResult,
)
from duragent._names import (
    ACTIVITY_AUDIT,
    ACTIVITY_EVAL_CHECK,
    ACTIVITY_MODEL,
    ACTIVITY_RESOLVE,
    ACTIVITY_SCORE_PYTHON,
    ACTIVITY_TOOL,
    ACTIVITY_VERIFY_TOKEN,
)
from duragent.eval import EvalCheck, PythonScoreRequest, Score


class ModelCalls:
    @activity.defn(name=ACTIVITY_MODEL)
    async def call(self, request: ModelRequest) -> ModelResponse:
        """One model call, classified and priced."""
        raise NotImplementedError


class ToolCalls:
    @activity.defn(name=ACTIVITY_TOOL)
    async def call(self, request: ToolCallRequest) -> ToolResult:
        """One tool call (or sandbox job), its output as text for the model."""
        raise NotImplementedError


class SpecResolution:
    @activity.defn(name=ACTIVITY_RESOLVE)
    async def resolve(self, request: ResolveRequest) -> ResolvedSpecs:
        """The entry agent and every agent reachable from it, with tools and hashes."""
        raise NotImplementedError


class TokenVerification:
    @activity.defn(name=ACTIVITY_VERIFY_TOKEN)
    async def verify_token(self, check: TokenCheck) -> TokenVerdict:
        """Whether a signed approval token binds exactly this decision."""
        raise NotImplementedError


class AuditTrail:
    @activity.defn(name=ACTIVITY_AUDIT)
    async def append(self, batch: AuditBatch) -> int:
        """Append records to the audit log; how many were new."""
        raise NotImplementedError


class EvalScoring:
    @activity.defn(name=ACTIVITY_EVAL_CHECK)
    async def check(self, request: EvalCheck) -> list[str]:
        """What the workers lack to run an evaluation (unknown agents, unregistered Python
        scorers, judge models whose provider is not configured); empty when nothing."""
        raise NotImplementedError

    @activity.defn(name=ACTIVITY_SCORE_PYTHON)
    async def score_python(self, request: PythonScoreRequest) -> Score:
        """Score a finished case with the App's Python scorer ``request.name``."""
        raise NotImplementedError


CONTRACTS = (ModelCalls, ToolCalls, SpecResolution, TokenVerification, AuditTrail, EvalScoring)
"""Every activity contract a run or an evaluation calls."""


def activity_models() -> frozenset[type]:
    """The pydantic models the contracts' activities take and return: the payloads that pass
    only between duragent's workflows and its activities."""
    import typing

    from pydantic import BaseModel

    found: set[type] = set()
    for contract in CONTRACTS:
        for name, method in vars(contract).items():
            if name.startswith("_") or not callable(method):
                continue
            for hint in typing.get_type_hints(method).values():
                if isinstance(hint, type) and issubclass(hint, BaseModel):
                    found.add(hint)
    return frozenset(found)
