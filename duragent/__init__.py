"""duragent: durable, governed AI agents on Temporal.

This package holds the public API and everything deterministic (specs, messages, pricing), so it
is safe to import inside workflows. I/O lives in ``activities`` and ``workers``.
"""

from duragent._app import App
from duragent._loader import load_agents
from duragent._messages import (
    LatencyBreakdown,
    Message,
    ModelRequest,
    ModelResponse,
    ResolvedSpecs,
    RunConfig,
    RunRequest,
    RunResult,
    RunStatus,
    StepRecord,
    ToolCall,
    ToolCallRequest,
    ToolResult,
    ToolSchema,
    ToolSpec,
    Usage,
)
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

__all__ = [
    "Agent",
    "AgentSpec",
    "App",
    "AppLoadError",
    "Artifact",
    "DuragentError",
    "LatencyBreakdown",
    "Limits",
    "Message",
    "ModelRef",
    "ModelRequest",
    "ModelResponse",
    "ProviderError",
    "ResolvedSpecs",
    "RunConfig",
    "RunRequest",
    "RunResult",
    "RunStatus",
    "SandboxJob",
    "SandboxPolicy",
    "SandboxResult",
    "ScriptCall",
    "ScriptRule",
    "SpecError",
    "StepRecord",
    "Timeouts",
    "Tool",
    "ToolArgumentsError",
    "ToolCall",
    "ToolCallRequest",
    "ToolContext",
    "ToolError",
    "ToolResult",
    "ToolSchema",
    "ToolSpec",
    "Usage",
    "Violation",
    "load_agents",
    "tool",
]
