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
    from duragent.workers._client import connect, ensure_search_attributes, key_ring
    from duragent.workers._devserver import (
        TUNING,
        DevServer,
        DevServerError,
        free_port,
        port_open,
        temporal_binary,
    )
    from duragent.workers._embedded import dev_server, embedded
    from duragent.workers._payloads import data_converter, user_facing_failures
    from duragent.workers._telemetry import Telemetry, start_telemetry
    from duragent.workers._worker import (
        DuragentRunner,
        build_activities,
        build_providers,
        build_sandbox_worker,
        build_worker,
        sandbox_runner,
        with_passthrough,
    )

_WHERE = {
    "DevServer": "_devserver",
    "DevServerError": "_devserver",
    "DuragentRunner": "_worker",
    "TUNING": "_devserver",
    "free_port": "_devserver",
    "port_open": "_devserver",
    "temporal_binary": "_devserver",
    "Telemetry": "_telemetry",
    "build_activities": "_worker",
    "build_providers": "_worker",
    "build_sandbox_worker": "_worker",
    "build_worker": "_worker",
    "connect": "_client",
    "data_converter": "_payloads",
    "dev_server": "_embedded",
    "embedded": "_embedded",
    "ensure_search_attributes": "_client",
    "key_ring": "_client",
    "load_app": "_app_loader",
    "sandbox_runner": "_worker",
    "start_telemetry": "_telemetry",
    "user_facing_failures": "_payloads",
    "with_passthrough": "_worker",
}

__all__ = [
    "TUNING",
    "DevServer",
    "DevServerError",
    "DuragentRunner",
    "Telemetry",
    "build_activities",
    "build_providers",
    "build_sandbox_worker",
    "build_worker",
    "connect",
    "data_converter",
    "dev_server",
    "embedded",
    "ensure_search_attributes",
    "free_port",
    "key_ring",
    "load_app",
    "port_open",
    "sandbox_runner",
    "start_telemetry",
    "temporal_binary",
    "user_facing_failures",
    "with_passthrough",
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
