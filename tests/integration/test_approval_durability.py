"""A waiting run: its timeout under the time-skipping server, and a dev-server restart."""

from __future__ import annotations

import gc
import logging
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from duragent import RunRequest, RunResult
from duragent._names import SA_STATUS
from duragent.activities.models import ScriptedProvider
from duragent.client import start_run
from duragent.settings import Settings
from duragent.workers._devserver import DevServer
from tests.conftest import BIN, new_worker, wait_for_pending
from tests.e2e.test_cli import free_port
from tests.integration.governance_app import REFUND_RULE, make_app, refunds

SCRIPTED = {"scripted": ScriptedProvider()}


@pytest.fixture(autouse=True)
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVERNANCE_TEST_DB", str(tmp_path / "ledger.db"))


pending = wait_for_pending


async def test_approval_times_out_after_a_day_in_no_time() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    try:
        rule = {**REFUND_RULE, "timeout_s": 86_400}
        # The time-skipping server has no custom search attributes.
        settings = Settings(search_attributes=False)
        async with new_worker(
            env.client, make_app(rules=[rule]), providers=SCRIPTED, settings=settings
        ) as worker:
            handle = await start_run(
                env.client,
                RunRequest(agent="billing", input="refund 7 of 250"),
                task_queue=worker.task_queue,
            )
            result = await handle.result()  # the server skips the day-long wait
    finally:
        await env.shutdown()
    timeout = next(s for s in result.steps if s.kind == "approval_timeout")
    assert timeout.via == "timeout" and timeout.action == "reject"
    assert result.output == "The refund was not approved." and refunds() == []
    assert result.latency.approval_ms >= 86_400_000


async def test_waiting_run_survives_a_dev_server_restart(tmp_path: Path) -> None:
    server = DevServer(home=tmp_path / "temporal", port=free_port(), ui_port=free_port())
    await server.start()
    queue = f"restart-{uuid.uuid4().hex[:6]}"
    app = make_app()
    try:
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        async with new_worker(client, app, providers=SCRIPTED, task_queue=queue):
            handle = await start_run(
                client, RunRequest(agent="billing", input="refund 7 of 250"), task_queue=queue
            )
            (request,) = await pending(handle)
        server.stop()  # the database file stays
        await server.start()
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        handle = client.get_workflow_handle(handle.id, result_type=RunResult)
        assert (await handle.describe()).typed_search_attributes.get(
            SA_STATUS
        ) == "awaiting_approval"
        async with new_worker(client, app, providers=SCRIPTED, task_queue=queue):
            await handle.execute_update("decide", {"step_id": request.step_id, "approver": "alice"})
            result = await handle.result()
    finally:
        server.stop()
    assert result.status == "completed" and len(refunds()) == 1


async def test_stopping_a_worker_with_a_waiting_run_logs_no_errors(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    # The SDK does not evict a run idle in the cache when its worker stops; the garbage
    # collector closes the run's coroutines later, on any thread. Nothing of ours may fail
    # there (it once logged "Failed to detach context" per open span of every waiting run).
    app = make_app()
    queue = f"stop-{uuid.uuid4().hex[:6]}"
    async with new_worker(client, app, providers=SCRIPTED, task_queue=queue):
        handle = await start_run(
            client, RunRequest(agent="billing", input="refund 7 of 250"), task_queue=queue
        )
        (request,) = await pending(handle)
    with caplog.at_level(logging.WARNING):
        gc.collect()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    async with new_worker(client, app, providers=SCRIPTED, task_queue=queue):
        await handle.execute_update("decide", {"step_id": request.step_id, "approver": "alice"})
        assert (await handle.result()).status == "completed"
