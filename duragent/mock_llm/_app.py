"""The mock's HTTP surface: a Starlette app over one ``Engine``.

Routes::

    POST /v1/chat/completions   OpenAI Chat Completions (stream or not)
    POST /v1/messages           Anthropic Messages (stream or not)
    GET  /v1/models             models, in Anthropic's format when ``anthropic-version`` is sent
    GET  /health                liveness
    GET  /stats                 request, fault and token counts
    POST /reset                 zero the counts (and restart the seeded fault sequence)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from duragent._messages import Message
from duragent.mock_llm import _anthropic_api, _openai_api
from duragent.mock_llm._config import FAULT_FIELD, FAULT_HEADER
from duragent.mock_llm._engine import ERROR_FAULTS, Answer, Engine

_HANG_POLL_S = 0.05


class _Dialect(Protocol):
    """What each API module provides (``_openai_api``, ``_anthropic_api``)."""

    NAME: str

    def parse(self, body: dict[str, Any]) -> list[Message]: ...

    def error_body(
        self, status: int, message: str, *, context_length: bool = False
    ) -> dict[str, Any]: ...

    def completion(self, answer: Answer, *, model: str) -> dict[str, Any]: ...

    def events(
        self,
        answer: Answer,
        *,
        model: str,
        first_token_s: float,
        per_token_s: float,
        include_usage: bool,
    ) -> AsyncIterator[str]: ...


def build_app(engine: Engine) -> Starlette:
    """The ASGI app serving ``engine``."""

    async def chat_completions(request: Request) -> Response:
        return await _complete(request, engine, _openai_api)

    async def messages(request: Request) -> Response:
        return await _complete(request, engine, _anthropic_api)

    async def models(request: Request) -> Response:
        names = engine.config.models
        if "anthropic-version" in request.headers:
            data = [
                {"type": "model", "id": n, "display_name": n, "created_at": "2025-01-01T00:00:00Z"}
                for n in names
            ]
            return JSONResponse(
                {"data": data, "has_more": False, "first_id": names[0], "last_id": names[-1]}
            )
        listed = [{"id": n, "object": "model", "created": 0, "owned_by": "duragent"} for n in names]
        return JSONResponse({"object": "list", "data": listed})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def stats(request: Request) -> Response:
        return JSONResponse(engine.stats())

    async def reset(request: Request) -> Response:
        engine.reset()
        return JSONResponse(engine.stats())

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/messages", messages, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            Route("/stats", stats, methods=["GET"]),
            Route("/reset", reset, methods=["POST"]),
        ]
    )


async def _complete(request: Request, engine: Engine, api: _Dialect) -> Response:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return _error(api, 400, "the request body must be a JSON object")
    stream = bool(body.get("stream"))
    try:
        forced = request.headers.get(FAULT_HEADER) or body.get(FAULT_FIELD)
        fault = engine.pick_fault(str(forced) if forced else None)
    except ValueError as exc:
        engine.record(api.NAME, stream=stream, fault=None)
        return _error(api, 400, str(exc))
    engine.record(api.NAME, stream=stream, fault=fault)
    faults = engine.config.faults
    if fault == "hang":
        return await _hang(request, engine, api)
    if fault in ERROR_FAULTS:
        status, message = ERROR_FAULTS[fault]
        if fault == "auth":
            message = _refused_key_message(request)
        headers = {}
        if status == 429:
            wait = faults.retry_after_s
            headers = {"retry-after": f"{wait:g}", "retry-after-ms": str(round(wait * 1000))}
        return _error(api, status, message, headers, context_length=fault == "context_length")
    try:
        conversation = api.parse(body)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return _error(api, 400, f"cannot read the request's messages: {exc!r}")
    answer = engine.answer(
        conversation, filtered=fault == "content_filter", logprobs=bool(body.get("logprobs"))
    )
    first_token_s = engine.config.latency_ms / 1000
    if fault == "slow_first_token":
        first_token_s += faults.slow_first_token_ms / 1000
    per_token_s = engine.config.per_token_ms / 1000
    model = str(body.get("model") or "mock")
    if stream:
        options = body.get("stream_options") or {}
        events = api.events(
            answer,
            model=model,
            first_token_s=first_token_s,
            per_token_s=per_token_s,
            include_usage=bool(options.get("include_usage")),
        )
        return StreamingResponse(
            events, media_type="text/event-stream", headers={"cache-control": "no-cache"}
        )
    await asyncio.sleep(first_token_s + per_token_s * (answer.output_tokens - 1))
    return JSONResponse(api.completion(answer, model=model))


def _refused_key_message(request: Request) -> str:
    """A 401 that echoes the key the client presented, whole, as some OpenAI-compatible
    servers and proxies do: the secret a worker must never record (history, logs, audit)."""
    presented = request.headers.get("x-api-key") or request.headers.get("authorization", "")
    if presented.lower().startswith("bearer "):
        presented = presented[len("bearer ") :]
    return f"Incorrect API key provided: {presented or '(none)'} (injected by duragent mock-llm)."


async def _hang(request: Request, engine: Engine, api: _Dialect) -> Response:
    """Say nothing until the client gives up, the server shuts down or ``hang_s`` passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + engine.config.faults.hang_s
    while loop.time() < deadline and not engine.closing.is_set():
        if await request.is_disconnected():
            break
        await asyncio.sleep(_HANG_POLL_S)
    return _error(api, 504, "no answer in time (hang injected by duragent mock-llm)")


def _error(
    api: _Dialect,
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    *,
    context_length: bool = False,
) -> Response:
    body = api.error_body(status, message, context_length=context_length)
    return Response(
        json.dumps(body), status_code=status, headers=headers, media_type="application/json"
    )
