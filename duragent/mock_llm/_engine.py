"""The API-neutral core of the mock: pick a fault, answer from the rules, count everything.

The server runs on its own thread (``MockLLM``) while tests read ``stats()`` from theirs, so
every piece of shared state is behind one lock.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from duragent._messages import Message
from duragent._scripted import answer as scripted_answer
from duragent._tokens import count_tokens
from duragent.mock_llm._config import FAULT_HEADER, FAULT_HEADER_VALUES, FaultKind, MockConfig

Finish = Literal["stop", "tool_calls", "content_filter"]

FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)

ERROR_FAULTS: dict[FaultKind, tuple[int, str]] = {
    "rate_limit": (429, "Rate limit reached for requests (injected by duragent mock-llm)."),
    "server_error": (500, "The server had an error while processing your request (injected)."),
    "overloaded": (529, "Overloaded (injected by duragent mock-llm)."),
    "auth": (401, "Incorrect API key provided (injected by duragent mock-llm)."),
    "invalid_request": (400, "Invalid request (injected by duragent mock-llm)."),
    "context_length": (400, "The conversation is too long (worded by each API)."),
}
"""Faults answered with an HTTP error: status and message (each API wraps it in its format)."""

_PROMPT_CACHE_LIMIT = 10_000


@dataclass(frozen=True)
class Answer:
    """What the mock says, before it is put in one API's format."""

    message: Message
    input_tokens: int
    """All input tokens, cached ones included (OpenAI's ``prompt_tokens``)."""
    output_tokens: int
    cached_tokens: int
    finish: Finish
    logprob: float | None = None
    """Per-token log-probability to report, when the request asked for logprobs: ln of the
    rule's confidence (so exp(mean logprob) gives it back), else ln(0.9)."""


class Engine:
    """Shared state of one mock server: config, fault RNG, statistics, simulated prompt cache."""

    def __init__(self, config: MockConfig) -> None:
        self.config = config
        self.closing = threading.Event()
        """Set when the server shuts down: hanging requests end at once."""
        self._lock = threading.Lock()
        self._rng = random.Random(config.faults.seed)
        self._prompts: set[str] = set()
        self._requests: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._tokens: Counter[str] = Counter()

    def pick_fault(self, header: str | None) -> FaultKind | None:
        """The fault for this request: forced by the ``x-mock-fault`` header, else drawn.

        Raises ``ValueError`` for an unknown header value. Exactly one number is drawn per
        request without a header, so a seeded run's fault count does not depend on ordering.
        """
        if header:
            value = header.strip().lower()
            kinds: dict[str, FaultKind] = {**FAULT_HEADER_VALUES, **{k: k for k in FAULT_KINDS}}
            if value not in kinds:
                raise ValueError(
                    f"unknown {FAULT_HEADER} value {header!r}; use one of "
                    f"{', '.join(sorted(FAULT_HEADER_VALUES))}"
                )
            return kinds[value]
        faults = self.config.faults
        with self._lock:
            draw = self._rng.random()
        rates: tuple[tuple[FaultKind, float], ...] = (
            ("rate_limit", faults.rate_limit),
            ("server_error", faults.server_error),
            ("hang", faults.hang),
            ("slow_first_token", faults.slow_first_token),
        )
        for kind, rate in rates:
            if draw < rate:
                return kind
            draw -= rate
        return None

    def answer(
        self, messages: Sequence[Message], *, filtered: bool = False, logprobs: bool = False
    ) -> Answer:
        """The scripted answer to a conversation, with usage counted by the simple tokenizer.

        Prompt caching is simulated: the system prompt's tokens count as cached when the same
        system prompt was seen before, as a provider's prompt cache would report them.
        """
        system = "\n".join(m.content for m in messages if m.role == "system")
        turn = 1 + sum(1 for m in messages if m.role == "assistant")
        finish: Finish
        confidence: float | None = None
        if filtered:
            message, finish = Message(role="assistant"), "content_filter"
        else:
            scripted = scripted_answer(self.config.effective_rules, messages, turn=turn)
            message, confidence = scripted.message, scripted.confidence
            finish = "tool_calls" if message.tool_calls else "stop"
        input_tokens = sum(_message_tokens(m) + 4 for m in messages)
        output_tokens = max(_message_tokens(message), 1)
        key = hashlib.sha256(system.encode()).hexdigest()
        with self._lock:
            cached = count_tokens(system) if system and key in self._prompts else 0
            if len(self._prompts) >= _PROMPT_CACHE_LIMIT:
                self._prompts.clear()
            self._prompts.add(key)
            self._tokens["input"] += input_tokens
            self._tokens["output"] += output_tokens
        logprob = (
            math.log(max(confidence if confidence is not None else 0.9, 1e-6)) if logprobs else None
        )
        return Answer(message, input_tokens, output_tokens, cached, finish, logprob)

    def record(self, api: str, *, stream: bool, fault: FaultKind | None) -> None:
        """Count one request."""
        with self._lock:
            self._requests["total"] += 1
            self._requests[api] += 1
            if stream:
                self._requests["streamed"] += 1
            if fault is not None:
                self._faults[fault] += 1

    def stats(self) -> dict[str, Any]:
        """Counts since start (or the last reset), as ``GET /stats`` returns them."""
        with self._lock:
            return {
                "requests": self._requests["total"],
                "by_api": {api: self._requests[api] for api in ("openai", "anthropic")},
                "streamed": self._requests["streamed"],
                "faults": dict(sorted(self._faults.items())),
                "faults_total": sum(self._faults.values()),
                "input_tokens": self._tokens["input"],
                "output_tokens": self._tokens["output"],
            }

    def reset(self) -> None:
        """Zero the statistics, forget the prompt cache and restart the seeded fault sequence."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()
            self._tokens.clear()
            self._prompts.clear()
            self._rng = random.Random(self.config.faults.seed)


def _message_tokens(message: Message) -> int:
    total = count_tokens(message.content)
    for call in message.tool_calls:
        total += count_tokens(call.name) + count_tokens(json.dumps(call.arguments))
    return total


def parse_arguments(text: str | None) -> dict[str, Any]:
    """Tool-call arguments sent as JSON text; kept as ``_raw`` when they are not an object."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"_raw": text}
    return value if isinstance(value, dict) else {"_raw": text}


def tool_names(messages: Sequence[Message]) -> dict[str, str]:
    """Tool-call id to tool name, so a tool result can be named (script rules match on it)."""
    return {call.id: call.name for m in messages for call in m.tool_calls}


def text_pieces(text: str) -> list[str]:
    """The text as streamed tokens: each word with the whitespace after it."""
    return re.findall(r"\S+\s*|\s+", text)


def json_pieces(value: dict[str, Any], parts: int = 3) -> list[str]:
    """A JSON object's text in a few pieces, so clients must assemble streamed arguments."""
    text = json.dumps(value)
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]
