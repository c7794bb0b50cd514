"""What the model and tool activities tell observers: a GenAI span per call and a log line.

Spans carry metadata only (model, tokens, timing, error type). Prompt and completion text is
added only when the worker opts in (``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``),
and even then tool arguments whose schema marks them secret (a ``SecretStr`` parameter:
``writeOnly``/``format: password``) are replaced by ``[redacted]``, and every text passes the
process's redactor (``duragent._redact``: known secrets, credentials in URLs, key shapes). Log
lines never carry content at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from opentelemetry.trace import Span, SpanKind
from temporalio import activity

from duragent import ModelRequest, ModelResponse, ToolCallRequest, ToolResult
from duragent._redact import REDACTED, secret_fields
from duragent._redact import current as redactor
from duragent._telemetry import (
    AGENT_NAME,
    CACHED_TOKENS,
    CONVERSATION_ID,
    INPUT_TOKENS,
    OPERATION,
    OUTPUT_TOKENS,
    PROVIDER,
    REQUEST_MODEL,
    RESPONSE_MODEL,
    TOOL_CALL_ID,
    TOOL_NAME,
    span,
)

log = structlog.get_logger("duragent.activity")


@contextmanager
def model_call(request: ModelRequest, *, capture_content: bool) -> Iterator[Span]:
    """The ``chat {model}`` span around one attempt of a model call, and the run's log context."""
    info = activity.info()
    attributes: dict[str, Any] = {
        OPERATION: "chat",
        PROVIDER: request.model.provider,
        REQUEST_MODEL: request.model.name,
        AGENT_NAME: request.agent,
        CONVERSATION_ID: info.workflow_id,
        "duragent.turn": request.turn,
        "duragent.attempt": info.attempt,
    }
    if capture_content:
        attributes["gen_ai.system_instructions"] = redactor().text(request.instructions)
        attributes["gen_ai.input.messages"] = _messages_json(request)
    with (
        structlog.contextvars.bound_contextvars(
            run_id=request.run_id, agent=request.agent, turn=request.turn
        ),
        span(f"chat {request.model.name}", attributes, kind=SpanKind.CLIENT) as current,
    ):
        yield current


def model_answered(
    current: Span, response: ModelResponse, *, capture_content: bool, request: ModelRequest
) -> None:
    """Set the response attributes on the call's span and log the call."""
    usage = response.usage
    current.set_attributes(
        {
            RESPONSE_MODEL: response.model.partition("/")[2] or response.model,
            INPUT_TOKENS: usage.input_tokens,
            OUTPUT_TOKENS: usage.output_tokens,
            CACHED_TOKENS: usage.cached_tokens,
            "duragent.ttft_ms": response.ttft_ms,
        }
    )
    if response.cost_usd is not None:  # unknown prices stay unknown, never zero
        current.set_attribute("duragent.cost_usd", response.cost_usd)
    if capture_content:
        message = response.message
        current.set_attribute(
            "gen_ai.output.messages",
            json.dumps(
                [
                    {
                        "role": message.role,
                        "content": redactor().text(message.content),
                        "tool_calls": [
                            {
                                "name": c.name,
                                "arguments": _redact_args(request, c.name, c.arguments),
                            }
                            for c in message.tool_calls
                        ],
                    }
                ]
            ),
        )
    log.info(
        "model call",
        model=response.model,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cached_tokens=usage.cached_tokens,
        cost_usd=response.cost_usd,
        ttft_ms=round(response.ttft_ms, 3),
        total_ms=round(response.total_ms, 3),
        tool_calls=[c.name for c in response.message.tool_calls],
    )


@contextmanager
def tool_call(request: ToolCallRequest) -> Iterator[Span]:
    """The ``execute_tool {name}`` span around one attempt of a tool call."""
    attributes = {
        OPERATION: "execute_tool",
        TOOL_NAME: request.call.name,
        TOOL_CALL_ID: request.call.id,
        AGENT_NAME: request.agent,
        CONVERSATION_ID: request.workflow_id,
        "duragent.step_id": request.step_id,
        "duragent.attempt": activity.info().attempt,
    }
    with (
        structlog.contextvars.bound_contextvars(
            run_id=request.run_id, agent=request.agent, step=request.step_id
        ),
        span(f"execute_tool {request.call.name}", attributes) as current,
    ):
        yield current


def tool_finished(current: Span, result: ToolResult) -> None:
    """Mark a tool's span with its outcome and log it."""
    if result.is_error:
        current.set_attribute("error.type", result.error_type or "tool_error")
    log.info(
        "tool call",
        tool=result.name,
        error_type=result.error_type,
        duration_ms=round(result.duration_ms, 3),
    )


def _messages_json(request: ModelRequest) -> str:
    return json.dumps(
        [
            {
                "role": m.role,
                "content": redactor().text(m.content),
                **(
                    {
                        "tool_calls": [
                            {
                                "name": c.name,
                                "arguments": _redact_args(request, c.name, c.arguments),
                            }
                            for c in m.tool_calls
                        ]
                    }
                    if m.tool_calls
                    else {}
                ),
            }
            for m in request.messages
        ]
    )


def _redact_args(request: ModelRequest, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    schema = next((t.parameters for t in request.tools if t.name == tool), {})
    hidden = secret_fields(schema)
    return redactor().value({k: (REDACTED if k in hidden else v) for k, v in arguments.items()})
