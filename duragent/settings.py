"""Settings shared by the CLI, clients and workers: environment first, flags override.

Temporal's standard ``TEMPORAL_ADDRESS`` and ``TEMPORAL_NAMESPACE`` pick the server; everything
of duragent's own is ``DURAGENT_*``. Read once at the edge (CLI, worker entry point) and passed
down; nothing deeper reads the environment.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from duragent._names import SANDBOX_TASK_QUEUE, TASK_QUEUE


@dataclass(frozen=True)
class Settings:
    address: str = "localhost:7233"
    namespace: str = "default"
    task_queue: str = TASK_QUEUE
    sandbox_task_queue: str = SANDBOX_TASK_QUEUE
    ui_url: str = "http://localhost:8233"
    """The Temporal Web UI, for links printed by the CLI."""
    home: Path = Path(".duragent")
    """Where ``duragent dev`` keeps the dev server's database and logs."""
    max_concurrent_activities: int = 100
    max_concurrent_workflow_tasks: int = 100
    pricing_file: Path | None = None
    transcript_store: str = ".duragent/transcripts.db"
    # (every worker of a deployment must open the same file: put it on a volume they share)
    """The conversation store every worker of a deployment must share: a SQLite file on one
    host, ``postgresql://…`` across hosts. Model calls carry a reference to it instead of the
    whole conversation."""
    payload_store: Path = Path(".duragent/payloads")
    """Where payloads over 256 KiB go (Temporal external storage); shared like the store above."""
    audit_log: str = ".duragent/audit.db"
    """Where the hash-chained audit log lives: a SQLite path, or a postgresql:// URL."""
    approver_keys_file: Path | None = None
    """YAML mapping approver name to the secret that signs their approval tokens."""
    encryption_keys_file: Path | None = None
    """A YAML key ring (``keys: [{id, key}]``, ``active``): when set, every Temporal payload,
    payload-store file and transcript row is AES-GCM encrypted. Every worker and client of a
    deployment needs the same ring."""
    codec_token: str | None = dataclasses.field(default=None, repr=False)
    """The bearer token ``duragent codec-server`` requires (its ``--token-file`` overrides)."""
    search_attributes: bool = True
    """Upsert DuragentAgent/Status/... on runs. Off only where the server cannot have them
    (Temporal's time-skipping test server): runs then cannot be found by status or pending."""
    spec_refs: bool = True
    """Runs this worker starts record each agent's prompt (instructions, tool schemas, script)
    once in the transcript store and send model calls a reference to it (issue 16). Turn off
    while workers older than that still serve the task queue: they would not read it."""
    workflow_sandbox: bool = False
    """Run duragent's own workflows (AgentRun, EvalRun) in Temporal's workflow sandbox. Off by
    default: they are duragent's code, not yours (your tools, providers and scorers run in
    activities), kept deterministic by the replay tests, which run every recorded history in the
    strict sandbox; inside it a 3-turn run costs ~8 ms more worker CPU (issue 16).
    Your own workflows on a plugin worker stay in your runner either way."""
    sticky_timeout_s: float = 3.0
    """How long a run's next workflow task waits for the worker that cached it before any worker
    may take it. After a worker dies this is most of the recovery time (the SDK's default is
    10 s); shorter costs a cache eviction and a replay when a busy, healthy worker is slow."""
    shutdown_grace_s: float = 10.0
    """On SIGTERM/Ctrl-C, how long in-flight activities may run before they are cancelled."""
    circuit_failures: int = 5
    """Consecutive outage failures (5xx, timeout, connection, 429) of one model on one worker
    that open its circuit: calls then fail fast and the fallback chain answers."""
    circuit_cooldown_s: float = 30.0
    """How long an open circuit stays open before one trial call may test the model again."""
    sandbox_backend: str = "auto"
    """Where sandbox jobs run on a sandbox worker: ``bwrap``, ``docker``, ``subprocess`` (weak
    isolation), or ``auto`` (bwrap where it works, else subprocess)."""
    sandbox_image: str = "python:3.11-slim"
    """The docker backend's image: pin it by digest, and give it the packages jobs need."""
    max_concurrent_sandbox_jobs: int = 4
    """Per sandbox worker: each job is a process tree with its own limits."""
    metrics_port: int | None = None
    """Serve Prometheus metrics (duragent's and the Temporal SDK's) on this port at /metrics."""
    traces_exporter: str = "none"
    """Where spans go: ``otlp`` (endpoint from the standard ``OTEL_EXPORTER_OTLP_*``
    variables), ``console``, or ``none``; a comma-separated list sends to several."""
    metrics_exporter: str = "none"
    """Push metrics as well as serving them: ``otlp``, ``console`` or ``none``."""
    capture_content: bool = False
    """Put prompt and completion text on model-call spans (off: metadata only)."""
    log_level: str | None = None
    """DEBUG, INFO, WARNING or ERROR; by default INFO for ``worker``, WARNING for ``dev`` and
    ``demo`` (they print their own progress)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``env`` (default ``os.environ``), then non-None ``overrides``."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        pairs = {
            "address": "TEMPORAL_ADDRESS",
            "namespace": "TEMPORAL_NAMESPACE",
            "task_queue": "DURAGENT_TASK_QUEUE",
            "sandbox_task_queue": "DURAGENT_SANDBOX_TASK_QUEUE",
            "ui_url": "DURAGENT_UI_URL",
            "home": "DURAGENT_HOME",
            "max_concurrent_activities": "DURAGENT_MAX_CONCURRENT_ACTIVITIES",
            "max_concurrent_workflow_tasks": "DURAGENT_MAX_CONCURRENT_WORKFLOW_TASKS",
            "pricing_file": "DURAGENT_PRICING_FILE",
            "shutdown_grace_s": "DURAGENT_SHUTDOWN_GRACE_S",
            "sticky_timeout_s": "DURAGENT_STICKY_TIMEOUT_S",
            "audit_log": "DURAGENT_AUDIT_LOG",
            "transcript_store": "DURAGENT_TRANSCRIPT_STORE",
            "payload_store": "DURAGENT_PAYLOAD_STORE",
            "approver_keys_file": "DURAGENT_APPROVER_KEYS_FILE",
            "encryption_keys_file": "DURAGENT_ENCRYPTION_KEYS_FILE",
            "codec_token": "DURAGENT_CODEC_TOKEN",
            "search_attributes": "DURAGENT_SEARCH_ATTRIBUTES",
            "spec_refs": "DURAGENT_SPEC_REFS",
            "workflow_sandbox": "DURAGENT_WORKFLOW_SANDBOX",
            "circuit_failures": "DURAGENT_CIRCUIT_FAILURES",
            "circuit_cooldown_s": "DURAGENT_CIRCUIT_COOLDOWN_S",
            "metrics_port": "DURAGENT_METRICS_PORT",
            "sandbox_backend": "DURAGENT_SANDBOX_BACKEND",
            "sandbox_image": "DURAGENT_SANDBOX_IMAGE",
            "max_concurrent_sandbox_jobs": "DURAGENT_MAX_CONCURRENT_SANDBOX_JOBS",
            "log_level": "DURAGENT_LOG_LEVEL",
            # OpenTelemetry's own variables, so a standard deployment needs nothing new.
            "traces_exporter": "OTEL_TRACES_EXPORTER",
            "metrics_exporter": "OTEL_METRICS_EXPORTER",
            "capture_content": "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
        }
        kinds = {f.name: str(f.type) for f in fields(cls)}
        for field, variable in pairs.items():
            raw = env.get(variable)
            if raw:
                values[field] = _convert(kinds[field], variable, raw)
        if "traces_exporter" not in values and (
            env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        ):
            values["traces_exporter"] = "otlp"  # an endpoint given is an exporter asked for
        level = str(values.get("log_level", "INFO")).upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError(f"DURAGENT_LOG_LEVEL={level!r} must be DEBUG, INFO, WARNING or ERROR")
        for field in ("traces_exporter", "metrics_exporter"):
            if field in values:
                values[field] = _exporters(pairs[field], values[field])
        given = {k: v for k, v in overrides.items() if v is not None}
        home = given.get("home", values.get("home"))
        if home is not None:
            # The stores live under the home folder unless placed elsewhere explicitly.
            home = Path(home)
            values.setdefault("transcript_store", str(home / "transcripts.db"))
            values.setdefault("payload_store", home / "payloads")
            values.setdefault("audit_log", str(home / "audit.db"))
        settings = cls(**values)
        return replace(settings, **given)

    def run_url(self, workflow_id: str, run_id: str | None = None) -> str:
        """The Web UI page of a run."""
        url = f"{self.ui_url.rstrip('/')}/namespaces/{self.namespace}/workflows/{workflow_id}"
        return f"{url}/{run_id}/history" if run_id else url


_EXPORTERS = ("otlp", "console", "none")


def _exporters(variable: str, raw: str) -> str:
    names = [n.strip().lower() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in _EXPORTERS]
    if unknown:
        raise ValueError(
            f"{variable}={raw!r}: unknown exporter {unknown[0]!r}; use otlp, console or none "
            "(Prometheus metrics are served with --metrics-port / DURAGENT_METRICS_PORT)"
        )
    return ",".join(n for n in names if n != "none") or "none"


def _convert(kind: str, variable: str, raw: str) -> Any:
    """``raw`` parsed as the field's declared type (its annotation, as text)."""
    kind = kind.removesuffix(" | None")
    if kind == "int":
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{variable}={raw!r} must be a whole number") from None
        if value < 1:
            raise ValueError(f"{variable}={raw!r} must be at least 1")
        return value
    if kind == "bool":
        if raw.lower() not in ("on", "off", "true", "false", "1", "0"):
            raise ValueError(f"{variable}={raw!r} must be on or off")
        return raw.lower() in ("on", "true", "1")
    if kind == "float":  # every float setting is a duration in seconds
        try:
            seconds = float(raw)
        except ValueError:
            raise ValueError(f"{variable}={raw!r} must be a number of seconds") from None
        if not seconds >= 0:
            raise ValueError(f"{variable}={raw!r} must be a number of seconds, 0 or more")
        return seconds
    if kind.startswith("Path"):
        return Path(raw)
    return raw
