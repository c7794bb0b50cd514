"""Sandbox jobs: untrusted code (a command, or a Python snippet a model wrote) run in isolation.

A sandboxed tool (``@tool(sandboxed=True)``) is trusted glue that returns a ``SandboxJob``; the
worker serving the sandbox task queue runs the job with its backend (bubblewrap, docker, or a
plain subprocess) under the limits of the agent's ``SandboxPolicy``, and the tool's result is
the job's ``SandboxResult``: output, exit code, produced files and timings. A job that breaks
a limit ends with a ``Violation``; it is data in the run's record, never a crashed worker.

Pure models only: no I/O here (backends live in ``duragent.activities.sandbox``).
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from pydantic import Field, model_validator

from duragent._wire import Wire

Isolation = Literal["strong", "weak"]
"""``strong``: namespaces (no network, private filesystem view, separate user); ``weak``:
resource limits and timeouts only (the ``subprocess`` backend)."""

ViolationKind = Literal[
    "wall_time", "cpu_time", "memory", "processes", "output_size", "file_size", "artifacts"
]


class _Frozen(Wire):
    """Unknown fields: dropped off the wire, refused in Python (``duragent._wire``)."""


class SandboxPolicy(_Frozen):
    """Limits for every job an agent's sandboxed tools run. A spec sets it as ``sandbox:``."""

    wall_s: float = Field(default=30.0, gt=0, le=3600)
    """Wall-clock time for the whole job, startup included."""
    cpu_s: int = Field(default=20, ge=1, le=3600)
    memory_mb: int = Field(default=1024, ge=16, le=65536)
    """Address space of each process (RLIMIT_AS), or the container's memory limit."""
    processes: int = Field(default=64, ge=1, le=4096)
    """Processes and threads the job may have at once."""
    output_bytes: int = Field(default=1_000_000, ge=1024)
    """stdout and stderr, each; beyond it the job is stopped."""
    file_bytes: int = Field(default=64_000_000, ge=1024)
    """Largest file the job may write (RLIMIT_FSIZE)."""
    artifact_bytes: int = Field(default=4_000_000, ge=0)
    """Produced files returned with the result, in total; larger ones are listed, not returned."""
    network: bool = False
    """Network access. Off: the job sees only its own loopback."""
    isolation: Literal["required", "preferred"] = "required"
    """``required``: a worker that can only offer weak isolation refuses the job."""


class SandboxJob(_Frozen):
    """What to run: a command, or Python source (run with the worker's Python)."""

    command: list[str] | None = None
    python: str | None = None
    files: dict[str, str] = Field(default_factory=dict)
    """Input files written into the work directory before the job starts (path: text)."""
    data: Any = None
    """JSON input, written to ``input.json`` in the work directory when given."""
    env: dict[str, str] = Field(default_factory=dict)
    """Extra environment variables; the worker's own are never passed on."""
    collect: list[str] = Field(default_factory=lambda: ["out/*"])
    """Glob patterns, relative to the work directory, of the files to return."""

    @model_validator(mode="after")
    def _one_program(self) -> SandboxJob:
        if (self.command is None) == (self.python is None):
            raise ValueError("a SandboxJob needs exactly one of 'command' or 'python'")
        if self.command is not None and not self.command:
            raise ValueError("'command' must not be empty")
        for name in self.files:
            if name.startswith("/") or ".." in name.split("/"):
                raise ValueError(f"input file {name!r} must be a relative path inside the job")
        return self


class Artifact(_Frozen):
    """A file a job produced."""

    name: str
    size: int
    sha256: str
    media_type: str = "application/octet-stream"
    data_b64: str | None = None
    """The content, base64; ``None`` when it did not fit the policy's ``artifact_bytes``."""

    def content(self) -> bytes:
        if self.data_b64 is None:
            raise ValueError(f"artifact {self.name!r} ({self.size} bytes) was not returned")
        return base64.b64decode(self.data_b64)


class Violation(_Frozen):
    """A limit the job broke: which, and what was seen."""

    limit: ViolationKind
    detail: str


class SandboxResult(_Frozen):
    """What a job did."""

    backend: str
    isolation: Isolation
    exit_code: int | None
    """``None`` when the job was killed (see ``violation``)."""
    stdout: str = ""
    stderr: str = ""
    artifacts: list[Artifact] = Field(default_factory=list)
    startup_ms: float = 0.0
    """From asking the backend for a sandbox to the job's first instruction."""
    run_ms: float = 0.0
    violation: Violation | None = None

    @property
    def ok(self) -> bool:
        return self.violation is None and self.exit_code == 0
