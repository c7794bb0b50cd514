"""duragent: durable, governed AI agents on Temporal.

This package holds the public API and everything deterministic (specs, messages, pricing), so it
is safe to import inside workflows: Temporal's workflow sandbox passes it through (one import
per worker, shared by every run). So its own imports stay pure. The names that open connections
or build workers (``connect``, ``start_run``, ``RunHandle``, ``DuragentPlugin``) load on first
use (PEP 562 ``__getattr__`` below); type checkers see them through the ``TYPE_CHECKING``
imports. I/O lives in ``duragent.activities`` and ``duragent.workers``.

Public submodules: ``duragent.workflows`` (``AgentRun``, ``run_agent``, ``start_agent``),
``duragent.client``, ``duragent.plugin``, ``duragent.testing``, ``duragent.settings``,
``duragent.errors``, ``duragent.audit``, ``duragent.encryption``, ``duragent.mock_llm``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from duragent._app import App
from duragent._approvals import ApprovalDecision, ApprovalOutcome, ApprovalRequest
from duragent._loader import load_agents
from duragent._messages import (
    LatencyBreakdown,
    RunConfig,
    RunRequest,
    RunResult,
    RunStatus,
    StepRecord,
    Usage,
)

# What crosses between workflow and activities, not what a user writes: importable from here as
# before (providers and older code use them), but not in ``__all__``.
from duragent._messages import Message as Message
from duragent._messages import ModelRequest as ModelRequest
from duragent._messages import ModelResponse as ModelResponse
from duragent._messages import ResolvedSpecs as ResolvedSpecs
from duragent._messages import ToolCall as ToolCall
from duragent._messages import ToolCallRequest as ToolCallRequest
from duragent._messages import ToolResult as ToolResult
from duragent._messages import ToolSchema as ToolSchema
from duragent._messages import ToolSpec as ToolSpec
from duragent._sandbox import Artifact, SandboxJob, SandboxPolicy, SandboxResult, Violation
from duragent._spec import (
    Agent,
    AgentSpec,
    Limits,
    ModelRef,
    ScriptCall,
    ScriptRule,
    Timeouts,
)
from duragent._tool import Tool, ToolArgumentsError, ToolContext, tool
from duragent.errors import (
    AppLoadError,
    DuragentError,
    ProviderError,
    SpecError,
    ToolError,
)
from duragent.settings import Settings

if TYPE_CHECKING:
    from duragent.client import RunHandle, connect, start_run
    from duragent.plugin import DuragentPlugin

_LAZY = {
    # name: the module it lives in, imported on first use (none may be imported eagerly:
    # they import temporalio's client and worker, the activities or the provider SDKs)
    "DuragentPlugin": "duragent.plugin",
    "RunHandle": "duragent.client",
    "connect": "duragent.client",
    "start_run": "duragent.client",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once: later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "Agent",
    "AgentSpec",
    "App",
    "AppLoadError",
    "ApprovalDecision",
    "ApprovalOutcome",
    "ApprovalRequest",
    "Artifact",
    "DuragentError",
    "DuragentPlugin",
    "LatencyBreakdown",
    "Limits",
    "ModelRef",
    "ProviderError",
    "RunConfig",
    "RunHandle",
    "RunRequest",
    "RunResult",
    "RunStatus",
    "SandboxJob",
    "SandboxPolicy",
    "SandboxResult",
    "ScriptCall",
    "ScriptRule",
    "Settings",
    "SpecError",
    "StepRecord",
    "Timeouts",
    "Tool",
    "ToolArgumentsError",
    "ToolContext",
    "ToolError",
    "Usage",
    "Violation",
    "connect",
    "load_agents",
    "start_run",
    "tool",
]
