"""Data that crosses Temporal boundaries: workflow inputs and results, activity inputs and results.

Every model here is frozen pydantic and goes through
``temporalio.contrib.pydantic.pydantic_data_converter``. These shapes are recorded in workflow
histories, so they only ever grow: add fields with defaults, never rename or remove one.
Unknown fields are ignored off the wire and refused in Python (``duragent._wire``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from duragent._guardrails import Rule
from duragent._names import SANDBOX_TASK_QUEUE
from duragent._sandbox import Artifact, Isolation, SandboxPolicy, Violation
from duragent._spec import AgentSpec, ModelRef, ScriptRule
from duragent._transcript import PromptRef, TranscriptRef
from duragent._vocab import RiskLevel
from duragent._wire import Wire


class _Frozen(Wire):
    """Unknown fields: dropped off the wire, refused in Python (``duragent._wire``)."""


Role = Literal["system", "user", "assistant", "tool"]

RunStatus = Literal[
    "running",
    "awaiting_approval",
    "awaiting_review",
    "completed",
    "failed",
    "rejected",
    "budget_exceeded",
]
"""Values of the ``DuragentStatus`` search attribute and of ``RunResult.status``."""


class ToolCall(_Frozen):
    """A model's request to call a tool (or, for ``transfer_to_<agent>``, to hand off)."""

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Message(_Frozen):
    """One message of a conversation, provider-neutral."""

    role: Role
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None
    """For tool messages: the tool's name. For assistant messages: the agent that spoke."""
    content_ref: str | None = None
    """When set, ``content`` is a preview and the full text is in the transcript store under
    this content address: large tool outputs enter workflow history once, as a reference."""


class Usage(_Frozen):
    """Token counts for one model call, or summed over a run."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
        )


class ToolSchema(_Frozen):
    """What a model is told about a tool: name, description, JSON schema of the arguments."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)


class ToolSpec(ToolSchema):
    """A tool as the workflow knows it: its schema plus how it is to be executed."""

    risk: RiskLevel = "read"
    idempotent: bool = True
    sandboxed: bool = False
    timeout_s: float = 30.0
    execution: Literal["activity", "local"] = "activity"
    max_attempts: int = 1
    """Attempts Temporal may make: 1 for a tool that cannot be retried safely."""
    reconcilable: bool = False
    """The tool offers a reconcile hook: a retry first asks it whether the call already happened."""


class ModelRequest(_Frozen):
    """Input of the ``model.call`` activity."""

    run_id: str
    agent: str
    turn: int
    model: ModelRef
    instructions: str = ""
    tools: list[ToolSchema] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)
    script: list[ScriptRule] = Field(default_factory=list)
    """Rules for the ``scripted`` provider; empty for every other provider."""
    want_confidence: bool = False
    """Ask for token log-probabilities (or parse a self-reported score) to rate the answer."""
    transcript: TranscriptRef | None = None
    """When set, ``messages`` are only those from ``transcript.start`` on; the earlier ones are
    in the workers' transcript store. Keeps history linear in the number of turns."""
    prompt: PromptRef | None = None
    """When set, the agent's instructions, tool schemas and script are in the workers' shared
    store under ``prompt.digest``, not in this request (``ResolvedSpecs.prompts``)."""


class ModelResponse(_Frozen):
    """Output of the ``model.call`` activity, normalized across providers."""

    message: Message
    model: str
    """``provider/name`` of the model that answered."""
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    """Priced by the worker's pricing table; ``None`` when the model's price is unknown."""
    ttft_ms: float = 0.0
    """Time to first token: the reasoning layer."""
    total_ms: float = 0.0
    finish_reason: str = "stop"
    confidence: float | None = None
    confidence_source: str | None = None
    """logprobs, self_reported, scripted or grader."""
    attempt_errors: dict[str, int] = Field(default_factory=dict)
    """Failures of earlier attempts of this call (retried by Temporal), by kind."""


class ToolCallRequest(_Frozen):
    """Input of the ``tool.call`` activity."""

    run_id: str
    workflow_id: str
    step_id: str
    agent: str
    call: ToolCall
    tenant: str | None = None
    user: str | None = None
    sandbox: SandboxPolicy | None = None
    """For sandboxed tools: the limits of the agent's jobs (its spec's ``sandbox``)."""


class SandboxRecord(_Frozen):
    """How a sandboxed tool's job ran: where, how isolated, how long, which limit it broke."""

    backend: str
    isolation: Isolation
    exit_code: int | None
    startup_ms: float
    run_ms: float
    violation: Violation | None = None


class ToolResult(_Frozen):
    """Output of the ``tool.call`` activity."""

    call_id: str
    name: str
    output: str
    """The tool's return value as JSON text (what the model sees), or its preview when
    ``output_ref`` is set."""
    output_ref: str | None = None
    """Content address of the full output in the transcript store, for large outputs."""
    is_error: bool = False
    error_type: str | None = None
    duration_ms: float = 0.0
    sandbox: SandboxRecord | None = None
    artifacts: list[Artifact] = Field(default_factory=list)
    """Files a sandboxed tool's job produced (a chart, say); never shown to the model."""


