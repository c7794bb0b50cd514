"""Agent specs: what an agent is (model, instructions, tools, handoffs, limits, script).

Specs are frozen pydantic models. They are resolved once at the start of a run and recorded
in the workflow history with their hashes, so the exact spec a run used is auditable. This
module does no I/O except reading an instructions file while a spec is being *built*
(``instructions=Path(...)`` or ``{file: ...}`` in YAML); a built spec carries the text and its
sha256, so workflows never touch the file system.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from duragent._guardrails import Rule, validate_policy
from duragent._sandbox import SandboxPolicy
from duragent._vocab import PROVIDERS, ProviderName
from duragent._wire import Wire

_NAME = r"^[a-z][a-z0-9_-]{0,62}$"


class _Frozen(Wire):
    """Unknown fields: dropped off the wire, refused in Python (``duragent._wire``)."""


class ModelRef(_Frozen):
    """Which model answers: ``provider/name`` plus provider parameters.

    In YAML and in ``Agent(model=...)`` the string ``"openai/gpt-5.5"`` is accepted.
    """

    provider: ProviderName
    name: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    """Passed to the provider: temperature, max_tokens, ..."""
    base_url: str | None = None
    """For ``openai``: any OpenAI-compatible server. For ``anthropic``: a proxy or mock."""
    execution: Literal["activity", "local"] = "activity"
    """``activity`` (visible in the UI, own retry policy) or ``local`` (no server round trip)."""

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            provider, sep, name = value.partition("/")
            if not sep or not name:
                raise ValueError(
                    f"model {value!r} must be written 'provider/name', "
                    f"e.g. 'openai/gpt-5.5' (providers: {', '.join(PROVIDERS)})"
                )
            return {"provider": provider, "name": name}
        return value

    @field_validator("base_url")
    @classmethod
    def _no_credentials(cls, url: str | None) -> str | None:
        # A spec is recorded in history (spec resolution, every model call's input): a
        # password in it would be there in plain text for anyone who reads the run.
        if url and "@" in url.split("://", 1)[-1].split("/", 1)[0]:
            raise ValueError(
                "base_url holds credentials (user:password@); a spec is recorded in every "
                "run's history, so keep secrets out of it: set the key in the worker's "
                "environment (OPENAI_API_KEY / ANTHROPIC_API_KEY) instead"
            )
        return url

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.name}"

    @property
    def key(self) -> str:
        """Which endpoint answers: ``provider/name``, plus ``@base_url`` when the model names its
        own server. What a worker's circuit and a run's cooling period remember a failure by."""
        return f"{self.label}@{self.base_url}" if self.base_url else self.label


class Timeouts(_Frozen):
    """Per-call timeouts, in seconds."""

    model_s: float = Field(default=120.0, gt=0)
    tool_s: float = Field(default=60.0, gt=0)
    heartbeat_s: float = Field(default=10.0, gt=0)
    """A model or tool activity that stops heartbeating this long is retried elsewhere: a dead
    worker is noticed in seconds, not at the end of the call's timeout."""


MAX_COOLDOWN_S = 86_400.0
"""The longest cooling period a spec may give (a day): beyond it a typo, not a decision."""


class RetrySpec(_Frozen):
    """Exponential backoff for one model before the next in the fallback chain answers, and how
    long a run then leaves that model alone.

    Defaults: 100 ms, 200 ms, then fail over (3 attempts). Rate limits wait at least the
    provider's Retry-After; auth, invalid-request, content-filter and context-length errors are
    never retried. A model that failed over because it is down or refused the key
    (``duragent.errors.UNAVAILABLE_KINDS``) is skipped by the run's later turns for
    ``cooldown_s`` (30 s, the worker circuit's default cool-down), then tried again.
    """

    initial_s: float = Field(default=0.1, gt=0)
    backoff: float = Field(default=2.0, ge=1)
    max_interval_s: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=100)
    cooldown_s: float = 30.0
    """How long a run skips a model that failed over (it goes last in the chain meanwhile)."""

    @field_validator("cooldown_s")
    @classmethod
    def _cooldown_in_range(cls, value: float) -> float:
        # Not 0 to mean "never skip": a turn would then pay the dead model's attempts again,
        # which is what the cooling period is for; a short one (1 s) is the way to ask for that.
        if not 0 < value <= MAX_COOLDOWN_S:  # NaN fails too
            raise ValueError(
                f"'cooldown_s' is {value!r}: it is how long a run skips a model that failed "
                f"over, and must be more than 0 and at most {MAX_COOLDOWN_S:g} s (a day); "
                "to try a failed model again sooner, give a short period such as 1"
            )
        return value


