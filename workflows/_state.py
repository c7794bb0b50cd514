"""The explicit state of one run, which every part of the turn reads and writes.

Everything here is derived from history (the request, activity results, workflow time), so a
replay rebuilds it identically. What a run has *done* (steps, usage, spend, errors, time by
layer) is the ``Ledger``; this is where it *is*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from duragent._messages import Message, ResolvedSpecs, RunRequest, RunStatus, ToolCall
from duragent._spec import AgentSpec


class RunEnded(Exception):
    """Ends the run early with a status (a block, a rejection, a limit)."""

    def __init__(self, status: RunStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class RunState:
    request: RunRequest
    started_at: datetime
    specs: ResolvedSpecs | None = None
    status: RunStatus = "running"
    agent: str = ""
    """The active agent (handoffs switch it)."""
    path: list[str] = field(default_factory=list)
    turn: int = 0
    messages: list[Message] = field(default_factory=list)
    stored: int = 0
    """Messages [0, stored) are in the workers' transcript store."""
    transcript_key: str = ""
    output: str | None = None
    degraded: bool = False
    max_risk: float | None = None
    """The highest risk score of a tool that ran, for the review policy."""
    audited: int = 0
    """Steps [0, audited) are in the audit log."""
    last_request_id: str | None = None
    """The step id of the latest approval request (what a tool run after it refers to)."""
    last_model_error: str = ""
    cooling: dict[str, datetime] = field(default_factory=dict)
    """Models that failed over (``ModelRef.key``) and until when the run skips them: they go
    last in the chain, so a turn asks them only when every other model failed too."""

    @property
    def user(self) -> str | None:
        return self.request.user

    def spec_hash(self, agent: AgentSpec) -> str | None:
        return self.specs.hashes.get(agent.name) if self.specs else None

    def tell(self, call: ToolCall, text: str) -> None:
        """Answer a tool call with ``text`` (the model reads it as the call's result)."""
        self.messages.append(
            Message(role="tool", content=text, tool_call_id=call.id, name=call.name)
        )
