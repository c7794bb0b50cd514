"""An OTLP/HTTP receiver that accepts spans and keeps none, in a process of its own.

It stands in for the collector a production worker exports to: a separate process, so its CPU
is not counted as the worker's. ``python -m bench._otlp_sink`` prints its port, then serves
until its stdin closes (the parent exiting takes it down).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Sink(BaseHTTPRequestHandler):
    """Accepts OTLP/HTTP exports, counts their bytes in ``received`` and keeps none of them."""

    received = 0

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        Sink.received += length
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def start() -> tuple[subprocess.Popen[str], str]:
    """Start a sink; return the process and the endpoint to export to."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench._otlp_sink"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return process, f"http://127.0.0.1:{port}"


def main() -> None:
    sink = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    print(sink.server_port, flush=True)
    sys.stdin.read()  # until the parent closes it or exits


if __name__ == "__main__":
    main()