class Degraded(_Frozen):
    """What a run answers when every model in the chain has failed, instead of failing.

    ``answer``: a fixed reply (the run completes, marked degraded); ``escalate``: hand the
    question to a human as a review request (the reviewer's edited answer is the reply).
    """

    answer: str | None = None
    escalate: bool = False
    reviewers: list[str] = Field(default_factory=list)
    reviewer_roles: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_way(self) -> Degraded:
        if (self.answer is None) == (not self.escalate):
            raise ValueError(
                "'degraded' needs exactly one of 'answer' (a fixed reply) or 'escalate: true'"
            )
        if self.escalate and not (self.reviewers or self.reviewer_roles):
            raise ValueError("'degraded.escalate' needs 'reviewers' or 'reviewer_roles'")
        return self


class Limits(_Frozen):
    """Bounds on one run. Reaching one ends the run with status ``budget_exceeded``."""

    max_turns: int = Field(default=10, ge=1, le=10_000)
    max_cost_usd: float | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, ge=1)
    timeouts: Timeouts = Field(default_factory=Timeouts)


class ScriptCall(_Frozen):
    """A tool call a scripted rule makes. String arguments are templates (see ``ScriptRule``)."""

    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ScriptRule(_Frozen):
    """One rule of the deterministic ``scripted`` model.

    The first rule whose conditions match the conversation's last message answers. ``when`` is a
    case-insensitive regex searched in that message's text; ``on`` restricts the message's role
    (``user`` or ``tool``); ``tool`` restricts to a result of that tool. Exactly one of ``say``,
    ``call``, ``calls`` or ``handoff`` is the answer. Templates in ``say`` and in string arguments
    of ``call``: ``{input}`` (the last user message), ``{1}`` or ``{name}`` (regex groups),
    ``{result.field}`` (a field of the last tool result's JSON), ``{results.<tool>}`` (the
    result of each tool the last turn called, by tool name) and ``{all_results.0}`` (every
    result of the last turn, in the order of the calls).
    """

    when: str | None = None
    on: Literal["user", "tool", "any"] = "any"
    tool: str | None = None
    say: str | None = None
    call: ScriptCall | None = None
    calls: list[ScriptCall] | None = Field(default=None, min_length=1)
    """Several tool calls at once (a coordinator asking two delegates in parallel)."""
    handoff: str | None = None
    confidence: float | None = Field(default=None, ge=0, le=1)

    @field_validator("when")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"'when' is not a valid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_answer(self) -> ScriptRule:
        answers = [a for a in ("say", "call", "calls", "handoff") if getattr(self, a) is not None]
        if len(answers) != 1:
            raise ValueError(
                "a script rule needs exactly one of 'say', 'call', 'calls' or 'handoff'"
                + (f" (it has {', '.join(answers)})" if answers else "")
            )
        return self


class ReviewPolicy(_Frozen):
    """Human review of final answers: below a confidence, above a risk score, or by rule.

    Confidence comes from token log-probabilities where the provider returns them, else from a
    score the model reports itself (a trailing ``confidence: 0.72``), else from ``grader`` (a
    model asked to grade the answer); the scripted model sets it per rule. Which source was used
    is recorded. No confidence at all counts as below the threshold.
    """

    confidence_threshold: float | None = Field(default=None, ge=0, le=1)
    risk_threshold: float | None = Field(default=None, ge=0, le=1)
    grader: ModelRef | None = None
    reviewers: list[str] = Field(default_factory=list)
    reviewer_roles: list[str] = Field(default_factory=list)
    timeout_s: float = Field(default=86_400, gt=0)
    on_timeout: Literal["reject", "escalate"] = "reject"
    escalate_to: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _someone_reviews(self) -> ReviewPolicy:
        active = self.confidence_threshold is not None or self.risk_threshold is not None
        if active and not (self.reviewers or self.reviewer_roles):
            raise ValueError(
                "a review policy needs 'reviewers' or 'reviewer_roles': nobody could review"
            )
        if self.on_timeout == "escalate" and not self.escalate_to:
            raise ValueError("on_timeout 'escalate' needs 'escalate_to'")
        return self


if TYPE_CHECKING:
    from pydantic._internal._model_construction import ModelMetaclass as _ModelMetaclass
else:
    _ModelMetaclass = type(BaseModel)


