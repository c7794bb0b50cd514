"""AnthropicProvider through the real anthropic SDK, over HTTP, against mock-llm."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
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
from duragent.activities.models import AnthropicProvider
from duragent.activities.models._anthropic import to_anthropic_messages
from duragent.mock_llm import FaultProfile, MockConfig, MockLLM

# Not a model the SDK deprecates: it warns about those, and warnings fail the tests.
MODEL = "claude-haiku-4-5"
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
        rules=RULES, latency_ms=50, per_token_ms=5, faults=FaultProfile(retry_after_s=2)
    )
    with MockLLM(config) as server:
        yield server


@pytest.fixture
async def provider(mock: MockLLM) -> AsyncIterator[AnthropicProvider]:
    provider = AnthropicProvider(base_url=mock.anthropic_base_url, timeout_s=5)
    yield provider
    await provider.aclose()


def make_request(
    text: str = "hi there",
    *,
    messages: list[Message] | None = None,
    params: dict[str, Any] | None = None,
    instructions: str = "You are a test agent.",
) -> ModelRequest:
    return ModelRequest(
        run_id="run-1",
        agent="support",
        turn=1,
        model=ModelRef(provider="anthropic", name=MODEL, params=params or {}),
        instructions=instructions,
        tools=[LOOKUP],
        messages=messages or [Message(role="user", content=text)],
    )


async def test_text_answer_has_usage_and_streaming_timings(provider: AnthropicProvider) -> None:
    response = await provider.complete(make_request("hi there"))

    assert response.message.content == "Hello from the mock, you said: hi there"
    assert response.model == f"anthropic/{MODEL}"
    assert response.finish_reason == "stop"
    assert response.usage.output_tokens == count_tokens(response.message.content)
    assert response.usage.input_tokens > response.usage.output_tokens
    # The server cannot send the first word before 50 ms nor the last before 85 ms; how the
    # chunks arrive between those is up to the network (a busy machine batches them).
    assert response.ttft_ms >= 50
    assert response.total_ms >= 85 and response.total_ms > response.ttft_ms


async def test_tool_use_round_trip(provider: AnthropicProvider) -> None:
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


async def test_handoff_arrives_as_a_transfer_tool_call(provider: AnthropicProvider) -> None:
    response = await provider.complete(make_request("I want a human"))

    assert [c.name for c in response.message.tool_calls] == ["transfer_to_billing"]


async def test_cache_reads_count_as_cached_input(provider: AnthropicProvider) -> None:
    instructions = "You answer questions about the anthropic cache test, politely."
    first = await provider.complete(make_request(instructions=instructions))
    second = await provider.complete(make_request(instructions=instructions))

    assert first.usage.cached_tokens == 0
    assert second.usage.cached_tokens == count_tokens(instructions)
    # duragent's input count includes cached tokens, as the pricing table expects.
    assert second.usage.input_tokens == first.usage.input_tokens


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
    provider: AnthropicProvider, fault: str, kind: str, status: int
) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.complete(make_request(params={"mock_fault": fault}))

    error = caught.value
    assert (error.kind, error.status_code, error.provider) == (kind, status, "anthropic")
    assert error.retryable is (kind in ("rate_limit", "server_error"))


async def test_rate_limit_carries_retry_after(provider: AnthropicProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.complete(make_request(params={"mock_fault": "429"}))
    assert caught.value.retry_after_s == 2


async def test_refusal_is_a_content_filter_error(provider: AnthropicProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.complete(make_request(params={"mock_fault": "content_filter"}))
    assert caught.value.kind == "content_filter"


async def test_hang_times_out_at_the_client_timeout(mock: MockLLM) -> None:
    provider = AnthropicProvider(base_url=mock.anthropic_base_url, timeout_s=0.3)
    started = time.perf_counter()
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.complete(make_request(params={"mock_fault": "hang"}))
    finally:
        await provider.aclose()
    assert caught.value.kind == "timeout"
    assert 0.3 <= time.perf_counter() - started < 2


async def test_slow_first_token_past_the_timeout_is_a_timeout(mock: MockLLM) -> None:
    # Headers arrive at once; the stream then stalls: the SDK lets that timeout through raw.
    provider = AnthropicProvider(base_url=mock.anthropic_base_url, timeout_s=0.3)
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.complete(make_request(params={"mock_fault": "slow"}))
    finally:
        await provider.aclose()
    assert caught.value.kind == "timeout"


async def test_missing_key_without_base_url_is_an_auth_error() -> None:
    with pytest.raises(ProviderError) as caught:
        await AnthropicProvider().complete(make_request())
    assert caught.value.kind == "auth"
    assert "ANTHROPIC_API_KEY is not set on the worker" in str(caught.value)


async def test_non_streaming_endpoint_answers_with_tool_use(mock: MockLLM) -> None:
    async with anthropic.AsyncAnthropic(
        base_url=mock.anthropic_base_url, api_key="unused", max_retries=0
    ) as client:
        message = await client.messages.create(
            model=MODEL,
            max_tokens=100,
            messages=[{"role": "user", "content": "where is order 7?"}],
        )
    assert message.stop_reason == "tool_use"
    tool_use = message.content[0]
    assert tool_use.type == "tool_use"
    assert (tool_use.name, tool_use.input) == ("lookup_order", {"order_id": "7"})
    assert message.usage.output_tokens > 0


def test_tool_results_merge_into_one_user_message() -> None:
    calls = [
        ToolCall(id="a", name="lookup_order", arguments={"order_id": "1"}),
        ToolCall(id="b", name="lookup_order", arguments={"order_id": "2"}),
    ]
    request = make_request(
        messages=[
            Message(role="user", content="orders 1 and 2?"),
            Message(role="assistant", content="Looking.", tool_calls=calls),
            Message(role="tool", content='{"status": "shipped"}', tool_call_id="a"),
            Message(role="tool", content='{"status": "lost"}', tool_call_id="b"),
            Message(role="user", content="and?"),
        ]
    )

    system, wire = to_anthropic_messages(request)

    assert system == "You are a test agent."
    assert [m["role"] for m in wire] == ["user", "assistant", "user"]
    assert [b["type"] for b in wire[1]["content"]] == ["text", "tool_use", "tool_use"]
    assert wire[1]["content"][1]["input"] == {"order_id": "1"}
    assert wire[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "a", "content": '{"status": "shipped"}'},
        {"type": "tool_result", "tool_use_id": "b", "content": '{"status": "lost"}'},
        {"type": "text", "text": "and?"},
    ]
