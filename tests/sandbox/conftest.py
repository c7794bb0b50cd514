"""What the escape battery attacks: a worker's host with things a job must never reach.

``host`` plants them for each test: a TCP listener on the host's loopback (a stand-in for any
local service), the session's real Temporal frontend, an abstract and a file-system unix
socket, a worker config file holding a secret (world-readable, so only the sandbox's view of
the file system can keep it out), the same secret in the worker's environment, and a
bystander process. ``strong`` and ``any_backend`` give the backends under test; a backend that
cannot run here is skipped with its reason, except bwrap under CI, which installs it.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from duragent.activities.sandbox import BACKENDS, Backend
from duragent.activities.sandbox._runner import UID_BASE, UID_POOL
from tests.sandbox.attempts import Host

REPO = Path(__file__).resolve().parents[2]
STRONG = ["bwrap", "docker"]
ALL = [*STRONG, "subprocess"]


def _is_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


@functools.cache
def _unavailable(name: str) -> str | None:
    return BACKENDS[name]().available()


def open_or_skip(name: str, root: Path) -> Backend:
    """Backend ``name`` with its work directories under ``root``, or the test skipped."""
    why = _unavailable(name)
    if why is not None:
        if name == "bwrap" and _is_ci():
            pytest.fail(f"bwrap cannot run: {why}; .ci/run installs bubblewrap, so CI must have it")
        pytest.skip(f"{name} backend: {why}")
    return BACKENDS[name](root=root)


@pytest.fixture
def jobs_root() -> Iterator[Path]:
    """Where the backend makes work directories: open to the job uid, checked after a test."""
    root = Path(tempfile.mkdtemp(prefix="duragent-jobs-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def root_only_secret() -> Iterator[tuple[Path, str]]:
    """A file only root can read (0600 in a 0700 folder): the worker could, no job may."""
    folder = Path(tempfile.mkdtemp(prefix="duragent-secret-"))
    secret = "sk-root-only-" + folder.name
    (folder / "f").write_text(secret)
    (folder / "f").chmod(0o600)
    folder.chmod(0o700)
    yield folder, secret
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=STRONG)
def strong(request: pytest.FixtureRequest, jobs_root: Path) -> Backend:
    """Each backend that claims strong isolation."""
    return open_or_skip(request.param, jobs_root)


@pytest.fixture(params=ALL)
def any_backend(request: pytest.FixtureRequest, jobs_root: Path) -> Backend:
    """Every backend, the weak one included: for the resource limits all of them promise."""
    return open_or_skip(request.param, jobs_root)


@pytest.fixture
def host(client: Client, jobs_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Host]:
    secret = f"sk-planted-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("DURAGENT_DATABASE_URL", f"postgresql://worker:{secret}@db/duragent")
    exposed = Path(tempfile.mkdtemp(prefix="duragent-host-"))
    exposed.chmod(0o755)  # nothing but the sandbox stands between a job and these
    config = exposed / "worker.env"
    config.write_text(f"OPENAI_API_KEY={secret}\n")
    config.chmod(0o644)
    listener = socket.create_server(("127.0.0.1", 0))
    abstract = socket.socket(socket.AF_UNIX)
    abstract_name = f"duragent-escape-{uuid.uuid4().hex}"
    abstract.bind(f"\0{abstract_name}")
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(exposed / "worker.sock"))
    (exposed / "worker.sock").chmod(0o777)
    for server in (abstract, unix):
        server.listen()
    address, port = client.service_client.config.target_host.rsplit(":", 1)
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        yield Host(
            port=listener.getsockname()[1],
            temporal=[socket.gethostbyname(address), int(port)],
            abstract=abstract_name,
            unix_socket=str(exposed / "worker.sock"),
            config=str(config),
            secret=secret,
            needle=secret[: len("sk-planted-")],
            token=f"duragent-escape-{uuid.uuid4().hex[:12]}",
            worker_pid=os.getpid(),
            bystander_pid=bystander.pid,
            repo=str(REPO),
            home=str(Path.home()),
            site_packages=sysconfig.get_paths()["purelib"],
            prefixes=_python_prefixes(),
            jobs_root=str(jobs_root),
        )
    finally:
        bystander.kill()
        bystander.wait()
        for server in (listener, abstract, unix):
            server.close()
        shutil.rmtree(exposed, ignore_errors=True)


def _python_prefixes() -> list[str]:
    found = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    found.add(os.path.dirname(os.path.realpath(sys.executable)))
    return sorted(found)


def job_processes(since: float = 0.0) -> dict[int, list[str]]:
    """Live processes running as a job uid, by uid, started after ``since`` (seconds since
    boot). Only a root worker gives jobs uids of their own; otherwise this is empty."""
    if os.geteuid() != 0:
        return {}
    found: dict[int, list[str]] = {}
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            started = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[19])
        except (OSError, IndexError, ValueError):
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        uid = int(fields.get("Uid", "0").split()[0])
        if fields.get("State", "").startswith("Z") or started / ticks < since:
            continue  # dead and waiting to be reaped, or older than the test
        if UID_BASE <= uid < UID_BASE + UID_POOL:
            found.setdefault(uid, []).append(f"{entry} {fields.get('Name', '').strip()}")
    return found


def _uptime() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


@pytest.fixture(autouse=True)
def _nothing_outlives_the_job() -> Iterator[None]:
    """After every test: no process started during it still runs as a job uid (a fork bomb's,
    say). Another sandbox worker busy on this host at the same time could trip it: CI has none.
    """
    began = _uptime() - 1
    yield
    deadline = time.monotonic() + 2.0
    while (left := job_processes(began)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"job processes outlived their job: {left}"


def dump(result: object) -> str:
    """A result, readable in an assertion message."""
    model_dump = getattr(result, "model_dump", None)
    return json.dumps(model_dump(exclude={"artifacts"}) if model_dump else str(result), indent=1)
