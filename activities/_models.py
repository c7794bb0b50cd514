"""The ``model.call`` activity: one model call through the provider the request names.

Retries belong to Temporal alone: provider SDK clients are built with ``max_retries=0`` and
every failure leaves here as an ``ApplicationError`` whose ``type`` is the error kind
(rate_limit, timeout, server_error, connection, auth, invalid_request, content_filter,
context_length), ``non_retryable`` set for kinds a retry cannot fix, and ``next_retry_delay``
honouring the provider's Retry-After.

A worker-local ``CircuitBreaker`` (``duragent.activities._circuit``) is consulted before each call and
told how it ended: while a model's circuit is open the call fails at once with a non-retryable
``circuit_open`` error, so the workflow moves to the next model in the fallback chain without
spending attempts and backoff on a provider that is down. Scripted models never touch it.

Nothing secret leaves here (``duragent._redact``): a failure's message, details and causes are
redacted before Temporal records them (a 401 body echoing the key, a base URL with
credentials), the new messages are redacted before the transcript store keeps them and the
model sees them, and so is the answer's text before it enters history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from duragent import Message, ModelRequest, ModelResponse, ProviderError
from duragent._contracts import ModelCalls
from duragent._names import ACTIVITY_MODEL
from duragent._redact import current as redactor
from duragent._redact import redacted_failures
from duragent.activities._circuit import CircuitBreaker, circuit_key
from duragent.activities._confidence import INSTRUCTION, split_self_reported
from duragent.activities._heartbeat import heartbeating
from duragent.activities._observe import model_answered, model_call
from duragent.activities._spec_store import SPEC_MISSING, SpecStore
from duragent.activities._transcripts import TranscriptError, TranscriptStore
from duragent.activities.models import ModelProvider
from duragent.pricing import Price, cost_usd


def _earlier_attempt_errors() -> dict[str, int]:
    """Failures of this call's earlier attempts, by kind, from their last heartbeat."""
    info = activity.info()
    details = list(info.heartbeat_details) if not info.is_local else []
    if details and isinstance(details[0], dict):
        tally = details[0].get("attempt_errors")
        if isinstance(tally, dict):
            return {str(k): int(v) for k, v in tally.items() if isinstance(v, int)}
    return {}


def to_application_error(
    error: ProviderError, attempt_errors: dict[str, int] | None = None
) -> ApplicationError:
    """The Temporal form of a classified provider failure, with every failed attempt's kind."""
    delay = timedelta(seconds=error.retry_after_s) if error.retry_after_s else None
    return ApplicationError(
        f"{error.provider}: {error}",
        {
            "kind": error.kind,
            "provider": error.provider,
            "status_code": error.status_code,
            "attempt_errors": attempt_errors or {error.kind: 1},
        },
        type=error.kind,
        non_retryable=not error.retryable,
        next_retry_delay=delay,
    )


