"""``duragent eval`` as a user runs it (the CLI in a subprocess) against the customer-support
example on the session's dev server: the report, its files, the baseline gate, ``--resume``,
and ``eval add`` growing a dataset with a case that then passes."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from duragent import App, RunConfig, RunRequest
from duragent.activities.models import ScriptedProvider
from duragent.client import start_run
from duragent.eval import EvalReport, load_dataset
from duragent.examples.customer_support import db
from duragent.examples.customer_support.app import APPROVERS, ENTRY_AGENT, HERE, app
from duragent.examples.customer_support.tools import TOOLS
from tests.conftest import new_worker

DURAGENT = str(Path(sys.executable).parent / "duragent")
ROOT = Path(__file__).resolve().parents[2]

SMALL = """\
# Six cases of the support set, one or two per path.
name: support-small
agent: support
cases:
  - id: order-1001
    input: "Where is my order 1001?"
    category: information_retrieval
    tags: [orders]
    scorers:
      - {type: contains, value: ["Order 1001", "shipped"]}
      - {type: trajectory, steps: ["handoff:info", lookup_order], mode: exact}
  - id: order-9999
    input: "Can you check order 9999? It never arrived."
    category: information_retrieval
    tags: [orders]
    expected: "couldn't find order 9999"
  - id: locked-account
    input: "I can't log in, my email is alex@example.com"
    category: troubleshooting
    expected: "locked"
  - id: manager
    input: "This is unacceptable, I want to talk to a manager about my delayed order 1005."
    category: escalation
    expected: "high priority"
  - id: big-refund
    input: "Refund $250 on order 1005 please"
    category: approval
    scorers:
      - {type: status, status: awaiting_approval}
  - id: hello
    input: "Hello!"
    category: general
    scorers:
      - {type: status, status: completed}
