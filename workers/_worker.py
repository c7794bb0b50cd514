"""Building a worker: the AgentRun workflow plus model, tool and spec activities.

The same code serves the embedded dev server and a cluster; only the client's address and
namespace differ.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from duragent import App, _redact
from duragent._telemetry import seed_run_metrics
from duragent.activities import (
    ApprovalActivities,
    AuditActivities,
    CircuitBreaker,
    EvalActivities,
    ModelActivities,
    SpecActivities,
    SpecStore,
    ToolActivities,
    load_approver_keys,
    open_transcript_store,
)
from duragent.activities.models import ModelProvider, ScriptedProvider
from duragent.audit import AuditLog
from duragent.encryption import EncryptionCodec, KeyRing, PlaintextCodec
from duragent.pricing import load_pricing
from duragent.settings import Settings
from duragent.workers._client import key_ring
from duragent.workflows import AgentRun, EvalRun

if TYPE_CHECKING:
    from duragent.activities.sandbox import Backend

PASSTHROUGH_MODULES = (
    # duragent's workflow-facing modules are pure (no I/O, no mutable globals), so sharing one
    # import across runs is safe and saves re-importing them in every workflow sandbox. This
    # includes the workflow code itself (duragent.workflows): pure bookkeeping and policy (no
    # I/O, no module state, time only from workflow.now()), so one import serves every run.
    # Re-imported into each run's sandbox it cost ~5 ms of worker CPU and ~6 ms of latency per
    # run (the AgentRun class and its @workflow.defn rebuilt) and ~60 KB of memory per cached
    # run (python -m bench, (f) and the paused curve). What the sandbox would catch in it (a
    # clock read, a random number) the strict runner below still catches: the replay tests run
    # every recorded history under it. (duragent.activities and duragent.workers are never
    # imported by workflow code; the package's __init__ loads them lazily, on first use.)
    "duragent",
    # pydantic and its core are pure and expensive to import; the data converter already uses
    # the host copies, and model classes must be the same objects on both sides of it.
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "typing_inspection",
    "yaml",
    # OpenTelemetry's global providers must be the process's own: workflow spans and metrics
    # go through the replay-safe providers the worker installed (duragent._telemetry).
    "opentelemetry",
)
WORKFLOW_PACKAGE = "duragent.workflows"


def _strict_passthrough() -> list[str]:
    """Every passthrough module, but with ``duragent`` narrowed to its pure submodules, so that
    ``duragent.workflows`` (and the package ``__init__``) is imported afresh into the sandbox."""
    import pkgutil

    import duragent

    pure = [
        f"duragent.{info.name}"
        for info in pkgutil.iter_modules(duragent.__path__)
        if f"duragent.{info.name}" != WORKFLOW_PACKAGE
    ]
    return [m for m in PASSTHROUGH_MODULES if m != "duragent"] + pure


def sandbox_runner(*, strict: bool = False) -> SandboxedWorkflowRunner:
    """The workflow sandbox, kept on, with the pure modules passed through once.

    ``strict=True`` re-imports ``duragent.workflows`` into every run's sandbox, so that a
    non-deterministic call anywhere in the workflow code fails there (the replay tests use it).
    """
    modules = _strict_passthrough() if strict else list(PASSTHROUGH_MODULES)
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*modules)
    )


class DuragentRunner(WorkflowRunner):
    """duragent's own workflows (``AgentRun``, ``EvalRun``) outside the sandbox, every other
    workflow in ``inner`` (the sandbox, or a user's own runner).

    The sandbox guards workflow code against what it cannot know is deterministic: a user's.
    duragent's workflows are its own (a user's tools, providers and scorers run in activities),
    and their determinism is tested instead: the replay tests run every recorded history under
    ``sandbox_runner(strict=True)``. Outside it a 3-turn run costs ~8 ms less worker CPU (a fresh
    sandbox per run, and every payload's serialization context computed inside it: replaying one
    history 100 times, 21 ms of CPU per run sandboxed, 12.5 ms not). ``sandboxed=True``
    (``DURAGENT_WORKFLOW_SANDBOX=1``) runs them in ``inner`` too.
    """

    def __init__(self, inner: WorkflowRunner, *, sandboxed: bool = False) -> None:
        self.inner = inner
        self.sandboxed = sandboxed
        self._plain = UnsandboxedWorkflowRunner()

    def _runner(self, defn: Any) -> WorkflowRunner:
        if self.sandboxed or defn.cls not in (AgentRun, EvalRun):
            return self.inner
        return self._plain

    def prepare_workflow(self, defn: Any) -> None:
        self._runner(defn).prepare_workflow(defn)

    def create_instance(self, det: Any) -> Any:
        return self._runner(det.defn).create_instance(det)

    def set_worker_level_failure_exception_types(self, types: Any) -> None:
        self.inner.set_worker_level_failure_exception_types(types)
        self._plain.set_worker_level_failure_exception_types(types)


def with_passthrough(runner: WorkflowRunner | None, *, sandboxed: bool = False) -> WorkflowRunner:
    """``runner`` (a user's own) made able to run ``AgentRun``: a sandboxed runner keeps its
    restrictions and gains duragent's passthrough modules (for ``sandboxed=True``); an
    unsandboxed one needs none. duragent's own workflows run outside the sandbox unless
    ``sandboxed`` (``DuragentRunner``)."""
    if isinstance(runner, DuragentRunner):
        runner = runner.inner
    if runner is None:
        runner = sandbox_runner()
    elif isinstance(runner, SandboxedWorkflowRunner):
        restrictions = runner.restrictions.with_passthrough_modules(*PASSTHROUGH_MODULES)
        runner = dataclasses.replace(runner, restrictions=restrictions)
    return DuragentRunner(runner, sandboxed=sandboxed)


def build_providers(env: Mapping[str, str] | None = None) -> dict[str, ModelProvider]:
    """Every provider this worker can serve. openai/anthropic read their keys when called."""
    from duragent.activities.models import AnthropicProvider, OpenAIProvider

    env = os.environ if env is None else env
    return {
        "scripted": ScriptedProvider(),
        "openai": OpenAIProvider(
            api_key=env.get("OPENAI_API_KEY"), base_url=env.get("OPENAI_BASE_URL")
        ),
        "anthropic": AnthropicProvider(
            api_key=env.get("ANTHROPIC_API_KEY"), base_url=env.get("ANTHROPIC_BASE_URL")
        ),
    }


def install_redactor(
    settings: Settings,
    *,
    approver_keys: Mapping[str, str] | None = None,
    ring: KeyRing | None = None,
    env: Mapping[str, str] | None = None,
) -> _redact.Redactor:
    """Teach the process's redactor (``duragent._redact``) this worker's secrets, once, at
    start: the secret-named variables and URL credentials of ``env`` (default: this process's
    environment), the approver keys, the codec token, the encryption keys (as their key file
    writes them), and the credentials of the store DSNs.

    Activities, spans and log lines redact with it from then on; a process serving several
    workers knows the secrets of all of them (redacting more is never unsafe)."""
    env = os.environ if env is None else env
    values = _redact.secrets_from_env(env) | set((approver_keys or {}).values())
    if settings.codec_token:
        values.add(settings.codec_token)
    if ring is not None:
        values |= {base64.b64encode(key).decode() for key in ring.keys.values()}
    for dsn in (settings.audit_log, settings.transcript_store):
        values |= _redact.url_secrets(dsn)
    redactor = _redact.current().extended(values)
    _redact.install(redactor)
    return redactor


def lenient_codec(client: Client) -> None:
    """A worker's codec passes a payload it cannot decode on undecoded, so a forged signal is
    dropped by its handler instead of failing every workflow task (``duragent.encryption``)."""
    codec = client.data_converter.payload_codec
    if isinstance(codec, EncryptionCodec | PlaintextCodec):
        codec.lenient = True


def build_activities(
    client: Client,
    app: App,
    settings: Settings,
    *,
    audit_log: AuditLog,
    providers: Mapping[str, ModelProvider] | None = None,
) -> list[Callable[..., Any]]:
    """The activities a worker serving ``app`` registers: model calls, tool calls, spec
    resolution, approval tokens and the audit trail, with their stores opened from ``settings``.

    One definition for ``build_worker`` and ``DuragentPlugin``. Also teaches the process's
    redactor this worker's secrets and makes ``client``'s codec lenient (see ``lenient_codec``).
    """
    prices = load_pricing(settings.pricing_file) if settings.pricing_file else None
    ring = key_ring(settings)  # read once: the store and the redactor both need it
    transcripts = open_transcript_store(settings.transcript_store, keys=ring)
    spec_store = SpecStore(transcripts, app=app)  # model calls read prompts with it always
    served = build_providers() if providers is None else providers
    models = ModelActivities(
        served,
        prices=prices,
        breaker=CircuitBreaker(settings.circuit_failures, settings.circuit_cooldown_s),
        transcripts=transcripts,
        specs=spec_store,
        capture_content=settings.capture_content,
    )
    tools = ToolActivities(app, transcripts=transcripts)
    specs = SpecActivities(
        app,
        search_attributes=settings.search_attributes,
        sandbox_task_queue=settings.sandbox_task_queue,
        store=spec_store if settings.spec_refs else None,
    )
    keys = load_approver_keys(settings.approver_keys_file) if settings.approver_keys_file else {}
    install_redactor(settings, approver_keys=keys, ring=ring)
    approvals = ApprovalActivities(keys)
    audit = AuditActivities(audit_log)
    scoring = EvalActivities(app, providers=served)
    lenient_codec(client)
    return [
        models.call,
        tools.call,
        specs.resolve,
        approvals.verify_token,
        audit.append,
        scoring.check,
        scoring.score_python,
    ]


def build_worker(
    client: Client,
    app: App,
    settings: Settings,
    *,
    audit_log: AuditLog,
    providers: Mapping[str, ModelProvider] | None = None,
    task_queue: str | None = None,
    max_cached_workflows: int = 1000,
) -> Worker:
    """A worker serving ``app`` on ``settings.task_queue`` (or ``task_queue``).

    ``max_cached_workflows=0`` makes every workflow task replay the run's history from the
    start (tests use it to prove replays change nothing). The caller owns ``audit_log``
    (``duragent.audit.open_audit_log(settings.audit_log)``) and closes it after the worker has
    shut down. A worker that serves workflows of its own too: ``duragent.DuragentPlugin``.
    """
    seed_run_metrics(app.agents.values())  # zero series: alerts see each agent's first run
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=[AgentRun, EvalRun],
        activities=build_activities(
            client, app, settings, audit_log=audit_log, providers=providers
        ),
        workflow_runner=DuragentRunner(sandbox_runner(), sandboxed=settings.workflow_sandbox),
        max_cached_workflows=max_cached_workflows,
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        graceful_shutdown_timeout=timedelta(seconds=settings.shutdown_grace_s),
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=settings.sticky_timeout_s),
    )


def build_sandbox_worker(
    client: Client,
    app: App,
    settings: Settings,
    *,
    backend: Backend,
    task_queue: str | None = None,
) -> Worker:
    """A worker serving ``app``'s sandboxed tools on ``settings.sandbox_task_queue``: each
    tool runs here, and the job it returns runs in ``backend``'s sandbox.

    Isolation is a deployment choice: run these workers where the backend can isolate (bwrap
    needs user namespaces; docker an engine), apart from the workers holding model keys.
    """
    ring = key_ring(settings)
    install_redactor(settings, ring=ring)
    tools = ToolActivities(
        app,
        transcripts=open_transcript_store(settings.transcript_store, keys=ring),
        sandbox=backend,
    )
    return Worker(
        client,
        task_queue=task_queue or settings.sandbox_task_queue,
        activities=[tools.call],
        max_concurrent_activities=settings.max_concurrent_sandbox_jobs,
        graceful_shutdown_timeout=timedelta(seconds=settings.shutdown_grace_s),
    )
