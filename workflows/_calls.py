"""How the run calls activities: models (with their retry policy) and tools (by idempotency).

Retry semantics travel on the errors activities raise (``non_retryable``, ``next_retry_delay``);
the policies here only bound them: a model gets three attempts before the next model in the
fallback chain; an idempotent tool three; a non-idempotent tool exactly one, never a blind retry.
"""

from __future__ import annotations

import re
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from duragent._contracts import ModelCalls, ToolCalls
from duragent._messages import (
    Message,
    ModelRequest,
    ModelResponse,
    ToolCall,
    ToolCallRequest,
    ToolResult,
    ToolSpec,
)
from duragent._spec import ModelRef, RetrySpec, Timeouts
from duragent.errors import NON_RETRYABLE_KINDS


def tool_retry(tool: ToolSpec) -> RetryPolicy:
    """A tool's attempts: ``max_attempts`` from ``@tool`` (1 for a tool that cannot be retried
    safely: not idempotent and no reconcile hook), 200 ms then doubling."""
    return RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        backoff_coefficient=2.0,
        maximum_attempts=tool.max_attempts,
        non_retryable_error_types=["validation_error"],
    )


ACTIVITY_FAILURES = (ActivityError, ApplicationError)
"""What an activity call raises once its attempts are spent: a regular activity's failure
arrives as ``ActivityError`` wrapping the cause; a local activity's may arrive as the bare
``ApplicationError``."""


def error_type(error: BaseException) -> str:
    """The failure's kind: the ``ApplicationError`` type, or timeout."""
    cause = error.cause if isinstance(error, ActivityError) else error
    if isinstance(cause, ApplicationError) and cause.type:
        return cause.type
    if cause is not None and type(cause).__name__ == "TimeoutError":
        return "timeout"
    return "provider_error"


def attempt_errors(error: BaseException) -> dict[str, int]:
    """Every failed attempt of a call, by kind: from the error's details when the activity
    tallied them (model calls do), else one of the error's own type."""
    cause = error.cause if isinstance(error, ActivityError) else error
    if isinstance(cause, ApplicationError) and cause.details:
        tally = (
            cause.details[0].get("attempt_errors") if isinstance(cause.details[0], dict) else None
        )
        if isinstance(tally, dict) and tally:
            return {str(k): int(v) for k, v in tally.items()}
    return {error_type(error): 1}


def error_message(error: BaseException) -> str:
    cause = error.cause if isinstance(error, ActivityError) and error.cause else error
    return getattr(cause, "message", None) or str(cause)


def model_retry(spec: RetrySpec) -> RetryPolicy:
    """The spec's backoff for one model; caller-fault errors are never retried."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=spec.initial_s),
        backoff_coefficient=spec.backoff,
        maximum_interval=timedelta(seconds=spec.max_interval_s),
        maximum_attempts=spec.max_attempts,
        non_retryable_error_types=list(NON_RETRYABLE_KINDS),
    )


async def call_model(
    request: ModelRequest,
    model: ModelRef,
    *,
    timeouts: Timeouts,
    retry: RetrySpec,
    summary: str,
) -> ModelResponse:
    """One model call, as a regular or a local activity as the model's ``execution`` says."""
    timeout = timedelta(seconds=timeouts.model_s)
    if model.execution == "local":
        return await workflow.execute_local_activity_method(
            ModelCalls.call,
            request,
            start_to_close_timeout=timeout,
            retry_policy=model_retry(retry),
            summary=summary,
        )
    return await workflow.execute_activity_method(
        ModelCalls.call,
        request,
        start_to_close_timeout=timeout,
        heartbeat_timeout=timedelta(seconds=timeouts.heartbeat_s),
        retry_policy=model_retry(retry),
        summary=summary,
    )


async def call_tool(
    request: ToolCallRequest, tool: ToolSpec, *, timeouts: Timeouts, sandbox_queue: str
) -> ToolResult:
    """One tool call; a failure after the last attempt becomes an error result for the model."""
    call: ToolCall = request.call
    timeout = timedelta(seconds=min(tool.timeout_s, timeouts.tool_s))
    retry = tool_retry(tool)
    summary = f"tool {call.name}"
    try:
        if tool.execution == "local":
            return await workflow.execute_local_activity_method(
                ToolCalls.call,
                request,
                start_to_close_timeout=timeout,
                retry_policy=retry,
                summary=summary,
                activity_id=request.step_id,
            )
        return await workflow.execute_activity_method(
            ToolCalls.call,
            request,
            start_to_close_timeout=timeout,
            retry_policy=retry,
            summary=summary,
            activity_id=request.step_id,
            heartbeat_timeout=timedelta(seconds=timeouts.heartbeat_s),
            task_queue=sandbox_queue if tool.sandboxed else None,
        )
    except ACTIVITY_FAILURES as error:
        return ToolResult(
            call_id=call.id,
            name=call.name,
            is_error=True,
            error_type=error_type(error),
            output=f"tool {call.name!r} failed: {error_message(error)}",
        )


GRADER_INSTRUCTIONS = (
    "You grade answers given to users. Read the question and the answer and reply with only a "
    "number from 0 to 1: the probability that the answer is correct, complete and appropriate."
)
_SCORE = re.compile(r"(?<![\d.])(1(?:\.0+)?|0?\.\d+|0)(?![\d.])")


def grading_request(
    request: ModelRequest, grader: ModelRef, *, question: str, answer: str
) -> ModelRequest:
    """A request asking ``grader`` to rate ``answer``; scripted graders answer from ``request``'s script."""
    prompt = f"Question:\n{question}\n\nAnswer:\n{answer}\n\nReply with only a number from 0 to 1."
    return request.model_copy(
        update={
            "model": grader,
            "instructions": GRADER_INSTRUCTIONS,
            "tools": [],
            "messages": [Message(role="user", content=prompt)],
            "want_confidence": False,
        }
    )


def parse_grade(text: str) -> float | None:
    """The first number from 0 to 1 in a grader's reply."""
    found = _SCORE.search(text)
    return float(found.group(1)) if found else None
