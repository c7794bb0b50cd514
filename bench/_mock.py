"""bench.load's model server (``duragent.mock_llm``, in a process of its own) and
a count of the TCP connections clients hold to it.

The mock runs apart from the worker so that its CPU is not counted as the worker's. The
connections are read from /proc/net/tcp (Linux), server side: every socket whose local port is
the mock's, so the count covers whatever client opened it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench._scenarios import ROOT, child_env
from bench._server import stop_process

_ESTABLISHED = "01"


@contextmanager
def mock_llm(config: Path) -> Iterator[tuple[str, int]]:
    """The mock (``duragent.mock_llm.MockLLM``, what ``duragent mock-llm`` serves, without its
    access log) in a child process, configured by the YAML file ``config``: yields its URL and
    pid."""
    cmd = [sys.executable, "-m", "bench._mock", str(config)]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            cmd, cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=log
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline().decode().strip()  # its URL, once it listens
            if not line.startswith("http://"):
                process.wait(10)
                log.seek(0)
                error = log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"the mock LLM did not start: {error}")
            yield line, process.pid
        finally:
            stop_process(process, signal.SIGINT)


def _serve(config: Path) -> None:
    """The child: serve until interrupted, the URL on stdout first."""
    from duragent.mock_llm import MockConfig, MockLLM

    with MockLLM(MockConfig.from_yaml(config)) as mock:
        print(mock.url, flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})  # blocked in every thread: see below


def _server_sockets(port: int) -> set[str]:
    """Remote addresses of the established connections to local ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            if state == _ESTABLISHED and int(local.rsplit(":", 1)[1], 16) == port:
                found.add(remote)
    return found


@contextmanager
def connection_counter(port: int, every_s: float = 0.25) -> Iterator[dict[str, int]]:
    """Sample the connections to ``port`` while the block runs; the dict yielded is filled on
    exit with ``max_open`` (most at once) and ``opened`` (distinct client ports seen: a lower
    bound on connections made, as one opened and closed between samples is missed)."""
    figures = {"max_open": 0, "opened": 0}
    seen: set[str] = set()
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(every_s):
            now = _server_sockets(port)
            seen.update(now)
            figures["max_open"] = max(figures["max_open"], len(now))

    thread = threading.Thread(target=sample, name="bench-connections", daemon=True)
    thread.start()
    try:
        yield figures
    finally:
        stop.set()
        thread.join()
        figures["opened"] = len(seen)


if __name__ == "__main__":
    # Blocked before the server's thread starts, so it inherits the mask and sigwait alone
    # receives the parent's SIGINT: the server then stops cleanly.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    _serve(Path(sys.argv[1]))
