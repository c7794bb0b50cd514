"""``DuragentPlugin``: duragent inside your own Temporal project, on your own worker.

    plugin = DuragentPlugin(app)                       # settings from the environment
    client = await Client.connect("localhost:7233", plugins=[plugin])
    worker = Worker(client, task_queue="main", workflows=[Triage], activities=[open_ticket])

A plugin given to ``Client.connect`` applies to the client and to every worker built on it
(Temporal passes it on), and adds:

- to the client: duragent's data converter (pydantic payloads, payloads over 256 KiB in
  ``settings.payload_store``, every payload encrypted under ``settings.encryption_keys_file``);
- to each worker: the ``AgentRun`` workflow and duragent's activities for ``app`` (models,
  tools, specs, approval tokens, audit; ``duragent.workers.build_activities``, the same list
  ``duragent worker`` serves), and a workflow runner (``DuragentRunner``) that runs duragent's
  own workflows outside the sandbox (``settings.workflow_sandbox`` puts them back in) and yours
  in your runner (a ``SandboxedWorkflowRunner`` of your own keeps its restrictions and gains
  duragent's passthrough modules);
- when a worker starts: duragent's search attributes in the namespace
  (``ensure_search_attributes``) unless ``settings.search_attributes`` is off. An operator can
  create them instead where the worker may not (``temporal operator search-attribute create``;
  the error says which).

Your workflows start agents as child workflows with ``duragent.workflows.run_agent``; they run on
the parent's task queue, so the one worker serves both. Clients that only start runs need no
plugin: ``duragent.connect(settings)`` gives them the same data converter.

Not imported by workflow code: it imports the worker side (activities, provider SDKs).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter
from temporalio.plugin import SimplePlugin
from temporalio.worker import Worker, WorkerConfig

from duragent._app import App
from duragent._telemetry import seed_run_metrics
from duragent.errors import DuragentError
from duragent.settings import Settings

if TYPE_CHECKING:
    from duragent.activities.models import ModelProvider
    from duragent.audit import AuditLog

NAME = "duragent.DuragentPlugin"


class DuragentPlugin(SimplePlugin):
    """Serve ``app``'s agents from your own worker, next to your own workflows and activities.

    ``settings`` defaults to ``Settings.from_env()`` (``TEMPORAL_ADDRESS``, ``DURAGENT_*``).
    ``providers`` maps provider names to ``ModelProvider``s (default: scripted, openai,
    anthropic, reading their keys from the environment). ``audit_log``: yours to open and close;
    without it the plugin opens ``settings.audit_log`` when it configures its first worker and
    closes it once every worker it configured has stopped.

    Give it to ``Client.connect`` (not only to a ``Worker``: the data converter is the client's).
    """

    def __init__(
        self,
        app: App,
        settings: Settings | None = None,
        *,
        providers: Mapping[str, ModelProvider] | None = None,
        audit_log: AuditLog | None = None,
    ) -> None:
        from duragent.workers import with_passthrough
        from duragent.workflows import AgentRun, EvalRun

        self.app = app
        self.settings = settings or Settings.from_env()
        self._providers = providers
        self._audit_log = audit_log
        self._owned: AuditLog | None = None  # opened here, closed here
        self._workers = 0  # configured and not yet stopped, sharing ``_owned``
        super().__init__(
            NAME,
            data_converter=self._data_converter,
            workflows=[AgentRun, EvalRun],
            workflow_runner=lambda runner: with_passthrough(
                runner, sandboxed=self.settings.workflow_sandbox
            ),
        )

    def _data_converter(self, existing: DataConverter | None) -> DataConverter:
        from duragent.workers import data_converter, key_ring, user_facing_failures

        if existing is None or existing is DataConverter.default:
            return data_converter(self.settings.payload_store, key_ring(self.settings))
        if issubclass(existing.payload_converter_class, PydanticPayloadConverter):
            # The caller's own pydantic converter (codec, storage) stays; Temporal's stock
            # failure converter gives way to the one that keeps refusals free of stack traces.
            return user_facing_failures(existing)
        raise DuragentError(
            "DuragentPlugin needs pydantic payloads, but the client was given another data "
            "converter: drop data_converter= from Client.connect (the plugin sets duragent's), "
            "or build yours on temporalio.contrib.pydantic.pydantic_data_converter"
        )

    def _audit(self) -> AuditLog:
        if self._audit_log is not None:
            return self._audit_log
        if self._owned is None:
            from duragent.audit import open_audit_log

            self._owned = open_audit_log(self.settings.audit_log)
        return self._owned

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        """See base class: also appends duragent's activities for ``app``."""
        from duragent.workers import build_activities

        config = super().configure_worker(config)
        client = config["client"]
        if not issubclass(client.data_converter.payload_converter_class, PydanticPayloadConverter):
            raise DuragentError(
                "the worker's client does not use duragent's data converter: give "
                "DuragentPlugin to Client.connect(..., plugins=[...]) rather than to Worker, "
                "or connect with duragent.connect(settings)"
            )
        activities = build_activities(
            client,
            self.app,
            self.settings,
            audit_log=self._audit(),
            providers=self._providers,
        )
        config["activities"] = [*config.get("activities", []), *activities]
        self._workers += 1
        return config

    async def run_worker(self, worker: Worker, next: Callable[[Worker], Awaitable[None]]) -> None:
        """See base class: registers the search attributes, runs the worker, and closes the
        audit log the plugin opened once its last worker has stopped."""
        try:
            if self.settings.search_attributes:
                from duragent.workers import ensure_search_attributes

                await ensure_search_attributes(worker.client)
            # Zero series for every agent, as `duragent worker` does: alerts see the first run.
            seed_run_metrics(self.app.agents.values())
            await next(worker)
        finally:
            self._workers -= 1
            if self._workers <= 0 and self._owned is not None:
                self._owned.close()
                self._owned = None
