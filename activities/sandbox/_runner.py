"""Running one sandbox job: work directory, limits, the process, its output, its verdict.

Every backend shares this loop; a backend only says how to wrap the job's command (``wrap``).
Invariants, whatever the job does:

- it runs as an unprivileged user: a dedicated uid per concurrent job when the worker is root
  (process-count limits do not bind root, and a shared uid would let jobs count against each
  other), else the worker's own uid;
- rlimits (address space, CPU seconds, processes, file size, no core dumps) are set by
  ``prlimit`` before the backend starts, so they bind the job and all it spawns;
- the wall clock and the output size are watched here; breaking either kills the job's whole
  session;
- produced files are collected without following symbolic links and only from inside the
  work directory;
- the verdict is data: a ``SandboxResult`` with a ``Violation``, never an exception for the
  job's misbehaviour.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import fnmatch
import hashlib
import json
import mimetypes
import os
import random
import shutil
import signal
import stat
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from duragent._sandbox import (
    Artifact,
    Isolation,
    SandboxJob,
    SandboxPolicy,
    SandboxResult,
    Violation,
)

STARTED = ".duragent-started"
"""Touched by the job's first instruction: its mtime ends the startup time."""
_PRELUDE = (
    f"open({STARTED!r}, 'w').close()\n"
    "__name__ = '__main__'\n"
    "exec(compile(open('main.py').read(), 'main.py', 'exec'))\n"
)
_SAFE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "MPLCONFIGDIR": "/tmp",
    "MPLBACKEND": "Agg",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}
OPEN_FILES = 256
"""Open descriptors per job process."""
UID_BASE = 200_000
UID_POOL = 10_000


@dataclass(frozen=True)
class Launch:
    """The job as the backend will start it."""

    argv: list[str]
    """The job's own command line, as seen inside the sandbox (cwd = the work directory)."""
    workdir: Path
    name: str
    """A name unique to this job (for containers)."""
    inside: str
    """The work directory's path inside the sandbox."""
    env: dict[str, str]
    uid: int | None
    policy: SandboxPolicy
    pass_fds: list[int] = field(default_factory=list)
    """Descriptors the backend's command needs (a seccomp program); closed after the job."""


class SandboxUnavailable(Exception):
    """This backend cannot run this job here (not the job's fault): the message says why."""


class Backend:
    """Base of the sandbox backends: subclasses set ``name``/``isolation`` and wrap commands."""

    name = "base"
    isolation: Isolation = "weak"
    exit_offset = 0
    """Backends that report a child killed by signal N as exit code ``exit_offset + N``."""
    drops_uid = True
    """Run the job as its own unprivileged uid, under rlimits (not docker: its CLI needs the
    engine's socket, and the container carries its own user and limits)."""
    drops_in_sandbox = False
    """The backend switches to the job's uid itself, after building the sandbox as root (so
    it can mount what the job may read but could not reach: a Python under /root, say)."""
    workdir_owner: int | None = None
    """Who must own the work directory, when not the job's uid (the container's user)."""

    def __init__(self, *, root: Path | None = None) -> None:
        self._root = root

    def available(self) -> str | None:
        """``None`` when this backend can run jobs here, else why not."""
        return None

    def wrap(self, launch: Launch) -> list[str]:
        """The full command line that runs ``launch.argv`` in this backend's sandbox."""
        raise NotImplementedError

    def check(self, job: SandboxJob) -> None:
        """Raise ``SandboxUnavailable`` when this backend cannot run ``job`` here."""

    def inside_path(self, workdir: Path) -> str:
        return str(workdir)

    async def run(self, job: SandboxJob, policy: SandboxPolicy) -> SandboxResult:
        """Run ``job`` under ``policy`` and report what it did."""
        self.check(job)
        asked = time.time_ns()
        workdir = Path(tempfile.mkdtemp(prefix="job-", dir=self._root))
        lease = _UidLease.take() if self.drops_uid and os.geteuid() == 0 else None
        uid = lease.uid if lease is not None else None
        owner = self.workdir_owner if self.workdir_owner is not None else uid
        launch: Launch | None = None
        try:
            self._prepare(workdir, job, owner if os.geteuid() == 0 else None)
            inside = self.inside_path(workdir)
            argv = (
                [sys.executable, "-I", "-c", _PRELUDE]
                if job.python is not None
                else ["/bin/sh", "-c", f': > {STARTED}; exec "$0" "$@"', *(job.command or [])]
            )
            env = {**_SAFE_ENV, **job.env}
            launch = Launch(argv, workdir, workdir.name, inside, env, uid, policy)
            limits = _prlimit(policy, uid) if self.drops_uid else []
            command = [*limits, *self.wrap(launch)]
            popen_uid = None if self.drops_in_sandbox else uid
            outcome = await _execute(command, launch, popen_uid, self.exit_offset)
            # Nothing of the job may run while its files are read (a process swapping a
            # directory for a symlink, say): the session died with it, strays die here.
            if uid is not None:
                _kill_uid(uid)
            artifacts, too_many = _collect(workdir, job.collect, policy.artifact_bytes)
            violation = outcome.violation or too_many
            started = _started_ns(workdir) or outcome.ended_ns
            return SandboxResult(
                backend=self.name,
                isolation=self.isolation,
                exit_code=outcome.exit_code,
                stdout=outcome.stdout,
                stderr=outcome.stderr,
                artifacts=artifacts,
                startup_ms=max(started - asked, 0) / 1e6,
                run_ms=max(outcome.ended_ns - started, 0) / 1e6,
                violation=violation,
            )
        finally:
            if uid is not None:
                _kill_uid(uid)
            if lease is not None:
                lease.release()
            if launch is not None:
                for fd in launch.pass_fds:
                    os.close(fd)
                await self.cleanup(launch)
            shutil.rmtree(workdir, ignore_errors=True)

    async def cleanup(self, launch: Launch) -> None:
        """Release what the backend holds for a finished job (a container, say)."""

    @staticmethod
    def _prepare(workdir: Path, job: SandboxJob, uid: int | None) -> None:
        (workdir / "out").mkdir()
        for name, text in job.files.items():
            path = workdir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        if job.data is not None:
            (workdir / "input.json").write_text(json.dumps(job.data))
        if job.python is not None:
            (workdir / "main.py").write_text(job.python)
        if uid is not None:
            for path in [workdir, *workdir.rglob("*")]:
                os.chown(path, uid, uid, follow_symlinks=False)
        # Owner-only, but traversable: bwrap, root without capabilities, must enter it.
        workdir.chmod(0o711)


