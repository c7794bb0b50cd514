"""The worker-local circuit breaker: its state machine on a fake clock, and ``model.call``
failing fast through it."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from duragent import Message, ModelRef, ModelRequest, ModelResponse, ProviderError
from duragent.activities import ModelActivities
from duragent.activities._circuit import OUTAGE_KINDS, CircuitBreaker, circuit_key
from duragent.errors import ProviderErrorKind
from duragent.settings import Settings

KEY = "openai/gpt-4o-mini"
CALLER_FAULTS: list[ProviderErrorKind] = [
    "invalid_request",
    "content_filter",
    "context_length",
]


class Clock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def breaker(clock: Clock, failures: int = 3, cooldown_s: float = 10.0) -> CircuitBreaker:
    return CircuitBreaker(failures, cooldown_s, clock=clock)


def fail(b: CircuitBreaker, times: int, kind: str = "server_error", key: str = KEY) -> None:
    for _ in range(times):
        b.before_call(key)
        b.record_failure(key, kind)


@dataclasses.dataclass(frozen=True)
class CircuitStatus:
    """One circuit as a test inspects it."""

    state: str
    failures: int
    last_kind: str | None
    open_for_s: float | None
    trial_in_flight: bool


def snapshot(b: CircuitBreaker) -> dict[str, CircuitStatus]:
    """Every circuit ``b`` has seen, by key, at its clock's time. Reads the breaker's private
    state: no worker needs this view, so it lives with the tests."""
    with b._lock:
        now = b._clock()
        result = {}
        for key, circuit in b._circuits.items():
            b._refresh(key, circuit, now)
            result[key] = CircuitStatus(
                state=circuit.state,
                failures=circuit.failures,
                last_kind=circuit.last_kind,
                open_for_s=None if circuit.state == "closed" else now - circuit.opened_at,
                trial_in_flight=circuit.trial,
            )
        return result


def refused(b: CircuitBreaker, key: str = KEY) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        b.before_call(key, provider="openai")
    return caught.value


# -- the state machine -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(OUTAGE_KINDS))
def test_opens_after_n_consecutive_outage_failures(clock: Clock, kind: str) -> None:
    b = breaker(clock)
    fail(b, 2, kind)
    assert b.state(KEY) == "closed"
    b.before_call(KEY)  # still let through
    b.record_failure(KEY, kind)
    assert b.state(KEY) == "open"


def test_open_circuit_fails_fast_with_a_message_saying_what_and_until_when(clock: Clock) -> None:
    b = breaker(clock)
    fail(b, 3)
    clock.now += 4
    error = refused(b)
    assert error.kind == "circuit_open"
    assert not error.retryable
    assert error.provider == "openai"
    message = str(error)
    assert KEY in message
    assert "3 consecutive failures (last: server_error)" in message
    assert "opened it 4.0 s ago" in message
    assert "half-opens in 6.0 s" in message
    assert "fallback" in message


def test_half_open_lets_exactly_one_trial_through_and_success_closes(clock: Clock) -> None:
    b = breaker(clock)
    fail(b, 3)
    clock.now += 9.9
    assert b.state(KEY) == "open"
    refused(b)
    clock.now += 0.1
    assert b.state(KEY) == "half_open"
    b.before_call(KEY)  # the trial
    for _ in range(3):
        assert "trial call is in flight" in str(refused(b))
    b.record_success(KEY)
    assert b.state(KEY) == "closed"
    b.before_call(KEY)
    b.before_call(KEY)
    # Closed again means the count starts from zero: it takes N failures to re-open.
    fail(b, 2)
    assert b.state(KEY) == "closed"


def test_failed_trial_reopens_with_a_fresh_cooldown(clock: Clock) -> None:
    b = breaker(clock)
    fail(b, 3)
    clock.now += 10
    b.before_call(KEY)
    clock.now += 2  # the trial takes a while, then fails
    b.record_failure(KEY, "timeout")
    assert b.state(KEY) == "open"
    assert "half-opens in 10.0 s" in str(refused(b))
    clock.now += 9.9
    assert b.state(KEY) == "open"
    clock.now += 0.1
    assert b.state(KEY) == "half_open"
    b.before_call(KEY)


def test_a_success_resets_the_count(clock: Clock) -> None:
    b = breaker(clock)
    fail(b, 2)
    b.before_call(KEY)
    b.record_success(KEY)
    fail(b, 2)
    assert b.state(KEY) == "closed"
    fail(b, 1)
    assert b.state(KEY) == "open"


@pytest.mark.parametrize("kind", CALLER_FAULTS)
def test_caller_fault_kinds_never_trip_it(clock: Clock, kind: str) -> None:
    b = breaker(clock)
    fail(b, 20, kind)
    assert b.state(KEY) == "closed"
    # The provider answered, so it is up: the outage count starts again.
    fail(b, 2)
    fail(b, 1, kind)
    fail(b, 2)
    assert b.state(KEY) == "closed"


def test_a_refused_key_opens_the_circuit_at_the_first_failure(clock: Clock) -> None:
    b = breaker(clock, failures=5)
    fail(b, 1, "auth")
    assert b.state(KEY) == "open"
    clock.now += 4
    error = refused(b)
    assert error.kind == "circuit_open" and not error.retryable
    message = str(error)
    assert "refused this worker's key (auth: 401/403) 4.0 s ago" in message
    assert "half-opens in 6.0 s" in message and "fix the worker's API key" in message
    # After the cool-down one trial goes through; refused again, it re-opens at once.
    clock.now += 6
    b.before_call(KEY)
    refused(b)  # the trial is in flight: others still fail fast
    b.record_failure(KEY, "auth")
    assert b.state(KEY) == "open"
    clock.now += 10
    b.before_call(KEY)
    b.record_success(KEY)  # the key was fixed
    assert b.state(KEY) == "closed"


def test_a_refusal_after_outage_failures_opens_it_too(clock: Clock) -> None:
    b = breaker(clock, failures=5)
    fail(b, 2)
    fail(b, 1, "auth")
    assert b.state(KEY) == "open"
    assert snapshot(b)[KEY].last_kind == "auth"


def test_caller_fault_answer_to_the_trial_closes_the_circuit(clock: Clock) -> None:
    b = breaker(clock)
    fail(b, 3)
    clock.now += 10
    b.before_call(KEY)
    b.record_failure(KEY, "invalid_request")
    assert b.state(KEY) == "closed"


def test_keys_are_independent(clock: Clock) -> None:
    b = breaker(clock)
    other = "anthropic/claude-haiku-4-5"
    fail(b, 2)
    fail(b, 2, key=other)
    fail(b, 1)
    assert b.state(KEY) == "open"
    assert b.state(other) == "closed"
    b.before_call(other)
    assert circuit_key(ModelRef(provider="openai", name="m")) == "openai/m"
    assert (
        circuit_key(ModelRef(provider="openai", name="m", base_url="http://h:1/v1"))
        == "openai/m@http://h:1/v1"
    )


def test_release_frees_the_trial_slot_without_a_verdict(clock: Clock) -> None:
    b = breaker(clock)
    fail(b, 3)
    clock.now += 10
    b.before_call(KEY)
    refused(b)
    b.release(KEY)  # the trial was cancelled
    assert b.state(KEY) == "half_open"
    b.before_call(KEY)  # the next caller is the trial now


def test_snapshot_reports_every_circuit(clock: Clock) -> None:
    b = breaker(clock)
    fail(b, 3)
    fail(b, 1, "rate_limit", key="anthropic/x")
    clock.now += 2.5
    snap = snapshot(b)
    assert snap[KEY].state == "open" and snap[KEY].failures == 3
    assert snap[KEY].open_for_s == 2.5 and not snap[KEY].trial_in_flight
    assert snap["anthropic/x"].state == "closed"
    assert snap["anthropic/x"].last_kind == "rate_limit"
    assert snap["anthropic/x"].open_for_s is None


def test_one_trial_even_when_threads_race(clock: Clock) -> None:
    b = breaker(clock)
    fail(b, 3)
    clock.now += 10
    start = threading.Barrier(16)
    passed: list[int] = []

    def attempt(i: int) -> None:
        start.wait()
        try:
            b.before_call(KEY)
        except ProviderError:
            return
        passed.append(i)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(passed) == 1


def test_bad_thresholds_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CircuitBreaker(0)
    with pytest.raises(ValueError, match="negative"):
        CircuitBreaker(3, -1)


def test_settings_read_the_circuit_from_the_environment() -> None:
    assert (Settings().circuit_failures, Settings().circuit_cooldown_s) == (5, 30.0)
    env = {"DURAGENT_CIRCUIT_FAILURES": "3", "DURAGENT_CIRCUIT_COOLDOWN_S": "0.5"}
    settings = Settings.from_env(env)
    assert (settings.circuit_failures, settings.circuit_cooldown_s) == (3, 0.5)
    with pytest.raises(ValueError, match="DURAGENT_CIRCUIT_FAILURES"):
        Settings.from_env({"DURAGENT_CIRCUIT_FAILURES": "0"})
    with pytest.raises(ValueError, match="DURAGENT_CIRCUIT_COOLDOWN_S"):
        Settings.from_env({"DURAGENT_CIRCUIT_COOLDOWN_S": "soon"})


# -- the model.call activity through the breaker ---------------------------------------------


class FlakyProvider:
    """Fails with ``kind`` while ``down``; answers otherwise. Counts the calls it receives."""

    def __init__(self, kind: ProviderErrorKind = "server_error") -> None:
        self.kind: ProviderErrorKind = kind
        self.down = True
        self.calls = 0

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.calls += 1
        if self.down:
            raise ProviderError(
                f"{request.model.label} answered 500", kind=self.kind, provider="openai"
            )
        return ModelResponse(message=Message(role="assistant", content="hi"), model="openai/m")


def request_for(provider: str = "openai", base_url: str | None = None) -> ModelRequest:
    model = ModelRef(provider=provider, name="m", base_url=base_url)
    return ModelRequest(run_id="r", agent="a", turn=1, model=model)


async def call(activities: ModelActivities, request: ModelRequest) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(activities.call, request)
    return caught.value


async def test_activity_fails_fast_and_non_retryable_once_the_circuit_opens(clock: Clock) -> None:
    provider = FlakyProvider()
    activities = ModelActivities({"openai": provider}, breaker=breaker(clock))
    for _ in range(3):
        error = await call(activities, request_for())
        assert error.type == "server_error" and not error.non_retryable
    error = await call(activities, request_for())
    assert error.type == "circuit_open"
    assert error.non_retryable
    assert "openai/m" in error.message and "half-opens in" in error.message
    assert provider.calls == 3  # the open circuit did not call the provider
    # Another base_url is another circuit: still called.
    error = await call(activities, request_for(base_url="http://elsewhere/v1"))
    assert error.type == "server_error"
    assert provider.calls == 4


async def test_activity_trial_after_cooldown_closes_the_circuit(clock: Clock) -> None:
    provider = FlakyProvider("rate_limit")
    activities = ModelActivities({"openai": provider}, breaker=breaker(clock))
    for _ in range(3):
        await call(activities, request_for())
    clock.now += 10
    provider.down = False
    response = await ActivityEnvironment().run(activities.call, request_for())
    assert response.message.content == "hi"
    assert activities.breaker.state("openai/m") == "closed"
    assert provider.calls == 4


async def test_activity_unclassified_failure_releases_the_trial(clock: Clock) -> None:
    class Broken(FlakyProvider):
        async def complete(self, request: ModelRequest) -> ModelResponse:
            self.calls += 1
            raise RuntimeError("bug in a provider")

    b = breaker(clock)
    fail(b, 3, key="openai/m")
    clock.now += 10
    activities = ModelActivities({"openai": Broken()}, breaker=b)
    with pytest.raises(RuntimeError):
        await ActivityEnvironment().run(activities.call, request_for())
    assert snapshot(b)["openai/m"].trial_in_flight is False


async def test_activity_refused_key_is_called_once_then_fails_fast(clock: Clock) -> None:
    provider = FlakyProvider("auth")
    activities = ModelActivities({"openai": provider}, breaker=breaker(clock, failures=5))
    error = await call(activities, request_for())
    assert error.type == "auth" and error.non_retryable
    for _ in range(3):
        error = await call(activities, request_for())
        assert error.type == "circuit_open" and "refused this worker's key" in error.message
    assert provider.calls == 1


async def test_scripted_models_bypass_the_breaker(clock: Clock) -> None:
    provider = FlakyProvider()
    activities = ModelActivities({"scripted": provider}, breaker=breaker(clock))
    for _ in range(5):
        error = await call(activities, request_for("scripted"))
        assert error.type == "server_error"
    assert provider.calls == 5
    assert snapshot(activities.breaker) == {}


async def test_a_hang_fails_as_a_timeout_before_temporal_times_out_and_counts(
    clock: Clock,
) -> None:
    class Hangs(FlakyProvider):
        async def complete(self, request: ModelRequest) -> ModelResponse:
            self.calls += 1
            await asyncio.sleep(30)
            raise AssertionError("not reached")

    b = CircuitBreaker(1, 10, clock=clock)
    activities = ModelActivities({"openai": Hangs()}, breaker=b)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, start_to_close_timeout=timedelta(seconds=0.3))
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ApplicationError) as caught:
        await env.run(activities.call, request_for())
    # Cut at the start-to-close timeout less 10%, so the failure reaches the server first.
    assert 0.25 <= loop.time() - started < 0.3
    assert caught.value.type == "timeout" and not caught.value.non_retryable
    assert "limits.timeouts.model_s" in caught.value.message
    assert b.state("openai/m") == "open"


def test_model_activities_get_a_fresh_breaker_each() -> None:
    first, second = ModelActivities({}), ModelActivities({})
    assert first.breaker is not second.breaker
    assert (first.breaker.failures, first.breaker.cooldown_s) == (5, 30.0)
