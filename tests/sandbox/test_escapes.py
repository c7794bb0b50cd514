"""The escape battery: every attempt in ``attempts.ATTEMPTS``, and a few that need the host's
help, run against each strong backend must be contained; the resource limits must hold on
every backend, the weak one included, which must say it is weak.

Run as root (as sandbox workers are deployed), jobs get uids of their own, and after every
test no process may still run as one (``conftest``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from activities.sandbox import Backend
from activities.sandbox._runner import UID_BASE, UID_POOL
from duragent._sandbox import SandboxJob, SandboxPolicy, SandboxResult
from tests.sandbox.attempts import ATTEMPTS, Attempt, Host, program
from tests.sandbox.conftest import dump, job_processes, open_or_skip

QUICK = SandboxPolicy(wall_s=10, cpu_s=5)


def everything(result: SandboxResult) -> str:
    """All a result carries back to the worker, artifacts decoded."""
    files = [base64.b64decode(a.data_b64 or "").decode(errors="replace") for a in result.artifacts]
    return "\n".join([result.stdout, result.stderr, *files])


def assert_contained(result: SandboxResult, host: Host, *, must_finish: bool = True) -> None:
    why = dump(result)
    assert "ESCAPED" not in result.stdout, why
    assert host.secret not in everything(result), f"the worker's secret came back: {why}"
    if must_finish:
        assert result.violation is None and result.exit_code == 0, why
        assert "contained:" in result.stdout, why


async def run_attempt(
    backend: Backend, body: str, host: Host, collect: list[str] | None = None
) -> SandboxResult:
    job = SandboxJob(python=program(body), data=host.data(), collect=collect or ["out/*"])
    return await backend.run(job, QUICK)


# -- the battery --------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=str)
async def test_the_attempt_is_contained(
    attempt: Attempt, strong: Backend, host: Host, client: Client
) -> None:
    result = await run_attempt(strong, attempt.body, host)

    assert result.isolation == "strong"
    assert_contained(result, host, must_finish=attempt.must_finish)
    assert (attempt.after(host) if attempt.after else []) == []
    await client.service_client.check_health()  # the worker's Temporal is still there


@pytest.mark.parametrize("attempt", [a for a in ATTEMPTS if a.control], ids=str)
def test_the_attempt_gets_through_without_a_sandbox(attempt: Attempt, host: Host) -> None:
    if attempt.control == "root" and os.geteuid() != 0:
        pytest.skip("gets through only for a worker running as root")
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "out").mkdir()
        Path(folder, "input.json").write_text(json.dumps(host.data()))
        done = subprocess.run(
            [sys.executable, "-c", program(attempt.body)],
            cwd=folder,
            env=os.environ,  # the worker's, planted secret and all
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert "ESCAPED" in done.stdout, done.stdout + done.stderr
    assert (attempt.after(host) if attempt.after else []) == []


async def test_a_port_the_job_listens_on_is_unreachable_from_the_host(
    strong: Backend, host: Host
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    listen = f"""
    server = socket.create_server(("0.0.0.0", {port}))
    print("listening on", {port}, flush=True)
    server.settimeout(2.5)
    _, peer = server.accept()
    escaped(f"accepted a connection from {{peer}}")
    """
    job = asyncio.create_task(run_attempt(strong, listen, host))
    reached = []
    await asyncio.sleep(0.3)
    while not job.done():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            reached.append(time.monotonic())
        except OSError:
            pass
        await asyncio.sleep(0.1)
    result = await job

    assert "listening on" in result.stdout, dump(result)
    assert_contained(result, host)
    assert reached == [], "the host reached a port the job opened"


async def test_symlinks_to_host_files_come_back_as_nothing(strong: Backend, host: Host) -> None:
    # Inside the sandbox these point nowhere; to the worker collecting the artifacts they
    # would be its own /etc/shadow, config and environment (where the secret is).
    links = """
    open("out/ok.txt", "w").write("mine")
    for name, target in [("shadow", "/etc/shadow"), ("config", host["config"]),
                         ("environ", "/proc/self/environ"), ("init", "/proc/1/environ"),
                         ("worker", f"/proc/{host['worker_pid']}/environ")]:
        os.symlink(target, "out/" + name)
    """
    result = await run_attempt(strong, links, host)

    assert_contained(result, host)
    assert [a.name for a in result.artifacts] == ["out/ok.txt"]
    assert "root:" not in everything(result)


async def test_a_symlinked_directory_is_not_followed(strong: Backend, host: Host) -> None:
    links = """
    os.makedirs("out/real")
    open("out/real/ok.txt", "w").write("mine")
    os.symlink(os.path.dirname(host["config"]), "out/hostdir")
    os.symlink(host["home"], "out/home")
    os.symlink("/", "out/root")
    """
    result = await run_attempt(strong, links, host, collect=["out/*", "out/**/*"])

    assert_contained(result, host)
    assert [a.name for a in result.artifacts] == ["out/real/ok.txt"]


async def test_a_fifo_or_socket_in_the_output_is_skipped(strong: Backend, host: Host) -> None:
    # Opened by the worker, a FIFO nobody writes would block the collection forever.
    special = """
    os.mkfifo("out/fifo")
    socket.socket(socket.AF_UNIX).bind("out/socket")
    """
    started = time.monotonic()
    result = await run_attempt(strong, special, host)

    assert time.monotonic() - started < 5
    assert_contained(result, host)
    assert result.artifacts == []


async def test_each_job_runs_as_an_unprivileged_uid_of_its_own(strong: Backend) -> None:
    uids = [
        int((await strong.run(SandboxJob(command=["id", "-u"]), QUICK)).stdout) for _ in range(2)
    ]

    assert 0 not in uids
    if os.geteuid() == 0 and strong.drops_uid:
        assert all(UID_BASE <= uid < UID_BASE + UID_POOL for uid in uids)
        assert uids[0] != uids[1], "two jobs of one worker shared a uid"


# -- resource limits: every backend -------------------------------------------------------

FORK_BOMB = """
import os, sys, time
warned = False
while True:
    try:
        os.fork()
    except BlockingIOError as error:
        if not warned:
            print("fork:", error, file=sys.stderr, flush=True)
            warned = True
        time.sleep(0.05)
