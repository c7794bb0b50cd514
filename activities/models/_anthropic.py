"""The ``anthropic`` provider: the Messages API, streamed.

Retries belong to Temporal: the SDK client is built with ``max_retries=0`` and every failure
leaves ``complete`` as a classified ``ProviderError`` (see ``_classify``). Streaming gives
``ttft_ms``, the reasoning layer of the run's latency breakdown.

Anthropic differs from Chat Completions in ways the mapping below absorbs: the instructions go
in ``system``, tool calls and results are content blocks (``tool_use`` / ``tool_result``), tool
results travel in *user* messages, and consecutive messages of one role must be merged.
"""

from __future__ import annotations

import os
import time
from typing import Any, cast

import anthropic
from anthropic.types import RawMessageStreamEvent

from duragent import Message, ModelRequest, ModelResponse, ProviderError, ToolCall, Usage
from duragent._spec import ModelRef
from duragent._vocab import ProviderName
from duragent.activities.models import _classify
from duragent.activities.models._clients import ClientCache
from duragent.activities.models._openai import parse_arguments

PROVIDER: ProviderName = "anthropic"
DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_MAX_TOKENS = 1024
"""The Messages API requires ``max_tokens``; ``ModelRef.params['max_tokens']`` overrides it."""
_RESERVED = frozenset({"model", "messages", "stream", "system", "tools", "max_tokens"})

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
}
"""Anthropic stop reasons in the Chat Completions vocabulary ``ModelResponse`` uses."""


class AnthropicProvider:
    """Calls the Messages API with streaming and normalizes the answer.

    ``api_key`` defaults to ``ANTHROPIC_API_KEY``; ``base_url`` (or a model's own
    ``ModelRef.base_url``) points at a proxy or a mock. ``ModelRef.params`` are sent as request
    fields as written (``max_tokens`` defaults to 1024).
    """

    def __init__(
        self, *, api_key: str | None = None, base_url: str | None = None, timeout_s: float = 120
    ) -> None:
        self._base_url = base_url
        self._timeout_s = timeout_s
        self._clients = ClientCache(
            anthropic.AsyncAnthropic,
            api_key=api_key or os.environ.get("ANTHROPIC_API_KEY") or None,
            timeout_s=timeout_s,
            provider=PROVIDER,
            missing_key=(
                "ANTHROPIC_API_KEY is not set on the worker: set it (or pass api_key= to "
                "AnthropicProvider), or give the model the base_url of a proxy that needs "
                "no key"
            ),
        )

    def unready(self, model: ModelRef) -> str | None:
        """Why a call to ``model`` would fail before reaching the provider (no key), or
        ``None``: what an evaluation checks before its first case."""
        return self._clients.missing(model.base_url or self._base_url)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """One streamed message; raises a classified ``ProviderError`` on failure."""
        base_url = request.model.base_url or self._base_url
        client = self._clients.get(base_url)
        system, messages = to_anthropic_messages(request)
        params = {k: v for k, v in request.model.params.items() if k not in _RESERVED}
        tools = [
            {
                "name": t.name,
                "description": t.description,
                "input_schema": t.parameters or {"type": "object", "properties": {}},
            }
            for t in request.tools
        ]
        state = _Stream()
        started = time.perf_counter()
        try:
            stream = await client.messages.create(
                model=request.model.name,
                max_tokens=int(request.model.params.get("max_tokens", DEFAULT_MAX_TOKENS)),
                system=system or anthropic.omit,
                messages=cast(Any, messages),
                tools=cast(Any, tools) or anthropic.omit,
                stream=True,
                extra_body=params or None,
            )
            async with stream:
                async for event in stream:
                    state.add(event, time.perf_counter() - started)
        except Exception as exc:
            error = self._error(exc, request.model.name, base_url)
            if error is None:
                raise
            raise error from exc
        total_ms = (time.perf_counter() - started) * 1000
        if state.stop_reason == "refusal":
            raise _classify.content_filtered(
                provider=PROVIDER, model=request.model.name, reason="the model refused (refusal)"
            )
        message = state.message(request.agent)
        return ModelResponse(
            message=message,
            model=request.model.label,
            usage=state.usage(),
            ttft_ms=state.ttft_ms if state.ttft_ms is not None else total_ms,
            total_ms=total_ms,
            finish_reason=_FINISH.get(state.stop_reason or "", state.stop_reason or "stop"),
        )

    async def aclose(self) -> None:
        """Close the cached HTTP clients (their connection pools)."""
        await self._clients.aclose()

    def _error(self, exc: Exception, model: str, base_url: str | None) -> ProviderError | None:
        """The one place Anthropic SDK failures become classified ``ProviderError``s; ``None``
        for anything else (a bug, which should surface as itself)."""
        where = base_url or DEFAULT_BASE_URL
        if isinstance(exc, anthropic.APIStatusError):
            return _classify.from_status(
                exc.status_code,
                exc.api_message or exc.message,
                provider=PROVIDER,
                model=model,
                code=exc.error_code or exc.type,
                headers=exc.response.headers,
                key_hint="ANTHROPIC_API_KEY",
            )
        if isinstance(exc, anthropic.APITimeoutError):
            return _classify.timed_out(
                provider=PROVIDER, model=model, base_url=where, timeout_s=self._timeout_s
            )
        if isinstance(exc, anthropic.APIConnectionError):
            detail = str(exc.__cause__ or exc.message)
            return _classify.unreachable(provider=PROVIDER, base_url=where, detail=detail)
        # The SDK lets transport errors raised while reading the stream through unwrapped.
        return _classify.from_transport(
            exc, provider=PROVIDER, model=model, base_url=where, timeout_s=self._timeout_s
        )


