"""OpenAIProvider through the real openai SDK, over HTTP, against mock-llm."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator
from email.utils import formatdate
from typing import Any

import openai
import pytest

from duragent import (
    Message,
    ModelRef,
    ModelRequest,
    ProviderError,
    ScriptCall,
    ScriptRule,
    ToolCall,
    ToolSchema,
)
from duragent._tokens import count_tokens
from duragent.activities.models import OpenAIProvider
from duragent.activities.models._classify import retry_after_s
from duragent.activities.models._openai import parse_arguments, to_openai_messages
from duragent.mock_llm import FaultProfile, MockConfig, MockLLM

RULES = [
    ScriptRule(
        when=r"order (\d+)",
        on="user",
        call=ScriptCall(tool="lookup_order", arguments={"order_id": "{1}"}),
    ),
    ScriptRule(on="tool", tool="lookup_order", say="Order {result.id} is {result.status}."),
    ScriptRule(when="human", handoff="billing"),
    ScriptRule(say="Hello from the mock, you said: {input}"),
]
LOOKUP = ToolSchema(
    name="lookup_order",
    description="Find an order",
    parameters={"type": "object", "properties": {"order_id": {"type": "string"}}},
)


@pytest.fixture(scope="module")
def mock() -> Iterator[MockLLM]:
    config = MockConfig(
        rules=RULES, latency_ms=50, per_token_ms=5, faults=FaultProfile(retry_after_s=1.5)
    )
    with MockLLM(config) as server:
        yield server


@pytest.fixture
async def provider(mock: MockLLM) -> AsyncIterator[OpenAIProvider]:
    provider = OpenAIProvider(base_url=mock.openai_base_url, timeout_s=5)
    yield provider
    await provider.aclose()


def make_request(
    text: str = "hi there",
    *,
    messages: list[Message] | None = None,
    params: dict[str, Any] | None = None,
    instructions: str = "You are a test agent.",
    base_url: str | None = None,
) -> ModelRequest:
    return ModelRequest(
        run_id="run-1",
        agent="support",
        turn=1,
        model=ModelRef(provider="openai", name="gpt-test", params=params or {}, base_url=base_url),
        instructions=instructions,
        tools=[LOOKUP],
        messages=messages or [Message(role="user", content=text)],
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_text_answer_has_usage_and_streaming_timings(provider: OpenAIProvider) -> None:
    response = await provider.complete(make_request("hi there"))

    assert response.message.content == "Hello from the mock, you said: hi there"
    assert response.message.name == "support"
    assert response.model == "openai/gpt-test"
    assert response.finish_reason == "stop"
    assert response.usage.output_tokens == count_tokens(response.message.content)
    assert response.usage.input_tokens > response.usage.output_tokens
    # 50 ms to the first token, then 7 more words 5 ms apart.
    # The server cannot send the first word before 50 ms nor the last before 85 ms; how the
    # chunks arrive between those is up to the network (a busy machine batches them).
    assert response.ttft_ms >= 50
    assert response.total_ms >= 85 and response.total_ms > response.ttft_ms


async def test_tool_call_round_trip(provider: OpenAIProvider) -> None:
    first = await provider.complete(make_request("where is order 42?"))

    assert first.finish_reason == "tool_calls"
    assert first.message.tool_calls == [
        ToolCall(id="call_1_0", name="lookup_order", arguments={"order_id": "42"})
    ]
    result = Message(
        role="tool",
        content='{"id": "42", "status": "shipped"}',
        tool_call_id="call_1_0",
        name="lookup_order",
    )
    conversation = [Message(role="user", content="where is order 42?"), first.message, result]
    second = await provider.complete(make_request(messages=conversation))

    assert second.message.content == "Order 42 is shipped."
    assert second.message.tool_calls == []


async def test_handoff_arrives_as_a_transfer_tool_call(provider: OpenAIProvider) -> None:
    response = await provider.complete(make_request("I want a human"))

    assert [c.name for c in response.message.tool_calls] == ["transfer_to_billing"]
    assert response.message.tool_calls[0].arguments == {}


async def test_repeated_instructions_report_cached_tokens(provider: OpenAIProvider) -> None:
    instructions = "You answer questions about the cached-tokens test, politely."
    first = await provider.complete(make_request(instructions=instructions))
    second = await provider.complete(make_request(instructions=instructions))

    assert first.usage.cached_tokens == 0
    assert second.usage.cached_tokens == count_tokens(instructions)


async def test_model_base_url_overrides_the_provider_default(mock: MockLLM) -> None:
    provider = OpenAIProvider(base_url=f"http://127.0.0.1:{closed_port()}/v1", timeout_s=5)
    try:
        response = await provider.complete(make_request(base_url=mock.openai_base_url))
    finally:
        await provider.aclose()
    assert response.message.content.startswith("Hello from the mock")


@pytest.mark.parametrize(
    ("fault", "kind", "status"),
    [
        ("429", "rate_limit", 429),
        ("500", "server_error", 500),
        ("529", "server_error", 529),
        ("401", "auth", 401),
        ("400", "invalid_request", 400),
        ("context_length", "context_length", 400),
    ],
)
async def test_http_faults_are_classified(
    provider: OpenAIProvider, fault: str, kind: str, status: int
) -> None:
    # ModelRef.params are sent as body fields; mock-llm reads `mock_fault` from the body.
    with pytest.raises(ProviderError) as caught:
        await provider.complete(make_request(params={"mock_fault": fault, "temperature": 0.2}))

    error = caught.value
    assert (error.kind, error.status_code, error.provider) == (kind, status, "openai")
    assert error.retryable is (kind in ("rate_limit", "server_error"))


async def test_rate_limit_carries_retry_after(provider: OpenAIProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.complete(make_request(params={"mock_fault": "429"}))
    assert caught.value.retry_after_s == 1.5
    assert "after 1.5 s" in str(caught.value)


async def test_auth_error_says_which_key_to_check(provider: OpenAIProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.complete(make_request(params={"mock_fault": "401"}))
    assert "check OPENAI_API_KEY" in str(caught.value)


async def test_content_filter_finish_is_an_error(provider: OpenAIProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.complete(make_request(params={"mock_fault": "content_filter"}))
    assert caught.value.kind == "content_filter"
    assert not caught.value.retryable


async def test_hang_times_out_at_the_client_timeout(mock: MockLLM) -> None:
    provider = OpenAIProvider(base_url=mock.openai_base_url, timeout_s=0.3)
    started = time.perf_counter()
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.complete(make_request(params={"mock_fault": "hang"}))
    finally:
        await provider.aclose()
    assert caught.value.kind == "timeout"
    assert caught.value.retryable
    assert 0.3 <= time.perf_counter() - started < 2


async def test_unreachable_server_is_a_connection_error() -> None:
    provider = OpenAIProvider(base_url=f"http://127.0.0.1:{closed_port()}/v1", timeout_s=2)
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.complete(make_request())
    finally:
        await provider.aclose()
    assert caught.value.kind == "connection"
    assert caught.value.retryable


async def test_missing_key_without_base_url_is_an_auth_error() -> None:
    provider = OpenAIProvider()  # the test guard removes OPENAI_API_KEY from the environment
    with pytest.raises(ProviderError) as caught:
        await provider.complete(make_request())
    assert caught.value.kind == "auth"
    assert "OPENAI_API_KEY is not set on the worker" in str(caught.value)


async def test_non_streaming_endpoint_answers_with_tool_calls_and_usage(mock: MockLLM) -> None:
    async with openai.AsyncOpenAI(
        base_url=mock.openai_base_url, api_key="unused", max_retries=0
    ) as client:
        completion = await client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "where is order 7?"}]
        )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert (call.function.name, parse_arguments(call.function.arguments)) == (
        "lookup_order",
        {"order_id": "7"},
    )
    assert completion.usage is not None and completion.usage.completion_tokens > 0


def test_conversation_maps_to_chat_completions_messages() -> None:
    call = ToolCall(id="call_1_0", name="lookup_order", arguments={"order_id": "42"})
    request = make_request(
        messages=[
            Message(role="user", content="where is order 42?"),
            Message(role="assistant", tool_calls=[call]),
            Message(role="tool", content='{"status": "shipped"}', tool_call_id="call_1_0"),
        ]
    )

    wire = to_openai_messages(request)

    assert [m["role"] for m in wire] == ["system", "user", "assistant", "tool"]
    assert wire[0]["content"] == "You are a test agent."
    assert wire[2]["tool_calls"][0]["function"] == {
        "name": "lookup_order",
        "arguments": '{"order_id": "42"}',
    }
    assert wire[3] == {
        "role": "tool",
        "tool_call_id": "call_1_0",
        "content": '{"status": "shipped"}',
    }


def test_invalid_argument_json_is_kept_raw_instead_of_crashing() -> None:
    assert parse_arguments('{"order_id": "4') == {"_raw": '{"order_id": "4'}
    assert parse_arguments("[1, 2]") == {"_raw": "[1, 2]"}
    assert parse_arguments("") == {}


def test_retry_after_prefers_milliseconds_and_reads_http_dates() -> None:
    soon = formatdate(time.time() + 30, usegmt=True)

    assert retry_after_s({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_s({"Retry-After": "2"}) == 2
    assert 28 <= (retry_after_s({"retry-after": soon}) or 0) <= 30
    assert retry_after_s({"retry-after": "86400"}) is None, "beyond an hour: let backoff decide"
    assert retry_after_s({"retry-after": "soon"}) is None
