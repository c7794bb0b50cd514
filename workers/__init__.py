"""Worker processes: which task queues, which activities, tuning, telemetry.

Every name loads on first use (PEP 562): ``duragent.workers._client`` (what ``duragent.connect``
is) sits in this package, and importing it must not import the activities, the provider SDKs or
OpenTelemetry's SDK that building a worker needs. A client process stays light; a worker process
imports them when it builds its worker.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from duragent.workers._app_loader import load_app
    from duragent.workers._client import connect, ensure_search_attributes
    from duragent.workers._telemetry import Telemetry, start_telemetry
    from duragent.workers._worker import (
        build_activities,
        build_providers,
        build_sandbox_worker,
        build_worker,
        sandbox_runner,
    )

_WHERE = {
    "Telemetry": "_telemetry",
    "build_activities": "_worker",
    "build_providers": "_worker",
    "build_sandbox_worker": "_worker",
    "build_worker": "_worker",
    "connect": "_client",
    "ensure_search_attributes": "_client",
    "load_app": "_app_loader",
    "sandbox_runner": "_worker",
    "start_telemetry": "_telemetry",
}

__all__ = [
    "Telemetry",
    "build_activities",
    "build_providers",
    "build_sandbox_worker",
    "build_worker",
    "connect",
    "ensure_search_attributes",
    "load_app",
    "sandbox_runner",
    "start_telemetry",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # once: later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
