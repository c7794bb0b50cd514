"""duragent as a library inside a user's own Temporal project (issue 13).

``user_project/`` is laid out as Temporal's samples are: its OWN top-level ``workflows``,
``activities`` and ``workers`` packages, an app (``helpdesk.py``), one worker built with
``DuragentPlugin`` (``workers/main.py``) and a starter. It runs as a user runs it: separate
processes, cwd the project, against the session's dev server. The README shows these files;
the last test checks it shows them as they are.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

PROJECT = Path(__file__).resolve().parent / "user_project"
ROOT = Path(__file__).resolve().parents[2]
DURAGENT = str(Path(sys.executable).parent / "duragent")


@pytest.fixture
def project_env(client: Client, payload_store: Path, tmp_path: Path) -> dict[str, str]:
    """The environment of the project's processes: the session's server, a fresh queue."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(
        PYTHONPATH=str(PROJECT),
        TEMPORAL_ADDRESS=client.service_client.config.target_host,
        DURAGENT_TASK_QUEUE=f"user-{uuid.uuid4().hex[:8]}",
        DURAGENT_HOME=str(tmp_path / "home"),
        DURAGENT_PAYLOAD_STORE=str(payload_store),
        DURAGENT_TRANSCRIPT_STORE=str(tmp_path / "home" / "transcripts.db"),
        DURAGENT_AUDIT_LOG=str(tmp_path / "home" / "audit.db"),
        NO_COLOR="1",
        COLUMNS="200",
    )
    return env


@pytest.fixture
def worker(project_env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """``python -m workers.main`` in the project: the user's one worker."""
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "workers.main"],
        cwd=PROJECT,
        env=project_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield process
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log.close()


def run_in_project(command: list[str], env: dict[str, str], worker: subprocess.Popen[str]) -> str:
    done = subprocess.run(
        command, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert worker.poll() is None, "the project's worker exited: see worker.log"
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


async def test_the_users_workflow_runs_an_agent_as_a_child_on_one_worker(
    client: Client, project_env: dict[str, str], worker: subprocess.Popen[str]
) -> None:
    starter = [sys.executable, "starter.py", "Where is order 1001?"]
    out = await asyncio.to_thread(run_in_project, starter, project_env, worker)
    report = json.loads(out.strip().splitlines()[-1])

    # the user's workflow completed with the child's answer, then ran its own activity
    triaged = report["triaged"]
    assert triaged["answer"] == "Order 1001 is shipped."
    assert re.fullmatch(r"T-[0-9a-f]{6}", triaged["ticket"])
    # the child is an AgentRun of its own, started by the user's workflow
    child = await client.get_workflow_handle(triaged["agent_run_id"]).describe()
    assert child.workflow_type == "AgentRun"
    assert child.parent_id == report["triage_id"]
    assert child.task_queue == project_env["DURAGENT_TASK_QUEUE"]
    parent = await client.get_workflow_handle(report["triage_id"]).describe()
    assert parent.workflow_type == "Triage"
    # duragent.start_run from the project's own code, served by the same worker
    assert report["run_output"] == "Order 1001 is shipped."
    # and `import workflows` there is the project's package, not duragent's
    assert report["workflows_package"] == str(PROJECT / "workflows" / "__init__.py")


def test_the_cli_starts_a_run_the_users_worker_serves(
    project_env: dict[str, str], worker: subprocess.Popen[str]
) -> None:
    out = run_in_project(
        [DURAGENT, "run", "support", "Where is order 1002?", "--wait", "--json"],
        project_env,
        worker,
    )
    result = json.loads(out[out.index("{") :])
    assert result["status"] == "completed"
    assert result["output"] == "Order 1002 is being packed."


def code_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, re.S)


@pytest.mark.parametrize("path", ["helpdesk.py", "workflows/triage.py", "workers/main.py"])
def test_the_readme_shows_the_project_as_it_runs(path: str) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Use duragent in your own Temporal project", 1)[1].split("\n## ")[0]
    source = (PROJECT / path).read_text()
    body = source[source.index("from __future__") :]  # the file without its docstring
    assert any(body.strip() in block for block in code_blocks(section)), (
        f"README's section shows a different {path}: copy {PROJECT / path} into it"
    )
