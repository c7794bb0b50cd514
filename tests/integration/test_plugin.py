"""``DuragentPlugin`` on a worker of the user's own: what it adds, keeps, refuses and closes."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import pytest
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverter
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from duragent import Agent, App, DuragentError, DuragentPlugin, RunRequest, ScriptRule, Settings
from duragent.testing import ScriptedProvider
from duragent.workers import DuragentRunner
from duragent.workers._payloads import UserFacingFailureConverter
from duragent.workflows import run_agent

APP = App(
    agents=[Agent(name="echo", model="scripted/echo", script=[ScriptRule(say="echo: {input}")])],
    name="plugin-test",
)


@workflow.defn(name="PluginTestParent")
class Parent:
    @workflow.run
    async def run(self, text: str) -> str:
        result = await run_agent(RunRequest(agent="echo", input=text))
        return result.output or ""


@activity.defn(name="plugin_test.own")
async def own_activity() -> str:
    return "mine"


def settings_in(folder: Path) -> Settings:
    return Settings(
        transcript_store=str(folder / "transcripts.db"),
        audit_log=str(folder / "audit.db"),
        payload_store=folder / "payloads",
    )


class Mine(DefaultFailureConverter):
    """A user's own failure converter: the plugin leaves it alone."""


def plugin_for(folder: Path) -> DuragentPlugin:
    return DuragentPlugin(APP, settings_in(folder), providers={"scripted": ScriptedProvider()})


def test_the_client_gets_duragents_converter_and_a_foreign_one_is_refused(tmp_path: Path) -> None:
    plugin = plugin_for(tmp_path)
    config = plugin.configure_client({"data_converter": DataConverter.default})  # type: ignore[typeddict-item]
    assert issubclass(config["data_converter"].payload_converter_class, PydanticPayloadConverter)
    # A user's own pydantic converter stays theirs, with refusals kept free of stack traces.
    own = dataclasses.replace(pydantic_data_converter)
    kept = plugin.configure_client({"data_converter": own})["data_converter"]  # type: ignore[typeddict-item]
    assert kept.payload_converter_class is own.payload_converter_class
    assert kept.failure_converter_class is UserFacingFailureConverter
    custom = dataclasses.replace(pydantic_data_converter, failure_converter_class=Mine)
    assert plugin.configure_client({"data_converter": custom})["data_converter"] is custom  # type: ignore[typeddict-item]
    foreign = dataclasses.replace(DataConverter.default)  # the SDK's JSON converter, a user's copy
    with pytest.raises(DuragentError, match="pydantic_data_converter"):
        plugin.configure_client({"data_converter": foreign})  # type: ignore[typeddict-item]


async def test_the_users_sandbox_keeps_its_restrictions_and_gains_duragents(
    client: Client, tmp_path: Path
) -> None:
    runner = SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("users_own_module")
    )
    worker = Worker(
        client,
        task_queue="unused",
        workflows=[Parent],
        activities=[own_activity],
        workflow_runner=runner,
        plugins=[plugin_for(tmp_path)],
    )
    config = worker.config(active_config=True)
    runner = config["workflow_runner"]
    assert isinstance(runner, DuragentRunner)
    sandbox = runner.inner  # the user's workflows run here, duragent's outside it
    assert isinstance(sandbox, SandboxedWorkflowRunner)
    assert {"users_own_module", "duragent", "pydantic"} <= sandbox.restrictions.passthrough_modules
    assert [w.__name__ for w in config["workflows"]] == ["Parent", "AgentRun", "EvalRun"]
    names = [activity._Definition.must_from_callable(a).name for a in config["activities"]]
    assert names[0] == "plugin_test.own" and {"model.call", "tool.call", "audit.append"} <= set(
        names
    )


async def test_a_parent_runs_an_agent_and_the_audit_log_closes_with_the_worker(
    client: Client, tmp_path: Path
) -> None:
    plugin = plugin_for(tmp_path)
    queue = f"plugin-{uuid.uuid4().hex[:8]}"
    worker = Worker(client, task_queue=queue, workflows=[Parent], plugins=[plugin])
    async with worker:
        answer = await client.execute_workflow(
            Parent.run, "hi", id=f"parent-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        assert plugin._owned is not None
    assert answer == "echo: hi"
    assert plugin._owned is None  # closed once its worker stopped
    assert (tmp_path / "audit.db").exists()


@pytest.mark.parametrize("sandboxed", [False, True], ids=["default", "DURAGENT_WORKFLOW_SANDBOX=1"])
async def test_duragents_workflows_leave_the_sandbox_the_users_stay_in_it(
    client: Client, tmp_path: Path, sandboxed: bool
) -> None:
    """AgentRun runs outside the sandbox (duragent's code, kept deterministic by the replay
    tests), the user's own workflow inside the user's runner; with ``workflow_sandbox`` both
    inside. Either way the parent's agent answers."""
    from temporalio.worker import UnsandboxedWorkflowRunner

    from duragent.workflows import AgentRun

    settings = dataclasses.replace(settings_in(tmp_path), workflow_sandbox=sandboxed)
    plugin = DuragentPlugin(APP, settings, providers={"scripted": ScriptedProvider()})
    queue = f"plugin-{uuid.uuid4().hex[:8]}"
    worker = Worker(client, task_queue=queue, workflows=[Parent], plugins=[plugin])
    runner = worker.config(active_config=True)["workflow_runner"]
    assert isinstance(runner, DuragentRunner)
    agent_run = workflow._Definition.must_from_class(AgentRun)
    parent = workflow._Definition.must_from_class(Parent)
    assert isinstance(runner._runner(parent), SandboxedWorkflowRunner)
    assert isinstance(
        runner._runner(agent_run),
        SandboxedWorkflowRunner if sandboxed else UnsandboxedWorkflowRunner,
    )
    async with worker:
        answer = await client.execute_workflow(
            Parent.run, "hi", id=f"parent-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
    assert answer == "echo: hi"
