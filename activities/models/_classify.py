"""Shared rules for turning a vendor failure into a classified ``ProviderError``.

Both HTTP providers fail the same ways (status codes, Retry-After, transport errors); only the
exception classes and the body shapes differ. The rules live here so the two providers cannot
drift apart; each provider keeps the one function that reads its SDK's exceptions.

Kinds, and whether Temporal retries them (``duragent.errors.RETRYABLE_KINDS``)::

    429                      rate_limit      retried, after Retry-After when the server sent one
    408, client timeout      timeout         retried
    5xx, 529 (overloaded)    server_error    retried
    connect/read failure     connection      retried
    401, 403                 auth            not retried: a retry cannot fix a key
    400, 404, 409, 422, ...  invalid_request not retried
      ... context too long   context_length  not retried: the conversation must shrink
      ... content policy     content_filter  not retried: the input must change

Every message built here is redacted (``duragent._redact``): a vendor's error body may echo the
API key, and a base URL may carry credentials (``http://user:pass@host``); the message goes
to history, to the model's run result and to the worker's log.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx2

from duragent._redact import redact
from duragent.errors import ProviderError, ProviderErrorKind

# Vendors name these failures by error code where they can, and in prose where they cannot.
_CONTEXT_LENGTH_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})
_CONTEXT_LENGTH = re.compile(
    r"maximum context length|context window|prompt is too long|input is too long"
    r"|too many (input )?tokens",
    re.IGNORECASE,
)
_CONTENT_FILTER_CODES = frozenset({"content_filter", "content_policy_violation"})
_CONTENT_FILTER = re.compile(
    r"content (filtering |management )?policy|safety system|usage policies|was flagged",
    re.IGNORECASE,
)


def provider_error(message: str, **fields: Any) -> ProviderError:
    """A ``ProviderError`` whose message is redacted: the one constructor of this module."""
    return ProviderError(redact(message), **fields)


MAX_RETRY_AFTER_S = 3600.0
"""A Retry-After beyond an hour is treated as absent: the retry policy's backoff decides."""


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, ``retry-after`` (seconds or an
    HTTP date), in that order; ``None`` when absent, unparsable or absurd."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    candidates: list[float] = []
    if (ms := lowered.get("retry-after-ms")) is not None:
        candidates.append(_float(ms) / 1000)
    if (value := lowered.get("retry-after")) is not None:
        seconds = _float(value)
        if math.isnan(seconds):
            try:
                seconds = parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                seconds = math.nan
        candidates.append(seconds)
    for seconds in candidates:
        if math.isfinite(seconds) and 0 <= seconds <= MAX_RETRY_AFTER_S:
            return seconds
    return None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def from_status(
    status: int,
    detail: str,
    *,
    provider: str,
    model: str,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
    key_hint: str,
) -> ProviderError:
    """Classify an HTTP error response. ``detail`` is the vendor's message, ``code`` its error
    code or type, ``key_hint`` where the worker's key comes from (named in auth errors)."""
    where = f"{provider} ({model}) answered {status}: {detail.strip().rstrip('.')}"

    def error(
        kind: ProviderErrorKind, advice: str, retry_after: float | None = None
    ) -> ProviderError:
        return provider_error(
            f"{where}. {advice}",
            kind=kind,
            provider=provider,
            status_code=status,
            retry_after_s=retry_after,
        )

    if status == 429:
        wait = retry_after_s(headers)
        after = f"after {wait:g} s as the server asked" if wait is not None else "with backoff"
        return error(
            "rate_limit",
            f"Rate limited: Temporal retries {after}; lower the worker's concurrency or raise "
            "the account's limits if this persists.",
            wait,
        )
    if status == 408:
        return error("timeout", "The provider timed out the request; Temporal retries it.")
    if status >= 500:
        return error(
            "server_error",
            "The provider failed or is overloaded; Temporal retries with backoff, and the "
            "fallback chain takes over if it keeps failing.",
            retry_after_s(headers),
        )
    if status in (401, 403):
        return error(
            "auth",
            f"The API key was refused: check {key_hint} on the worker, and that the key may use "
            f"model {model!r}.",
        )
    if code in _CONTEXT_LENGTH_CODES or _CONTEXT_LENGTH.search(detail):
        return error(
            "context_length",
            "The conversation is longer than the model's context window: shorten the "
            "instructions or history, lower max_tokens, or choose a model with a larger context.",
        )
    if code in _CONTENT_FILTER_CODES or _CONTENT_FILTER.search(detail):
        return error(
            "content_filter",
            "The provider's content policy blocked the request; change the input, or let a "
            "guardrail handle such inputs before the model call.",
        )
    if status == 404:
        return error(
            "invalid_request",
            f"Check the model name {model!r} and the base_url: the provider does not know them.",
        )
    return error(
        "invalid_request",
        "The provider rejected the request; check the model params in the agent spec and the "
        "tool schemas.",
    )


def timed_out(*, provider: str, model: str, base_url: str, timeout_s: float) -> ProviderError:
    """The provider did not answer within the client's timeout."""
    return provider_error(
        f"{provider} ({model}) did not answer within {timeout_s:g} s at {base_url}. Temporal "
        "retries; raise the provider's timeout_s if the model is this slow to answer.",
        kind="timeout",
        provider=provider,
    )


def unreachable(*, provider: str, base_url: str, detail: str) -> ProviderError:
    """The connection failed or broke before the answer was complete."""
    return provider_error(
        f"cannot reach {provider} at {base_url}: {detail}. Check the worker's network and the "
        "base_url; Temporal retries.",
        kind="connection",
        provider=provider,
    )


def from_transport(
    exc: BaseException, *, provider: str, model: str, base_url: str, timeout_s: float
) -> ProviderError | None:
    """Classify a raw transport exception (one an SDK let through unwrapped, e.g. while
    reading a stream); ``None`` if ``exc`` is not one."""
    if isinstance(exc, httpx2.TimeoutException | TimeoutError):
        return timed_out(provider=provider, model=model, base_url=base_url, timeout_s=timeout_s)
    if isinstance(exc, httpx2.TransportError | OSError):
        return unreachable(provider=provider, base_url=base_url, detail=str(exc) or repr(exc))
    return None


def content_filtered(*, provider: str, model: str, reason: str) -> ProviderError:
    """The model stopped because its output was filtered (a 200 answer with no usable text)."""
    return provider_error(
        f"{provider} ({model}) stopped its answer: {reason}. Rephrase the input, or let a "
        "guardrail handle such inputs before the model call.",
        kind="content_filter",
        provider=provider,
    )


def invalid_request(message: str, *, provider: str) -> ProviderError:
    """A request duragent cannot send as is; retrying would not help."""
    return provider_error(message, kind="invalid_request", provider=provider)