class _UidLease:
    """A job uid no other job on this host holds: a lock file per uid, so two sandbox workers
    on one host (or two backends in one process) never share one, nor its process budget."""

    LOCKS = Path(tempfile.gettempdir()) / "duragent-sandbox-uids"

    def __init__(self, uid: int, fd: int) -> None:
        self.uid, self._fd = uid, fd

    @classmethod
    def take(cls) -> _UidLease:
        cls.LOCKS.mkdir(mode=0o700, exist_ok=True)
        start = random.randrange(UID_POOL)
        for step in range(UID_POOL):
            uid = UID_BASE + (start + step) % UID_POOL
            fd = os.open(cls.LOCKS / str(uid), os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return cls(uid, fd)
        raise SandboxUnavailable(f"all {UID_POOL} sandbox uids are in use on this host")

    def release(self) -> None:
        os.close(self._fd)  # closing drops the lock


def _started_ns(workdir: Path) -> int | None:
    """When the job's first instruction ran: its marker file's mtime (never a link's target)."""
    try:
        info = os.stat(workdir / STARTED, follow_symlinks=False)
    except OSError:
        return None
    return info.st_mtime_ns if stat.S_ISREG(info.st_mode) else None


def _prlimit(policy: SandboxPolicy, uid: int | None) -> list[str]:
    # The worker's own threads count against a shared uid: leave them room.
    own = 0 if uid is not None else len(os.listdir("/proc/self/task")) + 16
    memory = policy.memory_mb * 1024 * 1024
    return [
        "prlimit",
        f"--as={memory}",
        f"--cpu={policy.cpu_s}:{policy.cpu_s + 1}",  # SIGXCPU first, SIGKILL a second later
        f"--nproc={policy.processes + own + 3}",  # + the backend's own supervisor processes
        f"--fsize={policy.file_bytes}",
        # Each descriptor can pin a socket or pipe buffer of host memory no rlimit counts.
        f"--nofile={OPEN_FILES}",
        "--core=0",
        "--",
    ]


@dataclass
class _Outcome:
    exit_code: int | None
    stdout: str
    stderr: str
    ended_ns: int
    violation: Violation | None


async def _execute(
    command: list[str], launch: Launch, uid: int | None, exit_offset: int
) -> _Outcome:
    policy = launch.policy
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=launch.workdir,
        env=launch.env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        pass_fds=launch.pass_fds,
        user=uid,
        group=uid,
        extra_groups=[] if uid is not None else None,
    )
    killed: list[Violation] = []

    def kill(violation: Violation) -> None:
        if not killed:
            killed.append(violation)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    async def read(stream: asyncio.StreamReader, which: str) -> bytes:
        chunks, size = [], 0
        while block := await stream.read(65536):
            if size < policy.output_bytes:
                chunks.append(block[: policy.output_bytes - size])
            size += len(block)
            if size > policy.output_bytes:
                kill(
                    Violation(
                        limit="output_size", detail=f"{which} passed {policy.output_bytes} bytes"
                    )
                )
        return b"".join(chunks)

    assert process.stdout is not None and process.stderr is not None
    readers = asyncio.gather(read(process.stdout, "stdout"), read(process.stderr, "stderr"))
    try:
        # The main process's exit, not the pipes' closing: a stray that escaped the session
        # and holds stdout open must not stretch the job past its wall clock.
        if not await _exited(process.pid, policy.wall_s):
            kill(Violation(limit="wall_time", detail=f"still running after {policy.wall_s:g} s"))
    except asyncio.CancelledError:
        kill(Violation(limit="wall_time", detail="cancelled"))
        raise
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # nothing of the job outlives it
        if launch.uid is not None:
            _kill_uid(launch.uid)
    try:
        out, err = await asyncio.wait_for(readers, timeout=2)
    except TimeoutError:  # a stray we could not reach holds the pipes (a non-root worker)
        transport = process._transport  # type: ignore[attr-defined]
        transport.close()
        out, err = b"", b"(output lost: a process that left the job kept its pipes open)"
    code = await process.wait()
    ended = time.time_ns()
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    violation = killed[0] if killed else _limit_hit(code, exit_offset, stderr, policy)
    if killed and killed[0].limit == "wall_time" and _forking_failed(stderr):
        violation = Violation(
            limit="processes",
            detail=f"could not start more than {policy.processes} processes, then "
            + killed[0].detail,
        )
    exit_code = None if (killed or code < 0 or (exit_offset and code > exit_offset)) else code
    return _Outcome(exit_code, stdout, stderr, ended, violation)


