"""What the mock answers and how it misbehaves: ``MockConfig`` and ``FaultProfile``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, model_validator

from duragent._loader import describe_yaml_error, load_yaml
from duragent._spec import ScriptRule
from duragent.errors import SpecError

FaultKind = Literal[
    "rate_limit",
    "server_error",
    "overloaded",
    "hang",
    "slow_first_token",
    "auth",
    "invalid_request",
    "context_length",
    "content_filter",
]
"""Every fault the mock can inject. Random ones come from ``FaultProfile`` rates; any one can be
forced per request with the ``x-mock-fault`` header."""

FAULT_HEADER = "x-mock-fault"
FAULT_FIELD = "mock_fault"
"""The same as the header, as a request-body field: ``ModelRef(params={"mock_fault": "429"})``
forces a fault from an agent spec, since model params are sent as body fields."""
FAULT_HEADER_VALUES: dict[str, FaultKind] = {
    "429": "rate_limit",
    "500": "server_error",
    "529": "overloaded",
    "hang": "hang",
    "slow": "slow_first_token",
    "401": "auth",
    "400": "invalid_request",
    "context_length": "context_length",
    "content_filter": "content_filter",
}
"""Values of the ``x-mock-fault`` header (the kind names themselves are accepted too)."""

DEFAULT_RULES = (
    ScriptRule(on="tool", say="The tool returned: {0}", when=r"(?s).+"),
    ScriptRule(say="Mock answer to: {input}"),
)
"""Used when a config has no rules: a tool result is acknowledged, anything else echoed."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class FaultProfile(_Frozen):
    """Random faults, each a probability per request (their sum at most 1).

    With a ``seed`` the sequence of faults is reproducible: each request draws exactly one
    number, so N requests see the same faults in total whatever their concurrency.
    """

    rate_limit: float = Field(default=0.0, ge=0, le=1)
    """429 with a ``Retry-After`` header of ``retry_after_s``."""
    server_error: float = Field(default=0.0, ge=0, le=1)
    """500 in the API's error format."""
    hang: float = Field(default=0.0, ge=0, le=1, validation_alias=AliasChoices("hang", "timeout"))
    """No answer for ``hang_s`` (the client times out first); ``timeout`` in YAML also works."""
    slow_first_token: float = Field(default=0.0, ge=0, le=1)
    """The first token comes ``slow_first_token_ms`` later than usual."""
    slow_first_token_ms: float = Field(default=2000.0, ge=0)
    retry_after_s: float = Field(default=1.0, ge=0)
    hang_s: float = Field(default=300.0, gt=0, le=3600)
    """Bounded, so a forgotten client cannot pin a server task forever; shutdown ends it early."""
    seed: int | None = None

    @model_validator(mode="after")
    def _at_most_one(self) -> FaultProfile:
        total = self.rate_limit + self.server_error + self.hang + self.slow_first_token
        if total > 1 + 1e-9:
            raise ValueError(
                f"fault rates add up to {total:g}; each request gets at most one fault, so "
                "rate_limit + server_error + hang + slow_first_token must be at most 1"
            )
        return self


class MockConfig(_Frozen):
    """How ``duragent mock-llm`` answers: scripted rules, latency and faults.

    ``rules`` are ``ScriptRule``s, as in an agent's ``script`` (handoff rules answer with a
    ``transfer_to_<agent>`` tool call). ``latency_ms`` is the time to the first token and
    ``per_token_ms`` the time between streamed tokens (also added to non-streamed answers).
    """

    rules: list[ScriptRule] = Field(default_factory=list)
    latency_ms: float = Field(default=0.0, ge=0)
    per_token_ms: float = Field(default=0.0, ge=0)
    faults: FaultProfile = Field(default_factory=FaultProfile)
    models: list[str] = Field(default_factory=lambda: ["mock"])
    """Model ids ``GET /v1/models`` lists; any model name is answered regardless."""

    @property
    def effective_rules(self) -> list[ScriptRule]:
        return list(self.rules) or list(DEFAULT_RULES)

    @classmethod
    def from_yaml(cls, path: str | Path) -> MockConfig:
        """Load a config file with the keys ``rules``, ``latency_ms``, ``per_token_ms``,
        ``faults`` (and ``models``). Raises ``SpecError`` naming the file and the field."""
        file = Path(path)
        try:
            # Strict YAML, with 1.2 booleans: a script rule's `on: user` stays a string.
            data = load_yaml(file.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise SpecError(f"cannot read the mock-llm config: {exc}", file=str(path)) from None
        except yaml.YAMLError as exc:
            raise SpecError(f"not valid YAML: {describe_yaml_error(exc)}", file=str(path)) from None
        if not isinstance(data, dict):
            raise SpecError(
                "a mock-llm config is a mapping with keys rules, latency_ms, per_token_ms, faults",
                file=str(path),
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"])
            raise SpecError(first["msg"], file=str(path), field=field or None) from None
