"""Worker processes: which task queues, which activities, tuning, telemetry."""

from duragent.workers._app_loader import load_app
from duragent.workers._client import connect, ensure_search_attributes
from duragent.workers._telemetry import Telemetry, start_telemetry
from duragent.workers._worker import (
    build_providers,
    build_sandbox_worker,
    build_worker,
    sandbox_runner,
)

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