async def _exited(pid: int, within_s: float) -> bool:
    """Whether process ``pid`` ended within ``within_s`` seconds (watched through a pidfd)."""
    loop = asyncio.get_running_loop()
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    ended: asyncio.Future[bool] = loop.create_future()

    def readable() -> None:
        if not ended.done():
            ended.set_result(True)

    loop.add_reader(fd, readable)
    try:
        await asyncio.wait_for(ended, timeout=within_s)
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def _limit_hit(code: int, offset: int, stderr: str, policy: SandboxPolicy) -> Violation | None:
    signum = -code if code < 0 else (code - offset if offset and code > offset else 0)
    if signum == signal.SIGXCPU or (signum == signal.SIGKILL and "CPU" in stderr):
        return Violation(limit="cpu_time", detail=f"used more than {policy.cpu_s} s of CPU")
    if signum == signal.SIGXFSZ:
        return Violation(limit="file_size", detail=f"wrote a file over {policy.file_bytes} bytes")
    if "File too large" in stderr:
        return Violation(limit="file_size", detail=f"wrote a file over {policy.file_bytes} bytes")
    if code != 0 and ("MemoryError" in stderr or "Cannot allocate memory" in stderr):
        return Violation(limit="memory", detail=f"needed more than {policy.memory_mb} MB")
    if _forking_failed(stderr):
        return Violation(limit="processes", detail=f"tried more than {policy.processes} processes")
    if signum == signal.SIGKILL:
        return Violation(limit="memory", detail="killed by the kernel (out of memory)")
    return None


def _forking_failed(stderr: str) -> bool:
    return any(
        sign in stderr
        for sign in ("Resource temporarily unavailable", "can't fork", "Cannot fork", "fork: retry")
    )


def _collect(
    workdir: Path, patterns: Sequence[str], budget: int
) -> tuple[list[Artifact], Violation | None]:
    """Regular files under ``workdir`` matching ``patterns``.

    Walked through directory descriptors and opened relative to them with ``O_NOFOLLOW``: a
    symbolic link is never followed, whether it was there from the start or swapped in for a
    directory while the walk ran, so nothing outside the work directory is ever read.
    """
    artifacts: list[Artifact] = []
    spent, skipped = 0, 0
    for dirpath, dirnames, filenames, dir_fd in os.fwalk(workdir, follow_symlinks=False):
        dirnames.sort()
        for filename in sorted(filenames):
            name = os.path.relpath(os.path.join(dirpath, filename), workdir)
            if not any(fnmatch.fnmatch(name, p) for p in patterns):
                continue
            try:
                fd = os.open(filename, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
            except OSError:
                continue  # a symlink (to /etc/shadow, say), or gone
            with os.fdopen(fd, "rb") as handle:
                info = os.fstat(handle.fileno())
                if not stat.S_ISREG(info.st_mode):
                    continue  # a device or a pipe: never read
                data: bytes | None = None
                if spent + info.st_size <= budget:
                    data = handle.read(budget - spent + 1)[: budget - spent]
                    spent += len(data)
                else:
                    skipped += 1
            artifacts.append(
                Artifact(
                    name=name,
                    size=info.st_size,
                    sha256=hashlib.sha256(data).hexdigest() if data is not None else "",
                    media_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
                    data_b64=base64.b64encode(data).decode() if data is not None else None,
                )
            )
    violation = (
        Violation(limit="artifacts", detail=f"{skipped} files over the {budget}-byte budget")
        if skipped
        else None
    )
    return artifacts, violation


def _kill_uid(uid: int) -> None:
    """Kill every process running as the job's uid, until none is left (a stray may fork
    while the scan runs; the process limit bounds how often)."""
    for _ in range(100):
        found = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    os.kill(int(entry), signal.SIGKILL)
                    found = True
        if not found:
            return