class _Stream:
    """Accumulates stream events: text, tool_use blocks with their JSON input, usage, timings."""

    def __init__(self) -> None:
        self.blocks: dict[int, dict[str, Any]] = {}
        self.input_tokens = 0
        self.output_tokens = 0
        self.cache_read = 0
        self.cache_write = 0
        self.stop_reason: str | None = None
        self.ttft_ms: float | None = None

    def add(self, event: RawMessageStreamEvent, elapsed_s: float) -> None:
        if event.type == "message_start":
            usage = event.message.usage
            self.input_tokens = usage.input_tokens
            self.output_tokens = usage.output_tokens
            self.cache_read = usage.cache_read_input_tokens or 0
            self.cache_write = usage.cache_creation_input_tokens or 0
        elif event.type == "content_block_start":
            block = event.content_block
            if block.type == "text":
                self.blocks[event.index] = {"type": "text", "text": block.text}
            elif block.type == "tool_use":
                self._first_token(elapsed_s)  # the model has decided to call a tool
                self.blocks[event.index] = {
                    "type": "tool_use",
                    "id": block.id,
                    "name": block.name,
                    "input": dict(block.input),
                    "json": "",
                }
        elif event.type == "content_block_delta":
            block_state = self.blocks.get(event.index)
            delta = event.delta
            if delta.type == "text_delta" and block_state is not None:
                self._first_token(elapsed_s)
                block_state["text"] += delta.text
            elif delta.type == "input_json_delta" and block_state is not None:
                self._first_token(elapsed_s)
                block_state["json"] += delta.partial_json
        elif event.type == "message_delta":
            self.stop_reason = event.delta.stop_reason or self.stop_reason
            # The final count is cumulative; newer servers may restate input counts too.
            self.output_tokens = event.usage.output_tokens
            if event.usage.input_tokens is not None:
                self.input_tokens = event.usage.input_tokens
            if event.usage.cache_read_input_tokens is not None:
                self.cache_read = event.usage.cache_read_input_tokens

    def _first_token(self, elapsed_s: float) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = elapsed_s * 1000

    def usage(self) -> Usage:
        # Anthropic counts cached input apart from input_tokens; duragent's input includes it.
        return Usage(
            input_tokens=self.input_tokens + self.cache_read + self.cache_write,
            output_tokens=self.output_tokens,
            cached_tokens=self.cache_read,
        )

    def message(self, agent: str) -> Message:
        text: list[str] = []
        calls: list[ToolCall] = []
        for _, block in sorted(self.blocks.items()):
            if block["type"] == "text":
                text.append(block["text"])
            else:
                arguments = parse_arguments(block["json"]) if block["json"] else block["input"]
                calls.append(ToolCall(id=block["id"], name=block["name"], arguments=arguments))
        return Message(role="assistant", content="".join(text), tool_calls=calls, name=agent)


def to_anthropic_messages(request: ModelRequest) -> tuple[str, list[dict[str, Any]]]:
    """``(system, messages)`` in Messages API form.

    System messages join the instructions (the API has no system role); tool results become
    ``tool_result`` blocks in a user message; consecutive messages of one role are merged, as
    the API requires alternating roles.
    """
    system = [request.instructions] if request.instructions else []
    turns: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "system":
            system.append(message.content)
            continue
        role, blocks = _blocks(message)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return "\n\n".join(s for s in system if s), turns


def _blocks(message: Message) -> tuple[str, list[dict[str, Any]]]:
    if message.role == "tool":
        if message.tool_call_id is None:
            raise _classify.invalid_request(
                "a tool message has no tool_call_id; every tool result must answer the "
                "assistant's tool_use block with the same id",
                provider=PROVIDER,
            )
        result = {"type": "tool_result", "tool_use_id": message.tool_call_id}
        return "user", [{**result, "content": message.content}]
    blocks: list[dict[str, Any]] = []
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": dict(call.arguments)}
        )
    return message.role, blocks