class _BuiltInPython(_ModelMetaclass):
    """Translates the errors of ``Agent(...)`` written in Python into the ``SpecError`` a bad
    YAML spec gets: one line naming the calling file, the agent and the field, instead of
    pydantic's multi-line ``ValidationError``. The built spec records that file as its source.

    A metaclass ``__call__`` rather than an ``__init__``: pydantic calls a model's own
    ``__init__`` for every validation (``model_validate``, nested models, the data converter),
    without the validation context the YAML loader passes; ``__call__`` is only ``Agent(...)``.
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            spec = super().__call__(*args, **kwargs)
        except ValidationError as exc:
            from duragent._loader import spec_error_from  # the loader imports this module

            name = kwargs.get("name")
            raise spec_error_from(
                exc, file=caller_file(), agent=name if isinstance(name, str) else None
            ) from None
        spec._source = caller_file()
        return spec


class AgentSpec(_Frozen, metaclass=_BuiltInPython):
    """An agent: a model, instructions, the tools it may call and the agents it may hand off to.

    ``tools`` is the allowlist: a call to any other tool is refused by the workflow. Instructions
    are inline text or a file (``instructions=Path("prompts/router.md")`` in Python,
    ``instructions: {file: prompts/router.md}`` in YAML, relative to the YAML file); the file's
    text and sha256 are stored in the spec.
    """

    name: str = Field(pattern=_NAME)
    description: str = ""
    instructions: str = ""
    instructions_file: str | None = None
    instructions_sha256: str | None = None
    model: ModelRef
    fallbacks: list[ModelRef] = Field(default_factory=list)
    retry: RetrySpec = Field(default_factory=RetrySpec)
    """Per model in the chain: attempts and backoff before failing over."""
    degraded: Degraded | None = None
    """The outcome when every model failed: a fixed answer or a human. None: the run fails."""
    tools: list[str] = Field(default_factory=list)
    handoffs: list[str] = Field(default_factory=list)
    delegates: list[str] = Field(default_factory=list)
    script: list[ScriptRule] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)
    guardrails: list[Rule] = Field(default_factory=list)
    """Rules on the input, each tool call and the output: allow, block, require approval or
    review, redact."""
    review: ReviewPolicy = Field(default_factory=ReviewPolicy)
    sandbox: SandboxPolicy = Field(default_factory=SandboxPolicy)
    """Limits of the jobs this agent's sandboxed tools run (wall and CPU time, memory,
    processes, output and file size, network, whether strong isolation is required)."""
    environment: Literal["production", "staging", "development", "test"] = "production"
    """Rules with mode 'never' (no approval at all) are allowed only in 'test'."""

    _source: str | None = PrivateAttr(default=None)
    """The file the spec was loaded from, for error messages; not part of the spec's hash."""

    @property
    def source(self) -> str | None:
        """The YAML file or Python module the spec was written in, for error messages."""
        return self._source

    @model_validator(mode="before")
    @classmethod
    def _read_instructions_file(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        value = data.get("instructions")
        path: str | None = None
        if isinstance(value, Path):
            path = str(value)
        elif isinstance(value, dict):
            if set(value) != {"file"} or not isinstance(value["file"], str):
                raise ValueError("'instructions' must be text or {file: path/to/instructions.md}")
            path = value["file"]
        if path is None:
            return data
        base = Path((info.context or {}).get("base_dir", "."))
        file = Path(path) if Path(path).is_absolute() else base / path
        try:
            raw = file.read_bytes()
        except FileNotFoundError:
            raise ValueError(
                f"'instructions' file {path!r} not found (looked at {file.resolve()})"
            ) from None
        except OSError as exc:
            raise ValueError(f"'instructions' file {path!r} cannot be read: {exc}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"'instructions' file {path!r} is not UTF-8 text") from None
        return {
            **data,
            "instructions": text,
            "instructions_file": path,
            "instructions_sha256": hashlib.sha256(raw).hexdigest(),
        }

    @model_validator(mode="after")
    def _consistent(self) -> AgentSpec:
        for field in ("tools", "handoffs", "delegates"):
            items: list[str] = getattr(self, field)
            duplicates = sorted({i for i in items if items.count(i) > 1})
            if duplicates:
                raise ValueError(f"'{field}' lists {', '.join(duplicates)} more than once")
        try:
            validate_policy(self.guardrails, environment=self.environment)
        except ValueError as exc:
            raise ValueError(f"'guardrails': {exc}") from None
        if self.name in self.handoffs:
            raise ValueError("'handoffs': an agent cannot hand off to itself; remove it")
        uses_script = self.model.provider == "scripted" or any(
            f.provider == "scripted" for f in self.fallbacks
        )
        if uses_script and not self.script:
            raise ValueError(
                "'script' is empty, but the 'scripted' model answers only from the agent's "
                "script rules; add a 'script' list or choose another model"
            )
        return self

    def spec_hash(self) -> str:
        """sha256 of the spec as resolved (instructions text included): recorded per run."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


Agent = AgentSpec
"""``Agent`` and ``AgentSpec`` are the same class; use whichever reads better."""


def caller_file() -> str:
    """The file of the nearest caller outside duragent, relative to the working directory when
    it is below it: where the user wrote ``Agent(...)`` or ``App(...)``."""
    frame = sys._getframe(1)
    while frame.f_back is not None and _is_ours(frame.f_code.co_filename):
        frame = frame.f_back
    name = frame.f_code.co_filename
    if not os.path.isabs(name):
        return name  # <stdin>, <string>
    relative = os.path.relpath(name)
    return name if relative.startswith("..") else relative


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _is_ours(filename: str) -> bool:
    return filename.startswith(_PACKAGE_DIR)
