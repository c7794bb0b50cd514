"""The ``tool.call`` activity: runs a registered tool with the model's arguments.

What the model sees on failure, and what Temporal retries:
- arguments that do not fit the schema: never retried, the model is told what is wrong;
- ``ToolError(retryable=False)``: never retried, the model is told;
- any other exception, or ``ToolError(retryable=True)``: retried by Temporal, but only for
  tools that can be retried safely (idempotent, or with a reconcile hook, asked first on every
  retry); any other tool gets one attempt. Then the model is told.

Every text a tool produces is redacted here (``duragent._redact``), before it becomes a
``ToolResult`` or a failure: its output, its ``ToolError`` message, an unexpected exception's
text and causes, a sandbox job's stdout and stderr. History, the audit log, the transcript store
and the model only ever see the redacted text (a token quoted in an exception, a key a command
printed).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from duragent import App, Tool, ToolCallRequest, ToolContext, ToolError, ToolResult
from duragent._contracts import ToolCalls
from duragent._messages import SandboxRecord
from duragent._names import ACTIVITY_TOOL
from duragent._redact import REDACTED, redacted_failures
from duragent._redact import current as redactor
from duragent._sandbox import SandboxJob, SandboxPolicy
from duragent._tool import ToolArgumentsError, to_model_text
from duragent._transcript import INLINE_LIMIT, preview
from duragent.activities._heartbeat import heartbeating
from duragent.activities._observe import tool_call, tool_finished
from duragent.activities._transcripts import TranscriptStore
from duragent.activities.sandbox import Backend, SandboxUnavailable

MODEL_OUTPUT_CHARS = 4000
"""The tail of a job's stdout and stderr the model is shown (a ``[redacted]`` the cut falls in
is kept whole)."""

_UNFINISHED = re.compile(r"\S{1,256}\Z")
"""The end of a stream cut at the output limit: its last word, at most 256 characters (longer
than any key or token a rule or a known value would have caught whole)."""


def _model_tail(text: str, *, capped: bool) -> str:
    """The tail of a job's stream the model is shown, with no secret nor a piece of one.

    Redacted whole, then cut: cut first, a secret straddling the cut would leave its end in the
    tail, where nothing can recognize it. A stream the backend stopped reading at the policy's
    ``output_bytes`` (``capped``) ends wherever the limit fell, maybe inside a secret: its last,
    unfinished word is dropped.
    """
    if capped:
        text = _UNFINISHED.sub("", text)
    text = redactor().text(text)
    cut = max(0, len(text) - MODEL_OUTPUT_CHARS)
    marker = text.rfind(REDACTED, max(0, cut - len(REDACTED) + 1), cut + len(REDACTED) - 1)
    if 0 <= marker < cut:
        cut = marker
    return text[cut:]


def _heartbeat(*details: Any) -> None:
    # Local activities cannot heartbeat; their liveness is the workflow task's.
    if not activity.info().is_local:
        activity.heartbeat(*details)


class ToolActivities(ToolCalls):
    """Executes the tools of the app this worker serves."""

    def __init__(
        self,
        app: App,
        *,
        transcripts: TranscriptStore | None = None,
        sandbox: Backend | None = None,
    ) -> None:
        self._app = app
        self._transcripts = transcripts
        self._sandbox = sandbox

    @activity.defn(name=ACTIVITY_TOOL)
    async def call(self, request: ToolCallRequest) -> ToolResult:
        """Run one tool call and return its output as text for the model."""
        with redacted_failures(), tool_call(request) as current:
            result = await self._call(request)
            tool_finished(current, result)
            return result

    async def _call(self, request: ToolCallRequest) -> ToolResult:
        name = request.call.name
        tool = self._app.tools.get(name)
        if tool is None:
            raise ApplicationError(
                f"tool {name!r} is not registered on this worker's app {self._app.name!r}; "
                "deploy the worker with the same app as the spec",
                type="tool_error",
                non_retryable=True,
            )
        context = ToolContext(
            run_id=request.run_id,
            workflow_id=request.workflow_id,
            step_id=request.step_id,
            agent=request.agent,
            tenant=request.tenant,
            user=request.user,
            heartbeat=_heartbeat,
        )
        started = time.perf_counter()

        def result(
            output: str, error_type: str | None = None, ref: str | None = None
        ) -> ToolResult:
            return ToolResult(
                call_id=request.call.id,
                name=name,
                output=redactor().text(output),
                output_ref=ref,
                is_error=error_type is not None,
                error_type=error_type,
                duration_ms=(time.perf_counter() - started) * 1000,
            )

        try:
            async with heartbeating():
                value = await self._invoke(tool, context, request)
        except ToolArgumentsError as exc:
            return result(str(exc), "validation_error")
        except ToolError as exc:
            if exc.retryable and tool.max_attempts > 1:
                raise ApplicationError(str(exc), type="tool_error") from exc
            return result(str(exc), "tool_error")
        except Exception as exc:
            # Unexpected: let Temporal retry per the tool's policy; the workflow tells the model
            # once the attempts are spent. (call() redacts the message and the cause.)
            raise ApplicationError(f"{type(exc).__name__}: {exc}", type="tool_error") from exc
        if isinstance(value, SandboxJob):
            return await self._run_job(value, request, result)
        # Redacted before it is measured and stored: the store keeps what history previews.
        text = redactor().text(to_model_text(value))
        if len(text) > INLINE_LIMIT and self._transcripts is not None:
            # Stored once, by content; history keeps a preview and the address.
            ref = await asyncio.to_thread(self._transcripts.put_text, text)
            return result(preview(text), ref=ref)
        return result(text)

    async def _run_job(
        self, job: SandboxJob, request: ToolCallRequest, result: Callable[..., ToolResult]
    ) -> ToolResult:
        """Run a sandboxed tool's job under its agent's policy; a broken limit is an error
        result the model is told about, never a failed activity."""
        policy = request.sandbox or SandboxPolicy()
        backend = self._sandbox
        if backend is None:
            raise ApplicationError(
                f"tool {request.call.name!r} returned a sandbox job, but this worker has no "
                "sandbox backend: mark the tool sandboxed=True so it runs on the sandbox task "
                "queue, and serve that queue with `duragent worker --sandbox-only`",
                type="sandbox_unavailable",
                non_retryable=True,
            )
        if policy.isolation == "required" and backend.isolation == "weak":
            raise ApplicationError(
                f"agent {request.agent!r} requires strong isolation for its sandbox jobs, and "
                f"this sandbox worker only offers {backend.name!r} (rlimits only). Run sandbox "
                "workers with bubblewrap (apt-get install bubblewrap) or docker, or set the "
                "agent's sandbox.isolation to 'preferred'",
                type="sandbox_unavailable",
                non_retryable=True,
            )
        try:
            done = await backend.run(job, policy)
        except SandboxUnavailable as exc:
            raise ApplicationError(
                str(exc), type="sandbox_unavailable", non_retryable=True
            ) from exc
        record = SandboxRecord(
            backend=done.backend,
            isolation=done.isolation,
            exit_code=done.exit_code,
            startup_ms=done.startup_ms,
            run_ms=done.run_ms,
            violation=done.violation,
        )
        capped = done.violation is not None and done.violation.limit == "output_size"
        seen = {
            "exit_code": done.exit_code,
            "stdout": _model_tail(done.stdout, capped=capped),
            "stderr": _model_tail(done.stderr, capped=capped),
            "files": [{"name": a.name, "size": a.size} for a in done.artifacts],
        }
        if done.violation is not None:
            seen["violation"] = redactor().text(f"{done.violation.limit}: {done.violation.detail}")
        error = "sandbox_violation" if done.violation is not None else None
        return result(json.dumps(seen), error).model_copy(
            update={"sandbox": record, "artifacts": done.artifacts}
        )

    @staticmethod
    async def _invoke(tool: Tool, context: ToolContext, request: ToolCallRequest) -> Any:
        # A retry of a tool with a reconcile hook first asks whether the earlier attempt took
        # effect (its worker may have died after the side effect, before reporting it).
        if activity.info().attempt > 1 and tool.reconcile_fn is not None:
            earlier = await tool.reconciled(context, request.call.arguments)
            if earlier is not None:
                return earlier
        return await tool.invoke(context, request.call.arguments)
