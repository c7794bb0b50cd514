"""The ``scripted`` provider: deterministic answers from the agent's script rules, offline."""

from __future__ import annotations

import time

from duragent import Message, ModelRequest, ModelResponse, Usage
from duragent._scripted import answer
from duragent._tokens import count_tokens


def prompt_tokens(request: ModelRequest) -> int:
    """Input tokens of a request by the simple tokenizer: instructions, tools and messages."""
    total = count_tokens(request.instructions)
    for schema in request.tools:
        total += count_tokens(schema.name) + count_tokens(schema.description)
        total += count_tokens(str(schema.parameters))
    for message in request.messages:
        total += count_tokens(message.content) + 4  # role and framing
        for call in message.tool_calls:
            total += count_tokens(call.name) + count_tokens(str(call.arguments))
    return total


def completion_tokens(message: Message) -> int:
    total = count_tokens(message.content)
    for call in message.tool_calls:
        total += count_tokens(call.name) + count_tokens(str(call.arguments))
    return max(total, 1)


class ScriptedProvider:
    """Answers from ``request.script``; usage counted with the simple tokenizer."""

    async def complete(self, request: ModelRequest) -> ModelResponse:
        started = time.perf_counter()
        result = answer(request.script, request.messages, turn=request.turn)
        message = result.message.model_copy(update={"name": request.agent})
        elapsed_ms = (time.perf_counter() - started) * 1000
        return ModelResponse(
            message=message,
            model=request.model.label,
            usage=Usage(
                input_tokens=prompt_tokens(request), output_tokens=completion_tokens(message)
            ),
            ttft_ms=elapsed_ms,
            total_ms=elapsed_ms,
            finish_reason="tool_calls" if message.tool_calls else "stop",
            confidence=result.confidence,
            confidence_source="scripted" if result.confidence is not None else None,
        )