"""


async def run_timed(
    backend: Backend, command: list[str], **limits: Any
) -> tuple[SandboxResult, float]:
    started = time.monotonic()
    result = await backend.run(SandboxJob(command=command), SandboxPolicy(**limits))
    assert (result.backend, result.isolation) == (backend.name, backend.isolation)
    return result, time.monotonic() - started


async def test_a_fork_bomb_stops_at_the_process_limit(any_backend: Backend) -> None:
    counted = os.geteuid() == 0 and any_backend.drops_uid
    job = asyncio.create_task(
        run_timed(any_backend, ["python3", "-c", FORK_BOMB], processes=16, wall_s=3)
    )
    most = 0
    while not job.done():
        most = max(most, len(job_processes()) if counted else 0)
        await asyncio.sleep(0.05)
    result, took = await job

    assert result.violation is not None, dump(result)
    assert result.violation.limit in ("processes", "wall_time")
    assert took < 3 + 2
    assert most <= 16 + 3, f"{most} job processes at once"  # + the backend's supervisors


async def test_a_classic_fork_bomb_leaves_nothing_behind(any_backend: Backend) -> None:
    result, took = await run_timed(
        any_backend, ["bash", "-c", ":(){ :|:& };:"], processes=16, wall_s=3
    )

    assert "Resource temporarily unavailable" in result.stderr, dump(result)  # it hit the limit
    assert took < 3 + 2  # and nothing of it is left (conftest)


async def test_a_memory_bomb_stops_at_the_memory_limit(any_backend: Backend) -> None:
    result, _ = await run_timed(
        any_backend, ["python3", "-c", "bytearray(10 * 1024**3)"], memory_mb=256
    )

    assert result.violation is not None and result.violation.limit == "memory", dump(result)


async def test_a_cpu_spin_stops_at_the_cpu_limit(any_backend: Backend) -> None:
    result, took = await run_timed(
        any_backend, ["sh", "-c", "while :; do :; done"], cpu_s=1, wall_s=10
    )

    assert result.violation is not None and result.violation.limit == "cpu_time", dump(result)
    assert took < 6  # the CPU limit, not the 10 s wall clock, ended it


async def test_huge_output_is_cut_at_the_output_limit(any_backend: Backend) -> None:
    flood = ["sh", "-c", "head -c 200000000 /dev/zero | tr '\\0' x"]
    result, took = await run_timed(any_backend, flood, output_bytes=65536)

    assert result.violation is not None and result.violation.limit == "output_size", dump(result)
    assert len(result.stdout) <= 65536
    assert took < 5


async def test_a_huge_file_stops_at_the_file_limit(any_backend: Backend) -> None:
    fill = ["dd", "if=/dev/zero", "of=out/big", "bs=1M", "count=1024"]
    result, _ = await run_timed(any_backend, fill, file_bytes=8 << 20, artifact_bytes=0)

    assert result.violation is not None and result.violation.limit == "file_size", dump(result)
    (big,) = result.artifacts
    assert big.size <= 8 << 20, "the host's disk got more than the file limit"


async def test_a_sleeper_stops_at_the_wall_clock(any_backend: Backend) -> None:
    result, took = await run_timed(any_backend, ["sleep", "60"], wall_s=2)

    assert result.violation is not None and result.violation.limit == "wall_time", dump(result)
    assert took < 3.5


async def test_an_orphan_holding_the_output_does_not_outlast_the_job(strong: Backend) -> None:
    result, took = await run_timed(strong, ["sh", "-c", "setsid sleep 30 & echo started"], wall_s=2)

    assert "started" in result.stdout, dump(result)
    assert took < 2 + 2  # and no sleep is left (conftest)


# -- the weak backend says what it is -----------------------------------------------------

REACH_THE_HOST = """
import json, socket
port = json.load(open("input.json"))["port"]
socket.create_connection(("127.0.0.1", port), timeout=2)
print("connected to the host's port", port)
"""


async def test_the_subprocess_backend_is_weak_and_says_so(host: Host, jobs_root: Path) -> None:
    weak = open_or_skip("subprocess", jobs_root)
    job = SandboxJob(command=["python3", "-c", REACH_THE_HOST], data=host.data())

    result = await weak.run(job, QUICK)

    assert (result.backend, result.isolation) == ("subprocess", "weak")
    # As its docs say: no isolation, only limits. A job reaches the host's services.
    assert "connected to the host's port" in result.stdout, dump(result)
