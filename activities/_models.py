"""The ``model.call`` activity: one model call through the provider the request names.

Retries belong to Temporal alone: provider SDK clients are built with ``max_retries=0`` and
every failure leaves here as an ``ApplicationError`` whose ``type`` is the error kind
(rate_limit, timeout, server_error, connection, auth, invalid_request, content_filter,
context_length), ``non_retryable`` set for kinds a retry cannot fix, and ``next_retry_delay``
honouring the provider's Retry-After.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities._confidence import INSTRUCTION, split_self_reported
from activities.models import ModelProvider
from duragent import ModelRequest, ModelResponse, ProviderError
from duragent._names import ACTIVITY_MODEL
from duragent.pricing import Price, cost_usd


def to_application_error(error: ProviderError) -> ApplicationError:
    """The Temporal form of a classified provider failure."""
    delay = timedelta(seconds=error.retry_after_s) if error.retry_after_s else None
    return ApplicationError(
        f"{error.provider}: {error}",
        {"kind": error.kind, "provider": error.provider, "status_code": error.status_code},
        type=error.kind,
        non_retryable=not error.retryable,
        next_retry_delay=delay,
    )


class ModelActivities:
    """Holds the worker's providers (built in ``workers``) and its pricing table."""

    def __init__(
        self,
        providers: Mapping[str, ModelProvider],
        *,
        prices: Mapping[str, Price] | None = None,
    ) -> None:
        self._providers = dict(providers)
        self._prices = prices

    @activity.defn(name=ACTIVITY_MODEL)
    async def call(self, request: ModelRequest) -> ModelResponse:
        """Call the model; price the answer with this worker's pricing table."""
        provider = self._providers.get(request.model.provider)
        if provider is None:
            raise ApplicationError(
                f"this worker has no {request.model.provider!r} provider configured "
                f"(it serves: {', '.join(sorted(self._providers))}); for openai set "
                "OPENAI_API_KEY, for anthropic set ANTHROPIC_API_KEY, on the worker",
                type="invalid_request",
                non_retryable=True,
            )
        ask_report = (
            request.want_confidence
            and request.model.provider != "scripted"
            and not getattr(provider, "returns_logprobs", False)
        )
        if ask_report:
            request = request.model_copy(
                update={"instructions": request.instructions + INSTRUCTION}
            )
        try:
            response = await provider.complete(request)
        except ProviderError as error:
            raise to_application_error(error) from error
        update: dict[str, object] = {
            "cost_usd": cost_usd(response.model, response.usage, self._prices)
        }
        if (
            request.want_confidence
            and response.confidence is None
            and not response.message.tool_calls
        ):
            text, reported = split_self_reported(response.message.content)
            if reported is not None:
                update["message"] = response.message.model_copy(update={"content": text})
                update["confidence"] = reported
                update["confidence_source"] = "self_reported"
        return response.model_copy(update=update)
