"""structlog configuration: JSON lines when not on a TTY, readable console output on one.

Outside workflows everything logs through structlog, with the run id, agent, turn and step
bound where known (the activities bind them) and the current OpenTelemetry trace and span ids
added to every line. The standard library's records (the Temporal SDK's, including the
workflow logger's) go through the same processors, so a worker's output is one format.

Secrets never reach the output: every string of every line passes ``duragent._redact``, the
same redactor that guards history, results, the audit log and the transcript store. It removes
the worker's known secret values (secret environment variables, approver keys, URL
credentials) and secret-shaped text (``scheme://user:pass@``, ``Bearer …``, ``sk-…``, JWTs),
wherever they turn up (an exception message quoting a key, say). A field is redacted by its
name only when the name is a secret's (``api_key``, ``authorization``, ``password``,
``access_token``) and its value a string: ``input_tokens`` stays a number.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, TextIO

import structlog
from opentelemetry import trace

from duragent import _redact

REDACTED = _redact.REDACTED
_MIN_SECRET_LEN = _redact.MIN_SECRET_LEN


def redact_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace string values whose key is a secret's name (``api_key``, ``access_token``);
    ``input_tokens`` and other numbers are never touched."""
    for key in list(event):
        value = event[key]
        if isinstance(value, str) and value and _redact.is_secret_name(key):
            event[key] = REDACTED
    return event


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """The secret values of an environment (default: this process's), longest first:
    secret-named variables and the passwords of URL-valued ones (``_redact.secrets_from_env``)."""
    env = os.environ if env is None else env
    return sorted(_redact.secrets_from_env(env), key=len, reverse=True)


class ScrubValues:
    """A processor that redacts every string of an event: ``secrets`` by value, then whatever
    the process's redactor (``duragent._redact.current()``) knows and recognizes by shape."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = [s for s in secrets if len(s) >= _MIN_SECRET_LEN]
        self._own = _redact.Redactor(self.secrets, shapes=False)

    def __call__(
        self, _: Any, __: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        shared = _redact.current()
        for key, value in event.items():
            event[key] = shared.value(self._own.value(value))
        return event


def add_trace_ids(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """The current OpenTelemetry trace and span ids, when a span is recording."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event


def _temporal_fields(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # The SDK's workflow and activity loggers attach their context as a dict extra.
    for extra in ("temporal_workflow", "temporal_activity"):
        details = event.pop(extra, None)
        if isinstance(details, dict):
            event.setdefault("run_id", details.get("run_id") or details.get("workflow_run_id"))
            event.setdefault("workflow_id", details.get("workflow_id"))
    return event


def configure(
    *, level: str = "INFO", json: bool | None = None, stream: TextIO | None = None
) -> None:
    """Configure structlog and stdlib logging once, at a process's entry point.

    Lines go to ``stream`` (standard error by default): JSON unless it is a terminal."""
    stream = sys.stderr if stream is None else stream
    as_json = not stream.isatty() if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_ids,
    ]
    # Last before rendering, after exceptions became text: a secret can be in a traceback.
    scrub: list[Any] = [
        structlog.processors.format_exc_info,
        redact_secrets,
        ScrubValues(secret_values()),
    ]
    structlog.configure(
        processors=[*shared, *scrub, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
            _temporal_fields,
            *shared,
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *scrub, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
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
