"""mock-llm: wire formats of both APIs, faults, statistics, configuration, lifecycle."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from duragent import Message, ModelRef, ModelRequest, ProviderError, ScriptCall, ScriptRule
from duragent.activities.models import OpenAIProvider
from duragent.errors import SpecError
from duragent.mock_llm import FAULT_HEADER, FaultProfile, MockConfig, MockLLM

TOOL_RULE = ScriptRule(
    when=r"order (\d+)", call=ScriptCall(tool="lookup_order", arguments={"order_id": "{1}"})
)
ANSWER_RULE = ScriptRule(say="Fine, thanks for asking.")


def request(params: dict[str, str] | None = None) -> ModelRequest:
    return ModelRequest(
        run_id="run-1",
        agent="support",
        turn=1,
        model=ModelRef(provider="openai", name="gpt-test", params=params or {}),
        messages=[Message(role="user", content="how are you?")],
    )


def test_each_server_gets_its_own_port_and_leaves_nothing_running() -> None:
    with MockLLM() as first, MockLLM() as second:
        assert first.port != second.port
        assert first.openai_base_url == f"http://127.0.0.1:{first.port}/v1"
        assert first.anthropic_base_url == first.url
        assert httpx.get(f"{first.url}/health").json() == {"status": "ok"}
        port = first.port

    assert not [t for t in threading.enumerate() if t.name == "duragent-mock-llm"]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
    with pytest.raises(RuntimeError, match="not running"):
        _ = first.url


async def test_async_context_manager_and_default_rules() -> None:
    async with (
        MockLLM() as mock,
        openai.AsyncOpenAI(base_url=mock.openai_base_url, api_key="x", max_retries=0) as client,
    ):
        completion = await client.chat.completions.create(
            model="anything", messages=[{"role": "user", "content": "ping"}]
        )
    assert completion.choices[0].message.content == "Mock answer to: ping"
    assert completion.model == "anything"


async def test_openai_stream_assembles_tool_call_deltas_and_ends_with_usage() -> None:
    async with (
        MockLLM(MockConfig(rules=[TOOL_RULE])) as mock,
        openai.AsyncOpenAI(base_url=mock.openai_base_url, api_key="x", max_retries=0) as client,
    ):
        messages: list[ChatCompletionMessageParam] = [
            {"role": "user", "content": "where is order 42?"}
        ]
        stream = await client.chat.completions.create(
            model="gpt-test",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        plain = await client.chat.completions.create(
            model="gpt-test",
            messages=messages,
            stream=True,
        )
        plain_chunks = [chunk async for chunk in plain]

    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert deltas[0].role == "assistant"
    parts = [t for d in deltas for t in d.tool_calls or []]
    assert parts[0].id == "call_1_0" and parts[0].function is not None
    assert parts[0].function.name == "lookup_order"
    assert len(parts) > 2, "arguments should arrive in several pieces"
    arguments = "".join(p.function.arguments or "" for p in parts if p.function)
    assert json.loads(arguments) == {"order_id": "42"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    assert all(c.usage is None for c in plain_chunks), "usage only when include_usage is set"


async def test_anthropic_stream_follows_the_messages_event_sequence() -> None:
    async with (
        MockLLM(MockConfig(rules=[TOOL_RULE])) as mock,
        anthropic.AsyncAnthropic(
            base_url=mock.anthropic_base_url, api_key="x", max_retries=0
        ) as client,
    ):
        stream = await client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=100,
            messages=[{"role": "user", "content": "where is order 42?"}],
            stream=True,
        )
        events = [event async for event in stream]

    types = [e.type for e in events]
    assert types[:2] == ["message_start", "content_block_start"]
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(types[2:-3]) == {"content_block_delta"}
    start = events[1]
    assert start.type == "content_block_start" and start.content_block.type == "tool_use"
    partial = "".join(
        e.delta.partial_json
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    )
    assert json.loads(partial) == {"order_id": "42"}
    final = events[-2]
    assert final.type == "message_delta" and final.delta.stop_reason == "tool_use"


@pytest.mark.parametrize(
    ("path", "error_type"),
    [("/v1/chat/completions", "requests"), ("/v1/messages", "rate_limit_error")],
)
def test_forced_429_has_retry_after_and_the_api_error_format(path: str, error_type: str) -> None:
    config = MockConfig(faults=FaultProfile(retry_after_s=1.5))
    body = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    with MockLLM(config) as mock:
        response = httpx.post(f"{mock.url}{path}", json=body, headers={FAULT_HEADER: "429"})
        stats = mock.stats()

    assert response.status_code == 429
    assert (response.headers["retry-after"], response.headers["retry-after-ms"]) == ("1.5", "1500")
    assert response.json()["error"]["type"] == error_type
    assert stats["faults"] == {"rate_limit": 1}


def test_unknown_fault_header_is_rejected_with_the_valid_values() -> None:
    with MockLLM() as mock:
        response = httpx.post(
            f"{mock.url}/v1/chat/completions",
            json={"model": "m", "messages": []},
            headers={FAULT_HEADER: "teapot"},
        )
    assert response.status_code == 400
    assert "429" in response.json()["error"]["message"]


async def test_seeded_fault_rate_is_reproducible_and_counted() -> None:
    config = MockConfig(rules=[ANSWER_RULE], faults=FaultProfile(rate_limit=0.3, seed=11))
    async with MockLLM(config) as mock:
        provider = OpenAIProvider(base_url=mock.openai_base_url, timeout_s=5)

        async def outcomes() -> list[str]:
            seen = []
            for _ in range(100):
                try:
                    await provider.complete(request())
                    seen.append("ok")
                except ProviderError as error:
                    seen.append(error.kind)
            return seen

        try:
            first = await outcomes()
            stats = mock.stats()
            async with httpx.AsyncClient(base_url=mock.url) as http:
                over_http = (await http.get("/stats")).json()
                assert (await http.post("/reset")).json()["requests"] == 0
            second = await outcomes()
        finally:
            await provider.aclose()

    limited = Counter(first)["rate_limit"]
    assert 20 <= limited <= 40
    assert Counter(first) == {"ok": 100 - limited, "rate_limit": limited}
    assert stats["requests"] == 100 and stats["faults"] == {"rate_limit": limited}
    assert over_http == stats
    assert second == first, "the same seed after a reset gives the same faults in order"


async def test_slow_first_token_fault_delays_only_that_request() -> None:
    config = MockConfig(faults=FaultProfile(slow_first_token_ms=150))
    async with MockLLM(config) as mock:
        provider = OpenAIProvider(base_url=mock.openai_base_url, timeout_s=5)
        try:
            slow = await provider.complete(request({"mock_fault": "slow"}))
            normal = await provider.complete(request())
        finally:
            await provider.aclose()
    assert slow.ttft_ms >= 150
    assert normal.ttft_ms < 150


async def test_shutdown_ends_a_hanging_request_promptly() -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        async with MockLLM() as mock:
            pending = asyncio.create_task(
                client.post(
                    f"{mock.openai_base_url}/chat/completions",
                    json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                    headers={FAULT_HEADER: "hang"},
                )
            )
            await asyncio.sleep(0.2)
            assert not pending.done()
            started = time.perf_counter()
        response = await pending
    assert time.perf_counter() - started < 3
    assert response.status_code == 504


def test_models_endpoint_speaks_both_dialects() -> None:
    with MockLLM(MockConfig(models=["mock-a", "mock-b"])) as mock:
        with openai.OpenAI(base_url=mock.openai_base_url, api_key="x", max_retries=0) as oa:
            openai_ids = [m.id for m in oa.models.list()]
        with anthropic.Anthropic(base_url=mock.anthropic_base_url, api_key="x") as an:
            anthropic_ids = [m.id for m in an.models.list()]
    assert openai_ids == anthropic_ids == ["mock-a", "mock-b"]


def test_config_loads_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "mock.yaml"
    path.write_text(
        "rules:\n"
        "  - when: refund\n"
        "    say: Refunds take 5 days.\n"
        "latency_ms: 120\n"
        "per_token_ms: 3\n"
        "faults: {rate_limit: 0.1, timeout: 0.05, retry_after_s: 2, seed: 3}\n"
    )

    config = MockConfig.from_yaml(path)

    assert config.rules[0].say == "Refunds take 5 days."
    assert (config.latency_ms, config.per_token_ms) == (120, 3)
    assert config.faults.hang == 0.05, "`timeout` is accepted for the hang rate"
    assert (config.faults.rate_limit, config.faults.retry_after_s, config.faults.seed) == (
        0.1,
        2,
        3,
    )


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("faults: {rate_limit: 0.8, server_error: 0.5}\n", "faults"),
        ("latency_ms: -5\n", "latency_ms"),
        ("rules:\n  - when: x\n", "rules.0"),
        ("latency: 5\n", "latency"),
    ],
)
def test_bad_yaml_config_names_the_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        MockConfig.from_yaml(path)
    assert caught.value.file == str(path)
    assert caught.value.field == field
