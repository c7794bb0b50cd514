"""``duragent codec-server``: Temporal's remote codec protocol, so the Web UI and the ``temporal``
CLI can show encrypted payloads to people allowed to see them.

``POST …/decode`` and ``POST …/encode`` take and return ``{"payloads": [...]}`` (protobuf JSON:
base64 ``metadata`` values and ``data``); only the last path segment picks the operation, as the
protocol asks. Every request needs the access token, constant-time compared, either as
``Authorization: Bearer <token>`` (the ``temporal`` CLI's ``--codec-auth``) or as the first path
segment, ``http://host:port/<token>/decode``: the Web UI cannot send a token of ours (its "pass
access token" option forwards the user's own OAuth token, and only to an https endpoint), so the
UI is given that capability URL as its codec endpoint. The server never logs request paths.

CORS answers only the configured Web UI origins (preflight included), since the UI fetches the
codec server from the browser, cross-origin.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Sequence

import uvicorn
from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payloads

from duragent.encryption._codec import EncryptionCodec
from duragent.encryption._keys import KeyRingError

MAX_BODY_BYTES = 16 * 1024 * 1024
ALLOWED_HEADERS = ["Content-Type", "X-Namespace", "Authorization"]


def codec_app(codec: EncryptionCodec, *, token: str, origins: Sequence[str]) -> Starlette:
    """The codec server's ASGI app: ``token`` guards every request; ``origins`` may call it
    from a browser."""
    if not token:
        raise ValueError("the codec server needs an access token")
    expected = token.encode()

    def authorized(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected):
            return True
        segments = request.url.path.strip("/").split("/")
        return len(segments) >= 2 and hmac.compare_digest(segments[0].encode(), expected)

    async def convert(request: Request) -> Response:
        operation = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        if operation not in ("encode", "decode"):
            return JSONResponse({"error": "POST …/encode or …/decode"}, status_code=404)
        if not authorized(request):
            return JSONResponse(
                {"error": "missing or wrong access token (Authorization: Bearer <token>)"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"error": "request too large"}, status_code=413)
        payloads = Payloads()
        try:
            json_format.Parse(body, payloads, ignore_unknown_fields=True)
        except json_format.ParseError as exc:
            return JSONResponse({"error": f"not a Payloads JSON object: {exc}"}, status_code=400)
        try:
            if operation == "encode":
                result = await codec.encode(payloads.payloads)
            else:
                result = await codec.decode(payloads.payloads)
        except KeyRingError as exc:  # names a key id and what to do; never key material
            return JSONResponse({"error": str(exc)}, status_code=400)
        return Response(
            json_format.MessageToJson(Payloads(payloads=result)),
            media_type="application/json",
        )

    return Starlette(
        routes=[Route("/{path:path}", convert, methods=["POST"])],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=list(origins),
                allow_methods=["POST"],
                allow_headers=ALLOWED_HEADERS,
                # The UI's "include cross-origin credentials" option sends cookies; allowed,
                # though this server reads none. Origins are echoed, never "*".
                allow_credentials=True,
                max_age=600,
            )
        ],
    )


def _config(app: Starlette, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ws="none",
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,  # request paths may carry the token
    )


def serve(app: Starlette, *, host: str = "127.0.0.1", port: int = 8888) -> None:
    """Serve until interrupted (Ctrl-C). Used by ``duragent codec-server``."""
    uvicorn.Server(_config(app, host, port)).run()


class CodecServer:
    """The codec server on a thread of its own (``duragent dev``): ``start()``, ``stop()``."""

    def __init__(self, app: Starlette, *, host: str = "127.0.0.1", port: int = 8888) -> None:
        self._server = uvicorn.Server(_config(app, host, port))
        self._thread = threading.Thread(target=self._server.run, name="duragent-codec", daemon=True)

    def start(self, timeout_s: float = 10.0) -> None:
        """Start serving; returns once the port is bound."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the codec server did not start (is its port in use?)")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(5)
