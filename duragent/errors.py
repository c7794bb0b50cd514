"""Errors duragent raises, each naming what is wrong and how to fix it.

Exception tree::

    DuragentError
    ├── SpecError            a spec failed to load or validate (file or module, agent, field)
    ├── AppLoadError         ``--app module:attr`` could not be imported or is not an App;
    │                        the user's own exception, if any, is its ``__cause__``
    ├── ToolError            raised by a tool; ``retryable`` says whether Temporal may retry it
    └── ProviderError        a model provider failed; ``kind`` classifies it, ``retryable``
                             and ``retry_after_s`` drive Temporal's retry policy

Inside activities these become ``temporalio.exceptions.ApplicationError`` with ``type`` set to
the error kind, ``non_retryable`` and ``next_retry_delay`` carried on the error itself, so the
retry semantics travel with the failure rather than living in the workflow.
"""

from __future__ import annotations

from typing import Literal


class DuragentError(Exception):
    """Base of every error duragent raises."""


class SpecError(DuragentError):
    """A spec is invalid. The message, one line, names the file (the YAML file, or the Python
    module where ``Agent(...)`` or ``App(...)`` was called), the agent and the field."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        agent: str | None = None,
        field: str | None = None,
    ) -> None:
        self.file = file
        self.agent = agent
        self.field = field
        self.reason = message
        where = []
        if file:
            where.append(file)
        if agent:
            where.append(f"agent {agent!r}")
        if field:
            where.append(f"field {field!r}")
        super().__init__(f"{': '.join(where)}: {message}" if where else message)


class AppLoadError(DuragentError):
    """``--app module:attr`` does not name an importable ``duragent.App``."""


class ToolError(DuragentError):
    """Raise from a tool to fail the call with a message the model will see.

    ``retryable=True`` lets Temporal retry the call (only for idempotent tools).
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


ProviderErrorKind = Literal[
    "rate_limit",
    "timeout",
    "server_error",
    "connection",
    "auth",
    "invalid_request",
    "content_filter",
    "context_length",
    "circuit_open",
]

RETRY_SEMANTICS: dict[ProviderErrorKind, bool] = {
    # The one table of what a retry of a model call can fix (True: retried with the model's
    # backoff; False: failed over to the next model in the chain at once). The activity marks
    # its ApplicationError ``non_retryable`` from it, and the workflow's retry policy lists the
    # False kinds as non-retryable error types, so either side alone is enough.
    "rate_limit": True,  # after Retry-After when the provider sent one
    "timeout": True,
    "server_error": True,
    "connection": True,
    "auth": False,  # a retry cannot fix a key
    "invalid_request": False,
    "content_filter": False,  # the input must change
    "context_length": False,  # the conversation must shrink
    "circuit_open": False,  # this worker saw the provider down: fail over now
}
RETRYABLE_KINDS: frozenset[str] = frozenset(k for k, retry in RETRY_SEMANTICS.items() if retry)
NON_RETRYABLE_KINDS: tuple[str, ...] = tuple(k for k, retry in RETRY_SEMANTICS.items() if not retry)

OUTAGE_KINDS: frozenset[str] = frozenset({"server_error", "timeout", "connection", "rate_limit"})
"""Failures that say the provider is unwell; a worker's circuit opens after several in a row."""
REFUSED_KINDS: frozenset[str] = frozenset({"auth"})
"""Failures that say the provider will not serve this worker at all (401 and 403: a key that is
wrong, revoked, or may not use the model): one is proof enough, so the circuit opens at once."""
UNAVAILABLE_KINDS: frozenset[str] = OUTAGE_KINDS | REFUSED_KINDS | {"circuit_open"}
"""A model that failed over with one of these cannot answer for now, whatever the request: the
run skips it for its cooling period (``RetrySpec.cooldown_s``). The other kinds (invalid_request,
content_filter, context_length) are this request's fault and say nothing about the next one."""


class ProviderError(DuragentError):
    """A model provider failed. ``kind`` says how; retryable kinds are retried with backoff."""

    def __init__(
        self,
        message: str,
        *,
        kind: ProviderErrorKind,
        provider: str,
        status_code: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.provider = provider
        self.status_code = status_code
        self.retry_after_s = retry_after_s

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS
