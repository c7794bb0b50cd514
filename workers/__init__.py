"""Worker processes: which task queues, which activities, tuning, telemetry."""

from workers._app_loader import load_app
from workers._client import connect, ensure_search_attributes
from workers._telemetry import Telemetry, start_telemetry
from workers._worker import build_providers, build_sandbox_worker, build_worker, sandbox_runner

__all__ = [
    "Telemetry",
    "build_providers",
    "build_sandbox_worker",
    "build_worker",
    "connect",
    "ensure_search_attributes",
    "load_app",
    "sandbox_runner",
    "start_telemetry",
]