class TokenCheck(_Frozen):
    """Input of the ``approvals.verify_token`` local activity."""

    token: str
    workflow_id: str
    step_id: str
    approver: str
    args_hash: str | None = None
    action: str = "approve"
    response: str | None = None


class TokenVerdict(_Frozen):
    """Output of ``approvals.verify_token``: ``reason`` says why a token is refused."""

    ok: bool
    reason: str | None = None


class ResolveRequest(_Frozen):
    """Input of the ``specs.resolve`` local activity."""

    agent: str


class ResolvedSpecs(_Frozen):
    """Every agent reachable from the entry agent, with hashes: recorded once per run (audit)."""

    entry: str
    agents: dict[str, AgentSpec]
    hashes: dict[str, str]
    """Agent name to sha256 of the spec as resolved (instructions text included)."""
    tools: dict[str, ToolSpec]
    approvers: dict[str, list[str]] = Field(default_factory=dict)
    """Approver name to roles, from the app: which roles may decide which steps."""
    search_attributes: bool = True
    """Whether the worker's server has duragent's search attributes (recorded: replay-safe)."""
    sandbox_task_queue: str = SANDBOX_TASK_QUEUE
    """Where sandboxed tools run: the queue the deployment's sandbox workers serve."""
    resolve_ms: float = 0.0
    """How long resolving took: part of the input-processing layer."""
    delegation: bool = False
    """Whether the worker that resolved the specs runs delegates (issue 13 on). Recorded in
    history, so a run resolved before delegation existed replays as recorded (a delegate call
    refused as not allowed) on any later worker, with no version marker needed."""
    prompts: dict[str, str] = Field(default_factory=dict)
    """Agent name to the content address of its ``AgentPrompt`` in the workers' shared store.
    When set (issue 16 on), each agent here holds no instructions and a one-rule stand-in for
    its script (the guardrails, tools, limits and every other field are whole: the workflow
    governs from them), and model calls carry a ``PromptRef`` instead of the prompt. Recorded,
    so runs resolved before replay as recorded, sending the prompt in every call."""
    rules: list[Rule] = Field(default_factory=list)
    """With ``prompts``: every distinct guardrail rule of the agents once (apps share rules
    between agents); ``agent_rules`` says which, in order, each agent has. The workflow puts
    them back into each agent's ``guardrails`` before anything reads them
    (``duragent._prompt.with_rules``), so it governs from exactly the recorded rules."""
    agent_rules: dict[str, list[int]] = Field(default_factory=dict)
    """Agent name to positions in ``rules``: its guardrails."""
    failover_memory: bool = False
    """Whether the run skips a model that failed over for its cooling period (issue 15 on;
    ``RetrySpec.cooldown_s``). Recorded for the same reason as ``delegation``: a run resolved
    before it replays as recorded, every turn starting at the primary."""


class RunConfig(_Frozen):
    """Per-run overrides a caller may set."""

    model: ModelRef | None = None
    """Replace every agent's model for this run, e.g. ``openai/gpt-4.1-mini`` on the demo."""
    max_turns: int | None = Field(default=None, ge=1)
    continue_as_new_every: int | None = Field(default=None, ge=1)
    """Continue as new after this many turns, besides whenever Temporal suggests it (tests,
    and deployments that want short histories)."""
    max_cost_usd: float | None = Field(default=None, ge=0)
    """A spend cap for this run on top of each agent's ``limits.max_cost_usd`` (a delegated
    child gets what its parent has left)."""
    delegation_depth: int = Field(default=0, ge=0)
    """How deep in a chain of delegations this run is (0: started by a person or a workflow of
    theirs; a delegated child is its parent's depth plus one)."""
    on_approval: Literal["wait", "end"] = "wait"
    """``end``: a run that asks a person (approval or review) records the request and ends at
    once with status ``awaiting_approval`` or ``awaiting_review`` instead of waiting (an
    evaluation checks that a case pauses; nobody is there to decide)."""


class RunRequest(_Frozen):
    """Input of the ``AgentRun`` workflow."""

    agent: str
    input: str
    history: list[Message] = Field(default_factory=list)
    """Earlier turns of the conversation (user and assistant messages) before ``input``: an
    evaluation case written as a short conversation. Every user turn passes the input rules."""
    tenant: str | None = None
    user: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    run_config: RunConfig = Field(default_factory=RunConfig)
    carry: Carry | None = None
    """Set only by the run itself when it continues as new: everything it has done so far."""

    @field_validator("history")
    @classmethod
    def _only_conversation_turns(cls, history: list[Message]) -> list[Message]:
        # A system or tool message here would be instructions or results nobody checked.
        for index, message in enumerate(history):
            if message.role not in ("user", "assistant") or message.tool_calls:
                raise ValueError(
                    f"history[{index}]: only user and assistant messages without tool calls may "
                    f"come before the input, not {message.role!r}"
                )
        return history


