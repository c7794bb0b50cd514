"""A fresh dev server per scenario: ``temporal server start-dev`` in memory, tuned or stock.

Started directly (not through ``WorkflowEnvironment``) so that its pid is ours to read CPU and
memory from. In memory, headless, on free ports, with duragent's search attributes registered
for every scenario alike. ``tuned`` applies ``duragent.workers._devserver.TUNING``, the dynamic config
``duragent dev`` starts its server with (no 50 ms transfer-queue tick before each workflow
task; timers on time); ``tuned=False`` is the stock server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from duragent._names import SEARCH_ATTRIBUTES
from duragent.workers import TUNING, free_port, temporal_binary

__all__ = ["TUNING", "BenchServer", "free_port", "stop_process"]

_SA_TYPES = {"KEYWORD": "Keyword", "DOUBLE": "Double", "INT": "Int"}


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def stop_process(
    process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, wait_s: float = 20
) -> None:
    """Ask a child process to stop with ``sig``; kill it if it has not within ``wait_s``."""
    process.send_signal(sig)
    try:
        process.wait(wait_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class BenchServer:
    """A dev server child process; a context manager."""

    def __init__(self, *, tuned: bool = True) -> None:
        self.tuned = tuned
        self.port = free_port()
        self._log = Path(tempfile.mkstemp(prefix="bench-devserver-", suffix=".log")[1])
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    @property
    def label(self) -> str:
        return "tuned (" + ", ".join(TUNING) + ")" if self.tuned else "stock"

    def command(self) -> list[str]:
        cmd = [
            temporal_binary(), "server", "start-dev", "--headless",
            "--ip", "127.0.0.1", "--port", str(self.port), "--log-level", "error",
        ]  # fmt: skip
        for key in SEARCH_ATTRIBUTES:
            cmd += ["--search-attribute", f"{key.name}={_SA_TYPES[key.indexed_value_type.name]}"]
        if self.tuned:
            for value in TUNING:
                cmd += ["--dynamic-config-value", value]
        return cmd

    def __enter__(self) -> BenchServer:
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
            )
        deadline = time.monotonic() + 60
        while not _answers(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                tail = self._log.read_text(errors="replace")[-2000:]
                self.__exit__()
                raise RuntimeError(f"the dev server did not start:\n{tail}")
            time.sleep(0.05)
        return self

    def state(self) -> str:
        """Whether the server still runs, and the end of its log: for a scenario that failed."""
        running = self._process is not None and self._process.poll() is None
        status = "running" if running else f"exited {self._process and self._process.returncode}"
        tail = self._log.read_text(errors="replace")[-1500:] if self._log.exists() else ""
        return f"the dev server at {self.address}: {status}; its log ends:\n{tail}"

    def __exit__(self, *_: object) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self._log.unlink(missing_ok=True)
