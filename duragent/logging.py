"""structlog configuration: JSON lines when not on a TTY, readable console output on one.

Outside workflows everything logs through structlog, with the run id, agent, turn and step bound
where known. Values under keys that look secret are redacted before rendering.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEY = re.compile(r"(api[_-]?key|secret|token|password|authorization)", re.IGNORECASE)
REDACTED = "[redacted]"


def redact_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace values whose key names a secret."""
    for key in list(event):
        if _SECRET_KEY.search(key):
            event[key] = REDACTED
    return event


def configure(*, level: str = "INFO", json: bool | None = None) -> None:
    """Configure structlog and stdlib logging once, at a process's entry point."""
    as_json = not sys.stderr.isatty() if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(
        level=level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    # The SDK's own worker chatter is useful at WARNING; the HTTP clients' INFO lines are noise.
    for noisy in (
        "httpx",
        "httpx2",
        "openai",
        "anthropic",
        "temporalio.activity",
        "uvicorn.access",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