class Carry(_Frozen):
    """What a run carries into its next execution when it continues as new: nothing is lost,
    no budget is reset, and the specs stay the ones it resolved at its start."""

    specs: ResolvedSpecs
    transcript_key: str
    stored: int
    messages: list[Message]
    agent: str
    path: list[str]
    turn: int
    steps: list[StepRecord]
    next_step: int
    usage: Usage
    cost_usd: float
    cost_complete: bool
    errors: dict[str, int]
    layers_ms: dict[str, float]
    audited: int
    max_risk: float | None
    started_at: datetime
    continued: int
    cooling: dict[str, datetime] = Field(default_factory=dict)
    """Models the run skips (``ModelRef.key``) and until when: a failover is remembered across
    continue-as-new as it is across turns."""


class LatencyBreakdown(_Frozen):
    """Where a run's wall time went, in milliseconds, by layer."""

    total_ms: float = 0.0
    input_ms: float = 0.0
    """Input processing: resolving specs and input guardrails."""
    reasoning_ms: float = 0.0
    """Time to first token, summed over model calls."""
    output_ms: float = 0.0
    """Rest of each model call after the first token."""
    tool_ms: float = 0.0
    approval_ms: float = 0.0
    orchestration_ms: float = 0.0
    """The remainder: Temporal dispatch, history, serialization."""


StepKind = Literal[
    "model",
    "model_error",
    "tool",
    "tool_refused",
    "tool_error",
    "handoff",
    "guardrail",
    "approval_requested",
    "approval_decided",
    "approval_refused",
    "approval_timeout",
    "approval_escalated",
    "review_requested",
    "review_decided",
    "degraded",
]


class StepRecord(_Frozen):
    """One thing a run did, in order: the run's record, and its audit trail.

    Governance records (guardrail decisions, approval requests, decisions, refused decisions,
    timeouts, reviews) carry the rule, the action, who decided and why, and the hashes that tie
    them to the exact spec and tool arguments.
    """

    step_id: str
    kind: StepKind
    agent: str
    turn: int
    at: datetime
    duration_ms: float = 0.0
    model: str | None = None
    tool: str | None = None
    arguments: dict[str, Any] | None = None
    output: str | None = None
    usage: Usage | None = None
    cost_usd: float | None = None
    detail: str | None = None
    rule: str | None = None
    """The guardrail rule that decided, for governance records."""
    action: str | None = None
    """allow, block, require_approval, require_review, redact; or approve, reject, edit, respond."""
    approver: str | None = None
    reason: str | None = None
    via: str | None = None
    """How a decision arrived: update, signal, timeout."""
    ref: str | None = None
    """The step this record is about (an approval decision refers to its request)."""
    spec_hash: str | None = None
    args_hash: str | None = None
    sandbox: SandboxRecord | None = None
    artifacts: list[Artifact] = Field(default_factory=list)
    child: str | None = None
    """For a delegation: the child ``AgentRun``'s ``<workflow id>/<run id>``."""


class RunStatusView(_Frozen):
    """Answer of the ``status`` query."""

    status: RunStatus
    agent: str
    turn: int
    usage: Usage
    cost_usd: float
    steps: int
    pending_steps: list[str] = Field(default_factory=list)


class RunResult(_Frozen):
    """Output of the ``AgentRun`` workflow."""

    run_id: str
    workflow_id: str
    status: RunStatus
    output: str | None = None
    agent: str
    """The agent that ended the run."""
    agent_path: list[str]
    turns: int
    steps: list[StepRecord]
    usage: Usage
    cost_usd: float
    cost_complete: bool = True
    """False when some model's price is unknown: ``cost_usd`` is then a lower bound."""
    latency: LatencyBreakdown
    spec_hashes: dict[str, str] = Field(default_factory=dict)
    degraded: bool = False
    """Every model failed and the spec's degraded outcome answered (a fixed reply or a human)."""
    errors: dict[str, int] = Field(default_factory=dict)
    """Failures seen during the run, by type (timeout, rate_limit, tool_error, ...)."""
    error: str | None = None
    """Why the run did not complete, when it did not."""


class AuditEntry(_Frozen):
    """One record of the audit log: a run's step with who and what it belongs to."""

    workflow_id: str
    run_id: str
    agent: str
    tenant: str | None = None
    user: str | None = None
    step: StepRecord
    spec_hash: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """Written once, ever: (workflow id, run id, step id)."""
        return (self.workflow_id, self.run_id, self.step.step_id)


class AuditBatch(_Frozen):
    """Input of the ``audit.append`` activity: the steps a run took since its last append."""

    entries: list[AuditEntry] = Field(default_factory=list)
