"""The mock's Chat Completions dialect: ``POST /v1/chat/completions``, streamed or not."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from itertools import count
from typing import Any

from duragent._messages import Message, ToolCall
from duragent.mock_llm._engine import Answer, json_pieces, parse_arguments, text_pieces, tool_names

NAME = "openai"

_ERROR_TYPES = {
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    529: ("server_error", "overloaded"),
    504: ("server_error", "timeout"),
    503: ("server_error", "unavailable"),
    401: ("invalid_request_error", "invalid_api_key"),
}
_ids = count(1)


def error_body(status: int, message: str, *, context_length: bool = False) -> dict[str, Any]:
    """An error in OpenAI's format."""
    kind, code = _ERROR_TYPES.get(status, ("invalid_request_error", None))
    if context_length:
        code = "context_length_exceeded"
        message = (
            "This model's maximum context length is 128000 tokens. However, your messages "
            "resulted in 200000 tokens. Please reduce the length of the messages."
        )
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def parse(body: dict[str, Any]) -> list[Message]:
    """A Chat Completions request's messages as duragent ``Message``s."""
    messages: list[Message] = []
    for item in body["messages"]:
        role = item["role"]
        content = _text(item.get("content"))
        if role in ("system", "developer"):
            messages.append(Message(role="system", content=content))
        elif role == "assistant":
            calls = [
                ToolCall(
                    id=call["id"],
                    name=call["function"]["name"],
                    arguments=parse_arguments(call["function"].get("arguments")),
                )
                for call in item.get("tool_calls") or []
            ]
            messages.append(Message(role="assistant", content=content, tool_calls=calls))
        elif role == "tool":
            call_id = item["tool_call_id"]
            name = tool_names(messages).get(call_id)
            messages.append(Message(role="tool", content=content, tool_call_id=call_id, name=name))
        else:
            messages.append(Message(role="user", content=content))
    return messages


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


def _usage(answer: Answer) -> dict[str, Any]:
    return {
        "prompt_tokens": answer.input_tokens,
        "completion_tokens": answer.output_tokens,
        "total_tokens": answer.input_tokens + answer.output_tokens,
        "prompt_tokens_details": {"cached_tokens": answer.cached_tokens},
    }


def _calls(answer: Answer) -> list[dict[str, Any]]:
    return [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
        }
        for call in answer.message.tool_calls
    ]


def completion(answer: Answer, *, model: str) -> dict[str, Any]:
    """A non-streamed ``chat.completion``."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": answer.message.content or None,
        "refusal": None,
    }
    if answer.message.tool_calls:
        message["tool_calls"] = _calls(answer)
    return {
        "id": f"chatcmpl-mock-{next(_ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": answer.finish,
                "logprobs": _logprobs(answer, text_pieces(answer.message.content)),
            }
        ],
        "usage": _usage(answer),
    }


async def events(
    answer: Answer,
    *,
    model: str,
    first_token_s: float,
    per_token_s: float,
    include_usage: bool,
) -> AsyncIterator[str]:
    """``chat.completion.chunk`` server-sent events, ending with ``[DONE]``."""
    base = {
        "id": f"chatcmpl-mock-{next(_ids)}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }

    def chunk(
        delta: dict[str, Any], finish: str | None = None, logprobs: dict[str, Any] | None = None
    ) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": logprobs}
        return _sse({**base, "choices": [choice]})

    yield chunk({"role": "assistant", "content": ""})
    await asyncio.sleep(first_token_s)
    for index, piece in enumerate(text_pieces(answer.message.content)):
        if index:
            await asyncio.sleep(per_token_s)
        yield chunk({"content": piece}, logprobs=_logprobs(answer, [piece]))
    for index, call in enumerate(answer.message.tool_calls):
        head = {"index": index, "id": call.id, "type": "function"}
        yield chunk({"tool_calls": [{**head, "function": {"name": call.name, "arguments": ""}}]})
        for piece in json_pieces(call.arguments):
            await asyncio.sleep(per_token_s)
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, answer.finish)
    if include_usage:
        yield _sse({**base, "choices": [], "usage": _usage(answer)})
    yield "data: [DONE]\n\n"


def _logprobs(answer: Answer, pieces: list[str]) -> dict[str, Any] | None:
    """OpenAI's ``logprobs`` for these text pieces, when the request asked for them."""
    if answer.logprob is None or not pieces:
        return None
    content = [
        {"token": p, "logprob": answer.logprob, "bytes": list(p.encode()), "top_logprobs": []}
        for p in pieces
    ]
    return {"content": content, "refusal": None}


def _sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data)}\n\n"
