"""The mock's Anthropic dialect: ``POST /v1/messages``, streamed or not."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from itertools import count
from typing import Any

from duragent._messages import Message, ToolCall
from duragent.mock_llm._engine import Answer, json_pieces, text_pieces, tool_names

NAME = "anthropic"

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_STOP = {"stop": "end_turn", "tool_calls": "tool_use", "content_filter": "refusal"}
_ids = count(1)


def error_body(status: int, message: str, *, context_length: bool = False) -> dict[str, Any]:
    """An error in Anthropic's format (a context overflow has no code: the message says it)."""
    kind = _ERROR_TYPES.get(status, "invalid_request_error")
    if context_length:
        message = "prompt is too long: 200000 tokens > 128000 maximum"
    return {"type": "error", "error": {"type": kind, "message": message}}


def parse(body: dict[str, Any]) -> list[Message]:
    """A Messages API request as duragent ``Message``s: ``system`` first, tool results as
    tool messages (named after the ``tool_use`` they answer)."""
    messages: list[Message] = []
    system = body.get("system")
    if system:
        messages.append(Message(role="system", content=_text(system)))
    for item in body["messages"]:
        content = item["content"]
        blocks: list[dict[str, Any]] = (
            [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
        )
        if item["role"] == "assistant":
            text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
            calls = [
                ToolCall(id=b["id"], name=b["name"], arguments=dict(b.get("input") or {}))
                for b in blocks
                if b.get("type") == "tool_use"
            ]
            messages.append(Message(role="assistant", content=text, tool_calls=calls))
            continue
        texts: list[str] = []
        for block in blocks:
            if block.get("type") == "tool_result":
                call_id = block["tool_use_id"]
                messages.append(
                    Message(
                        role="tool",
                        content=_text(block.get("content")),
                        tool_call_id=call_id,
                        name=tool_names(messages).get(call_id),
                    )
                )
            elif block.get("type") == "text":
                texts.append(block["text"])
        if texts:
            messages.append(Message(role="user", content="\n".join(texts)))
    return messages


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return content or ""


def _blocks(answer: Answer) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if answer.message.content:
        blocks.append({"type": "text", "text": answer.message.content})
    for call in answer.message.tool_calls:
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
        )
    return blocks


def _usage(answer: Answer, output_tokens: int) -> dict[str, Any]:
    # Anthropic's input_tokens excludes what was read from the cache.
    return {
        "input_tokens": answer.input_tokens - answer.cached_tokens,
        "output_tokens": output_tokens,
        "cache_read_input_tokens": answer.cached_tokens,
        "cache_creation_input_tokens": 0,
    }


def _message(
    answer: Answer, *, model: str, content: list[dict[str, Any]], done: bool
) -> dict[str, Any]:
    return {
        "id": f"msg_mock_{next(_ids)}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": _STOP[answer.finish] if done else None,
        "stop_sequence": None,
        "usage": _usage(answer, answer.output_tokens if done else 1),
    }


def completion(answer: Answer, *, model: str) -> dict[str, Any]:
    """A non-streamed ``message``."""
    return _message(answer, model=model, content=_blocks(answer), done=True)


async def events(
    answer: Answer,
    *,
    model: str,
    first_token_s: float,
    per_token_s: float,
    include_usage: bool = True,
) -> AsyncIterator[str]:
    """The Messages streaming sequence: ``message_start``, per block ``content_block_start``,
    deltas and ``content_block_stop``, then ``message_delta`` and ``message_stop``."""
    start = _message(answer, model=model, content=[], done=False)
    yield _sse("message_start", {"type": "message_start", "message": start})
    yield _sse("ping", {"type": "ping"})
    await asyncio.sleep(first_token_s)
    for index, block in enumerate(_blocks(answer)):
        if block["type"] == "text":
            opening: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": p} for p in text_pieces(block["text"])]
        else:
            opening = {**block, "input": {}}
            deltas = [
                {"type": "input_json_delta", "partial_json": p} for p in json_pieces(block["input"])
            ]
        yield _sse(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": opening},
        )
        for number, delta in enumerate(deltas):
            if number:
                await asyncio.sleep(per_token_s)
            yield _sse(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
        yield _sse("content_block_stop", {"type": "content_block_stop", "index": index})
    yield _sse(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": _STOP[answer.finish], "stop_sequence": None},
            "usage": {"output_tokens": answer.output_tokens},
        },
    )
    yield _sse("message_stop", {"type": "message_stop"})


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"
