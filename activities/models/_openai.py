"""The ``openai`` provider: Chat Completions, streamed, for OpenAI and any compatible server.

Retries belong to Temporal: the SDK client is built with ``max_retries=0`` and every failure
leaves ``complete`` as a classified ``ProviderError`` (see ``_classify``). The answer is
streamed even though the activity returns it whole, because only a stream shows when the first
token arrived: ``ttft_ms`` is the reasoning layer of the run's latency breakdown.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from typing import Any, cast

import openai
from openai.types.chat import ChatCompletionChunk

from duragent import Message, ModelRequest, ModelResponse, ProviderError, ToolCall, Usage
from duragent._spec import ModelRef
from duragent._vocab import ProviderName
from duragent.activities.models import _classify
from duragent.activities.models._clients import ClientCache

PROVIDER: ProviderName = "openai"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
"""Sent to OpenAI-compatible servers that need no key: the SDK refuses to build without one."""
_RESERVED = frozenset({"model", "messages", "stream", "stream_options", "tools", "logprobs"})
"""Request fields duragent sets itself; the same names in ``ModelRef.params`` are ignored."""


class OpenAIProvider:
    """Calls the Chat Completions API with streaming and normalizes the answer.

    ``api_key`` defaults to ``OPENAI_API_KEY``; ``base_url`` (or a model's own
    ``ModelRef.base_url``) points at any OpenAI-compatible server. ``ModelRef.params``
    (temperature, max_tokens, ...) are sent as request fields as written.
    """

    returns_logprobs = True
    """Asked for, a confidence comes from token log-probabilities (see ``_Stream.confidence``)."""

    def __init__(
        self, *, api_key: str | None = None, base_url: str | None = None, timeout_s: float = 120
    ) -> None:
        self._base_url = base_url
        self._timeout_s = timeout_s
        self._clients = ClientCache(
            openai.AsyncOpenAI,
            api_key=api_key or os.environ.get("OPENAI_API_KEY") or None,
            timeout_s=timeout_s,
            provider=PROVIDER,
            missing_key=(
                "OPENAI_API_KEY is not set on the worker: set it (or pass api_key= to "
                "OpenAIProvider), or give the model a base_url of an OpenAI-compatible "
                "server that needs no key"
            ),
        )

    def unready(self, model: ModelRef) -> str | None:
        """Why a call to ``model`` would fail before reaching the provider (no key), or
        ``None``: what an evaluation checks before its first case."""
        return self._clients.missing(model.base_url or self._base_url)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """One streamed chat completion; raises a classified ``ProviderError`` on failure."""
        base_url = request.model.base_url or self._base_url
        client = self._clients.get(base_url)
        messages = to_openai_messages(request)
        params = {k: v for k, v in request.model.params.items() if k not in _RESERVED}
        tools = [to_openai_tool(t.name, t.description, t.parameters) for t in request.tools]
        state = _Stream()
        started = time.perf_counter()
        try:
            stream = await client.chat.completions.create(
                model=request.model.name,
                messages=cast(Any, messages),
                tools=cast(Any, tools) or openai.omit,
                stream=True,
                stream_options={"include_usage": True},
                logprobs=True if request.want_confidence else openai.omit,
                extra_body=params or None,
            )
            async with stream:
                async for chunk in stream:
                    state.add(chunk, time.perf_counter() - started)
        except Exception as exc:
            error = self._error(exc, request.model.name, base_url)
            if error is None:
                raise
            raise error from exc
        total_ms = (time.perf_counter() - started) * 1000
        if state.finish_reason == "content_filter":
            raise _classify.content_filtered(
                provider=PROVIDER, model=request.model.name, reason="its content filter fired"
            )
        message = state.message(request.agent)
        return ModelResponse(
            message=message,
            model=request.model.label,
            usage=state.usage,
            ttft_ms=state.ttft_ms if state.ttft_ms is not None else total_ms,
            total_ms=total_ms,
            finish_reason=state.finish_reason or ("tool_calls" if message.tool_calls else "stop"),
            confidence=state.confidence(),
            confidence_source="logprobs" if state.logprobs else None,
        )

    async def aclose(self) -> None:
        """Close the cached HTTP clients (their connection pools)."""
        await self._clients.aclose()

    def _error(self, exc: Exception, model: str, base_url: str | None) -> ProviderError | None:
        """The one place OpenAI SDK failures become classified ``ProviderError``s; ``None``
        for anything else (a bug, which should surface as itself)."""
        if isinstance(exc, openai.APIStatusError):
            body = exc.body if isinstance(exc.body, Mapping) else {}
            detail = body.get("message") if isinstance(body.get("message"), str) else exc.message
            return _classify.from_status(
                exc.status_code,
                str(detail),
                provider=PROVIDER,
                model=model,
                code=exc.code or exc.type,
                headers=exc.response.headers,
                key_hint="OPENAI_API_KEY",
            )
        where = base_url or DEFAULT_BASE_URL
        if isinstance(exc, openai.APITimeoutError):
            return _classify.timed_out(
                provider=PROVIDER, model=model, base_url=where, timeout_s=self._timeout_s
            )
        if isinstance(exc, openai.APIConnectionError):
            detail = str(exc.__cause__ or exc.message)
            return _classify.unreachable(provider=PROVIDER, base_url=where, detail=detail)
        if isinstance(exc, openai.APIError):
            # An error event inside the stream: the server failed after it started answering.
            return _classify.provider_error(
                f"{PROVIDER} ({model}) failed while streaming: {exc.message}. Temporal retries.",
                kind="server_error",
                provider=PROVIDER,
            )
        return _classify.from_transport(
            exc, provider=PROVIDER, model=model, base_url=where, timeout_s=self._timeout_s
        )


class _Stream:
    """Accumulates streamed chunks: text, tool calls (assembled by index), usage, timings."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.usage = Usage()
        self.finish_reason: str | None = None
        self.ttft_ms: float | None = None
        self.logprobs: list[float] = []

    def confidence(self) -> float | None:
        """exp(mean token log-probability) of the answer's text: the model's own certainty."""
        if not self.logprobs:
            return None
        return round(math.exp(sum(self.logprobs) / len(self.logprobs)), 6)

    def add(self, chunk: ChatCompletionChunk, elapsed_s: float) -> None:
        if chunk.usage is not None:
            details = chunk.usage.prompt_tokens_details
            self.usage = Usage(
                input_tokens=chunk.usage.prompt_tokens,
                output_tokens=chunk.usage.completion_tokens,
                cached_tokens=(details.cached_tokens or 0) if details else 0,
            )
        for choice in chunk.choices[:1]:  # n=1: duragent asks for one answer
            delta = choice.delta
            if (delta.content or delta.tool_calls) and self.ttft_ms is None:
                self.ttft_ms = elapsed_s * 1000
            if delta.content:
                self.text.append(delta.content)
            if choice.logprobs is not None and choice.logprobs.content:
                self.logprobs.extend(t.logprob for t in choice.logprobs.content)
            for part in delta.tool_calls or []:
                call = self.calls.setdefault(part.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = part.id or call["id"]
                if part.function is not None:
                    call["name"] += part.function.name or ""
                    call["arguments"] += part.function.arguments or ""
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason

    def message(self, agent: str) -> Message:
        calls = [
            ToolCall(
                id=c["id"] or f"call_{i}", name=c["name"], arguments=parse_arguments(c["arguments"])
            )
            for i, c in sorted(self.calls.items())
        ]
        return Message(role="assistant", content="".join(self.text), tool_calls=calls, name=agent)


def parse_arguments(text: str) -> dict[str, Any]:
    """Tool-call arguments as a dict. Models sometimes emit invalid JSON; keep it as ``_raw`` so
    the tool's argument validation reports it to the model instead of the call crashing."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"_raw": text}
    return value if isinstance(value, dict) else {"_raw": text}


def to_openai_tool(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """A duragent tool schema as an OpenAI function tool."""
    schema = parameters or {"type": "object", "properties": {}}
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": schema},
    }


def to_openai_messages(request: ModelRequest) -> list[dict[str, Any]]:
    """The conversation in Chat Completions form; the instructions become the first message."""
    out: list[dict[str, Any]] = []
    if request.instructions:
        out.append({"role": "system", "content": request.instructions})
    for message in request.messages:
        if message.role == "tool":
            if message.tool_call_id is None:
                raise _classify.invalid_request(
                    "a tool message has no tool_call_id; every tool result must answer the "
                    "assistant's tool call with the same id",
                    provider=PROVIDER,
                )
            out.append(
                {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
            )
        elif message.role == "assistant" and message.tool_calls:
            out.append(
                {
                    "role": "assistant",
                    "content": message.content or None,
                    "tool_calls": [
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {
                                "name": call.name,
                                "arguments": json.dumps(call.arguments),
                            },
                        }
                        for call in message.tool_calls
                    ],
                }
            )
        else:
            out.append({"role": message.role, "content": message.content})
    return out
