"""Resource limits: what every backend promises, the weak one included, checked by bombs.

Each bomb must end at its limit, promptly, with the limit named in the result's violation,
and leave no process behind (``conftest``). The weak backend must also say it is weak.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from duragent._sandbox import SandboxJob, SandboxPolicy, SandboxResult
from duragent.activities.sandbox import Backend
from tests.sandbox.attempts import Host
from tests.sandbox.conftest import dump, job_processes, open_or_skip

QUICK = SandboxPolicy(wall_s=10, cpu_s=5)

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


BOMBS = {
    "python": ["python3", "-c", FORK_BOMB],
    # The shell returns at once and leaves the bomb running: sleep keeps the job alive long
    # enough for the bomb to reach the limit (bwrap ends the rest with the job's main process).
    "bash": ["bash", "-c", ":(){ :|:& };:; sleep 2"],
}


@pytest.mark.parametrize("bomb", BOMBS)
async def test_a_fork_bomb_stops_at_the_process_limit(bomb: str, any_backend: Backend) -> None:
    counted = os.geteuid() == 0 and any_backend.drops_uid
    job = asyncio.create_task(run_timed(any_backend, BOMBS[bomb], processes=16, wall_s=3))
    most = 0
    while not job.done():  # the bomb's uid has the most processes: it must stay in bounds
        seen = job_processes() if counted else {}
        most = max([most, *(len(processes) for processes in seen.values())])
        await asyncio.sleep(0.05)
    result, took = await job

    assert "Resource temporarily unavailable" in result.stderr, dump(result)  # it hit the limit
    assert result.violation is not None and result.violation.limit == "processes", dump(result)
    assert took < 3 + 2
    assert most <= 16 + 3, f"{most} processes of one job at once"  # + the backend's own


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


async def test_an_orphan_holding_the_output_does_not_outlast_the_job(any_backend: Backend) -> None:
    # A setsid child escapes the job's process group and keeps stdout open: the job still
    # ends at its main process's exit (this one once kept a 2 s job for 20 s).
    orphan = ["sh", "-c", "setsid sleep 20 & echo started"]
    result, took = await run_timed(any_backend, orphan, wall_s=2)

    assert "started" in result.stdout, dump(result)
    assert took < 2 + 2  # and no sleep is left (conftest)


async def test_two_workers_on_one_host_do_not_touch_each_others_jobs(
    any_backend: Backend, jobs_root: Path
) -> None:
    # Each worker has its own Backend. Job uids once counted from the same base in each, so
    # the second worker's cleanup killed the first worker's job (reported as out of memory).
    other = type(any_backend)(root=jobs_root)

    async def shortly_after() -> SandboxResult:
        await asyncio.sleep(0.5)
        return await other.run(SandboxJob(command=["true"]), QUICK)

    slow, quick = await asyncio.gather(
        any_backend.run(SandboxJob(command=["sh", "-c", "sleep 2; echo finished"]), QUICK),
        shortly_after(),
    )

    assert quick.ok
    assert slow.ok and "finished" in slow.stdout, dump(slow)


FILL_TMP = """
held = 0
try:
    for i in range(32):
        with open(f"/tmp/fill{i}", "wb") as f:
            f.write(b"x" * (32 << 20))
        held += 32
finally:
    print("held_mb", held)
"""

FILL_MEMFD = """
import os
held, fds = 0, []
try:
    for i in range(32):
        fd = os.memfd_create(f"fill{i}")
        os.write(fd, b"x" * (32 << 20))
        fds.append(fd)
        held += 32
finally:
    print("held_mb", held)
"""


def held_mb(result: SandboxResult) -> int:
    return int(result.stdout.split()[-1]) if "held_mb" in result.stdout else 0


@pytest.mark.parametrize("source", [FILL_TMP, FILL_MEMFD], ids=["private_tmp", "memfd"])
async def test_memory_outside_the_address_space_counts_against_the_memory_limit(
    source: str, strong: Backend
) -> None:
    # RLIMIT_AS bounds mappings, not pages held in a file: an unsized tmpfs /tmp, or
    # memfd_create and write (which map nothing), once let a 256 MB job hold 1 GB of host
    # memory, in 32 MB files each under the file limit.
    result = await strong.run(SandboxJob(python=source), SandboxPolicy(memory_mb=256, wall_s=20))

    assert held_mb(result) <= 256, f"held {held_mb(result)} MB under 256: {dump(result)}"


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


SYSV_SHM = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
libc.shmdt.argtypes = [ctypes.c_void_p]
held, chunk = 0, 128 << 20
try:
    for i in range(8):  # each segment attached (counted) only while it is filled
        segment = libc.shmget(0, ctypes.c_size_t(chunk), 0o1000 | 0o600)  # IPC_PRIVATE, CREAT
        if segment < 0:
            raise OSError(ctypes.get_errno(), "shmget")
        address = libc.shmat(segment, None, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "shmat")
        ctypes.memset(address, 1, chunk)
        libc.shmdt(ctypes.c_void_p(address))
        held += chunk >> 20
finally:
    print("held_mb", held)
"""

SOCKET_BUFFERS = """
import socket
held, pairs, block = 0, [], b"x" * 65536
try:
    for i in range(9000):  # more than RLIMIT_NOFILE allows: ~230 KB queued per pair
        a, b = socket.socketpair()
        a.setblocking(False)
        try:
            while True:
                held += a.send(block)
        except BlockingIOError:
            pass
        pairs.append((a, b))
finally:
    print("held_mb", held >> 20)
"""


@pytest.mark.parametrize("source", [SYSV_SHM, SOCKET_BUFFERS], ids=["sysv_shm", "socket_buffers"])
async def test_kernel_memory_counts_against_the_memory_limit(source: str, strong: Backend) -> None:
    # Found by the battery: SysV shared memory segments outlive their attachment, and bytes
    # queued in unix socket buffers are charged to no rlimit: a 256 MB job held 1 GB and
    # 2 GB of host memory. Now shmget/msgget are refused (seccomp) and a job may hold 256
    # descriptors, which bounds what its socket buffers can pin.
    result = await strong.run(SandboxJob(python=source), SandboxPolicy(memory_mb=256, wall_s=20))

    assert held_mb(result) <= 256, f"held {held_mb(result)} MB under 256: {dump(result)}"