"""


@pytest.fixture
async def worker(client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Worker]:  # fmt: skip
    monkeypatch.setenv(db.ENV_VAR, str(tmp_path / "support.db"))  # the worker's tools read it
    async with new_worker(client, app, providers={"scripted": ScriptedProvider()}) as w:
        yield w


async def duragent(client: Client, worker: Worker, tmp_path: Path, *args: str) -> tuple[int, str, str]:  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(DURAGENT_HOME=str(tmp_path / "home"), COLUMNS="200", NO_COLOR="1")
    server = ["--address", client.service_client.config.target_host, "--namespace", client.namespace]  # fmt: skip
    queue = ["--task-queue", worker.task_queue] if args[0] != "add" else []
    process = await asyncio.create_subprocess_exec(
        DURAGENT, "eval", *args, *queue, *server, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_report_files_resume_and_the_baseline_gate(client: Client, worker: Worker, tmp_path: Path) -> None:  # fmt: skip
    data = tmp_path / "small.yaml"
    data.write_text(SMALL)
    out = tmp_path / "first"
    code, stdout, stderr = await duragent(client, worker, tmp_path, str(data), "--out", str(out))
    assert code == 0, stdout + stderr
    assert "support-small: agent support, 100.0% correct over 6 run(s) of 6 case(s)" in stdout
    for category in ("information_retrieval", "troubleshooting", "escalation", "approval", "general", "#orders"):  # fmt: skip
        assert category in stdout
    assert "duragent eval --resume eval-support-small-" in stdout
    files = {p.name for p in out.iterdir()}
    assert files == {"report.json", "report.md", "junit.xml", "report.png"}
    report = EvalReport.model_validate_json((out / "report.json").read_text())
    assert (report.overall.cases, report.overall.correct, report.agent) == (6, 6, "support")
    assert set(report.categories) == {"information_retrieval", "troubleshooting", "escalation", "approval", "general"}  # fmt: skip

    # The same set with one expectation changed: that case flips, the gate fails and says why.
    changed = tmp_path / "changed.yaml"
    changed.write_text(SMALL.replace("couldn't find order 9999", "found order 9999"))
    code, stdout, stderr = await duragent(
        client, worker, tmp_path, str(changed), "--baseline", str(out / "report.json")
    )
    assert code == 1, stdout + stderr
    assert "broke order-9999 (information_retrieval): correct → incorrect" in stdout
    assert "regressed: information_retrieval: accuracy fell from 100.0% to 50.0%" in stdout
    assert "regressed against the baseline" in stderr

    # Started without waiting, then resumed (latency on a busy 2-core test machine is no gate): it ends as a fresh one would, files in $DURAGENT_HOME.
    code, stdout, stderr = await duragent(client, worker, tmp_path, str(data), "--no-wait")
    assert code == 0, stdout + stderr
    eval_id = stdout.split("started ", 1)[1].split(":", 1)[0]
    code, stdout, stderr = await duragent(client, worker, tmp_path, "--resume", eval_id, "--baseline", str(out / "report.json"), "--max-p99-rise", "20")  # fmt: skip
    assert code == 0, stdout + stderr
    assert "100.0% correct over 6 run(s)" in stdout and "no regression" in stdout
    assert (tmp_path / "home" / "evals" / eval_id / "report.json").exists()


async def test_an_unknown_agent_is_one_line_and_exit_2(client: Client, worker: Worker, tmp_path: Path) -> None:  # fmt: skip
    data = tmp_path / "small.yaml"
    data.write_text(SMALL)
    code, stdout, stderr = await duragent(client, worker, tmp_path, str(data), "--agent", "nobody")
    assert code == 2, stdout + stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "'nobody'" in errors[0], stderr


async def test_a_finished_run_becomes_a_case_that_passes(client: Client, worker: Worker, tmp_path: Path) -> None:  # fmt: skip
    handle = await start_run(
        client,
        # Continued as new after every turn: the case still gets what the user first sent.
        RunRequest(
            agent=ENTRY_AGENT,
            input="Where is my order 1002?",
            run_config=RunConfig(continue_as_new_every=1),
        ),
        task_queue=worker.task_queue,
    )
    assert (await handle.result()).status == "completed"
    dataset = tmp_path / "production.yaml"
    dataset.write_text("# cases from production\nname: production\nagent: support\ncases:\n  - {id: hi, input: Hello!}\n")  # fmt: skip
    code, stdout, stderr = await duragent(client, worker, tmp_path, "add", handle.id, "--dataset", str(dataset), "--tag", "shipping")  # fmt: skip
    assert code == 0, stdout + stderr
    assert f"added case {handle.id} (production)" in stdout
    assert dataset.read_text().startswith("# cases from production\n")
    case = load_dataset(dataset).cases[-1]
    assert case.input == "Where is my order 1002?" and case.tags == ["shipping"]
    assert "Order 1002" in str(case.expected)
    assert [s.type for s in case.scorers] == ["trajectory", "status"]

    code, stdout, stderr = await duragent(client, worker, tmp_path, str(dataset))
    assert code == 0, stdout + stderr
    assert "100.0% correct over 2 run(s)" in stdout and "production" in stdout

    before = dataset.read_text()
    code, stdout, stderr = await duragent(client, worker, tmp_path, "add", handle.id, "--dataset", str(dataset))  # fmt: skip
    assert code == 2 and "is used twice" in stderr
    assert dataset.read_text() == before
    code, stdout, stderr = await duragent(client, worker, tmp_path, "add", "run-nobody-00", "--dataset", str(dataset))  # fmt: skip
    assert code == 2 and "no run 'run-nobody-00'" in stderr


def _variant(tmp_path: Path, name: str, old: str, new: str) -> App:
    """The support app with its agents.yaml edited as a developer would edit it."""
    folder = tmp_path / name
    shutil.copytree(HERE / "prompts", folder / "prompts")
    spec = (HERE / "agents.yaml").read_text()
    assert spec.count(old) == 1, f"{old!r} is no longer in agents.yaml"
    (folder / "agents.yaml").write_text(spec.replace(old, new))
    return App(agents=[folder / "agents.yaml"], tools=TOOLS, approvers=APPROVERS)


async def test_a_spec_change_that_breaks_a_category_fails_the_gate(client: Client, worker: Worker, tmp_path: Path) -> None:  # fmt: skip
    data = tmp_path / "small.yaml"
    data.write_text(SMALL)
    baseline = tmp_path / "baseline"
    code, stdout, stderr = await duragent(client, worker, tmp_path, str(data), "--out", str(baseline))  # fmt: skip
    assert code == 0, stdout + stderr
    gate = [
        "--baseline",
        str(baseline / "report.json"),
        "--max-p99-rise",
        "50",
    ]  # a busy 2-core machine's latency is no gate here

    # The router sends technical problems to a person instead of tech: troubleshooting breaks.
    broken = _variant(tmp_path, "broken", "        handoff: tech\n", "        handoff: human\n")
    async with new_worker(client, broken, providers={"scripted": ScriptedProvider()}) as other:
        code, stdout, stderr = await duragent(client, other, tmp_path, str(data), *gate)
    assert code == 1, stdout + stderr
    assert "broke locked-account (troubleshooting): correct → incorrect" in stdout
    assert "regressed: troubleshooting: accuracy fell from 100.0% to 0.0%" in stdout
    assert stdout.count("broke ") == 1, stdout  # the other categories held

    # A reworded description changes nothing the cases check: the gate passes.
    harmless = _variant(
        tmp_path, "harmless",
        "description: Technical troubleshooting (sign-in, errors, crashes, slowness);",
        "description: Technical support (sign-in problems, errors, crashes and slowness);",
    )  # fmt: skip
    async with new_worker(client, harmless, providers={"scripted": ScriptedProvider()}) as other:
        code, stdout, stderr = await duragent(client, other, tmp_path, str(data), *gate)
    assert code == 0, stdout + stderr
    assert "no regression" in stdout and "100.0% correct over 6 run(s)" in stdout