class ModelActivities(ModelCalls):
    """Holds the worker's providers (built in ``workers``), its pricing table and its circuit
    breaker (one per worker; a fresh one with the default thresholds unless given)."""

    def __init__(
        self,
        providers: Mapping[str, ModelProvider],
        *,
        prices: Mapping[str, Price] | None = None,
        breaker: CircuitBreaker | None = None,
        transcripts: TranscriptStore | None = None,
        specs: SpecStore | None = None,
        capture_content: bool = False,
    ) -> None:
        self._providers = dict(providers)
        self._specs = specs
        self._prices = prices
        self._capture_content = capture_content
        self._transcripts = transcripts
        self.breaker = breaker if breaker is not None else CircuitBreaker()

    async def _with_prompt(self, request: ModelRequest) -> ModelRequest:
        """The request with the parts of the agent's prompt it refers to filled in."""
        ref = request.prompt
        if ref is None:
            return request
        if self._specs is None:
            raise ApplicationError(
                f"the run refers to agent {request.agent!r}'s prompt {ref.digest} and this "
                "worker has no spec store; build workers with build_worker",
                type=SPEC_MISSING,
                non_retryable=True,
            )
        prompt = await asyncio.to_thread(self._specs.prompt, ref.digest, request.agent)
        update: dict[str, object] = {"prompt": None}
        if ref.instructions:
            update["instructions"] = prompt.instructions
        if ref.tools:
            update["tools"] = [*prompt.tools, *request.tools]
        if ref.script:
            update["script"] = prompt.script
        return request.model_copy(update=update)

    async def _expand(self, request: ModelRequest) -> ModelRequest:
        """The request with its whole conversation: the stored part, the new messages written
        to the store (idempotently: a retry writes the same rows), references resolved."""
        request = await self._with_prompt(request)
        if request.transcript is None and not any(m.content_ref for m in request.messages):
            return request
        store = self._transcripts
        if store is None:
            raise ApplicationError(
                "the run refers to a transcript store and this worker has none; build workers "
                "with build_worker (it opens Settings.transcript_store)",
                type="invalid_request",
                non_retryable=True,
            )
        ref = request.transcript
        new = _redacted(request.messages)

        def load() -> list[Message]:
            if ref is None:
                return [store.resolve(m) for m in new]
            store.write(ref.key, ref.start, new)
            return store.read(ref.key, ref.start) + [store.resolve(m) for m in new]

        try:
            messages = await asyncio.to_thread(load)
        except TranscriptError as exc:
            raise ApplicationError(str(exc), type="transcript_missing", non_retryable=True) from exc
        return request.model_copy(update={"messages": messages, "transcript": None})

    @activity.defn(name=ACTIVITY_MODEL)
    async def call(self, request: ModelRequest) -> ModelResponse:
        """Call the model; price the answer with this worker's pricing table."""
        with redacted_failures():
            request = await self._expand(request)
            with model_call(request, capture_content=self._capture_content) as current:
                response = await self._call(request)
                model_answered(
                    current, response, capture_content=self._capture_content, request=request
                )
            text = redactor().text(response.message.content)
            if text != response.message.content:
                message = response.message.model_copy(update={"content": text})
                response = response.model_copy(update={"message": message})
            return response

    async def _call(self, request: ModelRequest) -> ModelResponse:
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
        earlier = _earlier_attempt_errors()
        try:
            async with heartbeating({"attempt_errors": earlier}):
                response = await self._complete(provider, request)
        except ProviderError as error:
            tally = {**earlier, error.kind: earlier.get(error.kind, 0) + 1}
            if not activity.info().is_local:
                # Heartbeat details survive into the next attempt: the run counts every
                # failed attempt, not only the last, whichever attempt finally answers.
                activity.heartbeat({"attempt_errors": tally})
            raise to_application_error(error, tally) from error
        update: dict[str, object] = {
            "cost_usd": cost_usd(response.model, response.usage, self._prices),
            "attempt_errors": earlier,
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

    async def _complete(self, provider: ModelProvider, request: ModelRequest) -> ModelResponse:
        """The provider's answer, through the model's circuit (scripted models have none).

        The call is cut at the activity's start-to-close timeout less a margin, so a model that
        hangs fails here as a classified ``timeout`` the breaker counts, reported at once,
        instead of Temporal timing the attempt out behind the worker's back (the worker would
        only learn of it at its next heartbeat, and the breaker never).
        """
        if request.model.provider == "scripted":
            return await provider.complete(request)
        key = circuit_key(request.model)
        self.breaker.before_call(key, provider=request.model.provider)
        limit_s = _call_limit_s()
        try:
            async with asyncio.timeout(limit_s):
                response = await provider.complete(request)
        except ProviderError as error:
            self.breaker.record_failure(key, error.kind)
            raise
        except TimeoutError as exc:
            self.breaker.record_failure(key, "timeout")
            raise ProviderError(
                f"{request.model.label} did not answer within {limit_s or 0:.2f} s, this call's "
                "time limit (the agent's limits.timeouts.model_s less a margin). Temporal "
                "retries; raise limits.timeouts.model_s if the model is this slow to answer.",
                kind="timeout",
                provider=request.model.provider,
            ) from exc
        except BaseException:
            # Cancelled, or a failure the provider did not classify: no verdict on its health,
            # but a half-open trial slot must not stay taken forever.
            self.breaker.release(key)
            raise
        self.breaker.record_success(key)
        return response


def _redacted(messages: list[Message]) -> list[Message]:
    """Messages with their text redacted (tool outputs already are: the tool activity did it)."""
    scrub = redactor().text
    out = []
    for message in messages:
        text = scrub(message.content)
        out.append(
            message if text == message.content else message.model_copy(update={"content": text})
        )
    return out


def _call_limit_s() -> float | None:
    """The activity's start-to-close timeout less 10% (at most 1 s): the worker's clock starts
    after the server's, and the failure must reach the server before its own timer fires."""
    timeout = activity.info().start_to_close_timeout
    if not timeout or timeout.total_seconds() <= 0:
        return None
    total = timeout.total_seconds()
    return total - min(total * 0.1, 1.0)
