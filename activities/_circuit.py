"""A worker-local circuit breaker per model: fail fast while a provider is down.

Temporal's retry policy copes with a provider that fails now and then. When one is down, every
run would still spend its attempts and backoff on it (three attempts, 300 ms of backoff, or the
whole model timeout per attempt when it hangs) before the fallback chain takes over. The breaker
remembers, for this worker, that the model keeps failing and refuses to call it for a while: the
``model.call`` activity then fails at once with a non-retryable ``circuit_open`` error and the
workflow moves to the next model in the chain.

One circuit per key (``circuit_key``: provider, model name and base URL)::

    closed     calls go through; ``failures`` consecutive outage failures open it, and so does
               a single refusal (auth)
    open       every call fails fast with ProviderError(kind="circuit_open") for ``cooldown_s``
    half_open  after the cool-down exactly one trial call goes through (the others still fail
               fast): success closes the circuit, an outage failure re-opens it for a fresh
               cool-down

Outage kinds count (``OUTAGE_KINDS``: server_error, timeout, connection, rate_limit): a provider
may recover from one, so it takes several in a row. A refusal (``REFUSED_KINDS``: auth, which is
401 and 403) opens the circuit at the first: the worker's key will not be accepted on the next
call either, and every run would otherwise spend a request on it per turn. invalid_request,
content_filter and context_length are the request's fault and prove the provider is up and
answering, so they count as a success here.

Invariants: state lives in one instance per worker, never in a module global, so tests and
workers in one process never share circuits; every method takes the lock, so the breaker is
safe from threads as well as from the worker's event loop. The decision is per worker by
design: a worker that cannot reach a provider (its own network, its own rate limit) fails over
without waiting for the others to agree.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import structlog

from duragent import ModelRef, ProviderError
from duragent.errors import OUTAGE_KINDS, REFUSED_KINDS

__all__ = ["OUTAGE_KINDS", "REFUSED_KINDS", "CircuitBreaker", "CircuitState", "circuit_key"]

CircuitState = Literal["closed", "open", "half_open"]

log = structlog.get_logger("duragent.circuit")


def circuit_key(model: ModelRef) -> str:
    """``provider/name``, plus ``@base_url`` when the model names its own server."""
    return model.key


@dataclass
class _Circuit:
    state: CircuitState = "closed"
    failures: int = 0
    last_kind: str | None = None
    opened_at: float = 0.0
    trial: bool = False


class CircuitBreaker:
    """Circuits for the models one worker calls. See the module docstring for the states.

    ``failures`` consecutive outage failures open a circuit for ``cooldown_s`` seconds;
    ``clock`` is monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        failures: int = 5,
        cooldown_s: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1:
            raise ValueError(f"circuit failures={failures!r} must be at least 1")
        if cooldown_s < 0:
            raise ValueError(f"circuit cooldown_s={cooldown_s!r} must not be negative")
        self.failures = failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._circuits: dict[str, _Circuit] = {}

    def before_call(self, key: str, *, provider: str = "") -> None:
        """Let a call through, or raise ``ProviderError(kind="circuit_open")`` at once.

        In half-open state the first caller takes the one trial slot; it must end with
        ``record_success``, ``record_failure`` or ``release``.
        """
        with self._lock:
            now = self._clock()
            circuit = self._circuits.get(key)
            if circuit is None or circuit.state == "closed":
                return
            self._refresh(key, circuit, now)
            if circuit.state == "half_open" and not circuit.trial:
                circuit.trial = True
                return
            raise self._open_error(key, circuit, now, provider or key.partition("/")[0])

    def record_success(self, key: str) -> None:
        """The provider answered: reset the count, close the circuit."""
        with self._lock:
            circuit = self._circuits.get(key)
            if circuit is None:
                return
            if circuit.state != "closed":
                log.info("circuit closed", model=key, was=circuit.state)
            circuit.state, circuit.failures, circuit.trial = "closed", 0, False

    def record_failure(self, key: str, kind: str) -> None:
        """A call failed with ``kind``. Outage kinds count, a refusal opens the circuit at once;
        the others prove the provider is up."""
        if kind not in OUTAGE_KINDS and kind not in REFUSED_KINDS:
            if kind != "circuit_open":
                self.record_success(key)
            return
        with self._lock:
            now = self._clock()
            circuit = self._circuits.setdefault(key, _Circuit())
            self._refresh(key, circuit, now)
            circuit.last_kind = kind
            if circuit.state == "half_open":
                circuit.trial = False
                self._open(key, circuit, now, reason="trial call failed")
            elif circuit.state == "closed":
                circuit.failures += 1
                if kind in REFUSED_KINDS:
                    self._open(key, circuit, now, reason="provider refused the key")
                elif circuit.failures >= self.failures:
                    self._open(key, circuit, now, reason="consecutive failures")
            # Open already: a call started before it opened; the cool-down is not extended.

    def release(self, key: str) -> None:
        """A call ended without a verdict (cancelled, or an unclassified error): free the trial
        slot so the next caller may try, and change nothing else."""
        with self._lock:
            circuit = self._circuits.get(key)
            if circuit is not None:
                circuit.trial = False

    def state(self, key: str) -> CircuitState:
        """The circuit's state now (an open circuit past its cool-down reads ``half_open``)."""
        with self._lock:
            circuit = self._circuits.get(key)
            if circuit is None:
                return "closed"
            self._refresh(key, circuit, self._clock())
            return circuit.state

    # -- under the lock ----------------------------------------------------------------------

    def _refresh(self, key: str, circuit: _Circuit, now: float) -> None:
        if circuit.state == "open" and now - circuit.opened_at >= self.cooldown_s:
            circuit.state, circuit.trial = "half_open", False
            log.info("circuit half-open", model=key, cooldown_s=self.cooldown_s)

    def _open(self, key: str, circuit: _Circuit, now: float, *, reason: str) -> None:
        circuit.state, circuit.opened_at = "open", now
        log.warning(
            "circuit opened",
            model=key,
            reason=reason,
            failures=circuit.failures,
            last_kind=circuit.last_kind,
            cooldown_s=self.cooldown_s,
        )

    def _open_error(self, key: str, circuit: _Circuit, now: float, provider: str) -> ProviderError:
        since = now - circuit.opened_at
        if circuit.state == "half_open":
            when = "a trial call is in flight now and decides whether it closes"
        else:
            when = f"it half-opens in {max(self.cooldown_s - since, 0):.1f} s for one trial call"
        if circuit.last_kind in REFUSED_KINDS:
            why = (
                f"the provider refused this worker's key ({circuit.last_kind}: 401/403) "
                f"{since:.1f} s ago"
            )
            fix = "fix the worker's API key or its access to the model"
        else:
            why = (
                f"{circuit.failures} consecutive failures (last: {circuit.last_kind}) opened it "
                f"{since:.1f} s ago"
            )
            fix = "tune DURAGENT_CIRCUIT_FAILURES"
        return ProviderError(
            f"circuit open for {key}: {why}; {when}. Not calling it: the next model in the "
            f"fallback chain answers (give the agent fallbacks if it has none; {fix}, and "
            "DURAGENT_CIRCUIT_COOLDOWN_S, on the worker).",
            kind="circuit_open",
            provider=provider,
        )
