"""Running the mock: ``serve`` (blocking, for the CLI) and ``MockLLM`` (a background server for
tests, the demo and load runs).

``MockLLM`` runs uvicorn on a thread of its own with its own event loop, so a test's loop and
the server never block each other and measured latencies are the mock's, not the test's. It
binds port 0 and reads back the port the OS chose, so parallel tests never collide. Stopping
ends hanging requests first, then joins the thread: no thread or socket outlives the ``with``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from duragent.mock_llm._app import build_app
from duragent.mock_llm._config import MockConfig
from duragent.mock_llm._engine import Engine

_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 10.0


class _Server(uvicorn.Server):
    """Uvicorn waits for running requests before it stops; hanging ones are ended first."""

    def __init__(self, config: uvicorn.Config, engine: Engine) -> None:
        super().__init__(config)
        self._engine = engine

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._engine.closing.set()
        await super().shutdown(sockets)


def _config(engine: Engine, host: str, port: int, **options: Any) -> uvicorn.Config:
    return uvicorn.Config(
        build_app(engine),
        host=host,
        port=port,
        ws="none",  # not needed, and importing a websockets library may warn
        lifespan="off",
        timeout_graceful_shutdown=2,  # a streaming answer in progress gets this long to finish
        **options,
    )


def serve(config: MockConfig | None = None, host: str = "127.0.0.1", port: int = 8100) -> None:
    """Serve the mock until interrupted (Ctrl-C). Used by ``duragent mock-llm``."""
    engine = Engine(config or MockConfig())
    _Server(_config(engine, host, port), engine).run()


class MockLLM:
    """A mock LLM server on a free local port, for the duration of a ``with`` block::

        with MockLLM(MockConfig(rules=[...])) as mock:
            client = openai.OpenAI(base_url=mock.openai_base_url, api_key="unused")

    ``async with`` works too (start and stop then run off the event loop).
    """

    def __init__(self, config: MockConfig | None = None, *, host: str = "127.0.0.1") -> None:
        self.config = config or MockConfig()
        self.host = host
        self._engine = Engine(self.config)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The port the server listens on (chosen by the OS)."""
        if self._port is None:
            raise RuntimeError("the mock is not running; use it as `with MockLLM(...) as mock:`")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: also the base URL the Anthropic SDK wants."""
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """The base URL for OpenAI SDK clients (``…/v1``)."""
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """The base URL for Anthropic SDK clients (the root: the SDK adds ``/v1/messages``)."""
        return self.url

    def stats(self) -> dict[str, Any]:
        """Request, fault and token counts, as ``GET /stats`` returns them."""
        return self._engine.stats()

    def reset(self) -> None:
        """Zero the counts and restart the seeded fault sequence (as ``POST /reset``)."""
        self._engine.reset()

    def start(self) -> MockLLM:
        """Start serving; returns once the port is bound. Raises if the server cannot start."""
        if self._thread is not None:
            raise RuntimeError("this MockLLM is already running")
        config = _config(
            self._engine,
            self.host,
            0,
            log_config=None,  # leave the host process's logging alone
            log_level="warning",
            access_log=False,
        )
        self._server = server = _Server(config, self._engine)
        self._thread = threading.Thread(target=self._run, name="duragent-mock-llm", daemon=True)
        self._engine.closing.clear()
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not server.started:
            if not self._thread.is_alive():
                self._thread.join()
                self._thread = self._server = None
                raise RuntimeError(f"the mock LLM server did not start: {self._failure!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the mock LLM server did not start in {_START_TIMEOUT_S:g} s")
            time.sleep(0.01)
        self._port = server.servers[0].sockets[0].getsockname()[1]
        return self

    def _run(self) -> None:
        assert self._server is not None
        try:
            self._server.run()
        except BaseException as exc:  # reported by start(); a thread cannot raise to its caller
            self._failure = exc

    def stop(self) -> None:
        """End hanging requests, shut the server down and join its thread."""
        thread, server = self._thread, self._server
        if thread is None or server is None:
            return
        self._engine.closing.set()
        server.should_exit = True
        thread.join(_STOP_TIMEOUT_S)
        if thread.is_alive():
            server.force_exit = True
            thread.join(_STOP_TIMEOUT_S)
        self._thread = self._server = None
        self._port = None

    def __enter__(self) -> MockLLM:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> MockLLM:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
