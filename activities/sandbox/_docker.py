"""The ``docker`` backend: one throwaway container per job, through the Docker engine's CLI.

Same limits as ``bwrap`` plus what cgroups give: a memory cap across all the job's processes
(``--memory``), a process cap (``--pids-limit``), no network (``--network none``), a read-only
root filesystem, a private ``/tmp``, every capability dropped, ``no-new-privileges``, an
unprivileged user (65534). The image must carry the Python packages the jobs need; it is pinned
by the worker's setting (``DURAGENT_SANDBOX_IMAGE``), ideally by digest.

Startup costs a container (hundreds of milliseconds); bubblewrap is the default where it runs.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

from duragent.activities.sandbox._runner import Backend, Launch

DEFAULT_IMAGE = "python:3.11-slim"
INSIDE = "/job"


class DockerBackend(Backend):
    name = "docker"
    isolation = "strong"
    exit_offset = 128  # with --init, a child killed by signal N exits 128 + N
    drops_uid = False
    workdir_owner = 65534

    def __init__(self, *, root: Path | None = None, image: str = DEFAULT_IMAGE) -> None:
        super().__init__(root=root)
        self.image = image

    def available(self) -> str | None:
        if shutil.which("docker") is None:
            return "the docker CLI is not installed"
        probe = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode != 0:
            return f"no Docker engine answers ({probe.stderr.strip() or 'docker version failed'})"
        return None

    def inside_path(self, workdir: Path) -> str:
        return INSIDE

    def wrap(self, launch: Launch) -> list[str]:
        policy = launch.policy
        argv = list(launch.argv)
        if (argv and argv[0].endswith(("python", "python3"))) or "python3." in argv[0]:
            argv[0] = "python3"  # the image's interpreter, not the worker's path
        args = [
            "docker", "run", "--rm", "--init", "--name", f"duragent-{launch.name}",
            "--network", "bridge" if policy.network else "none",
            "--memory", f"{policy.memory_mb}m",
            "--memory-swap", f"{policy.memory_mb}m",
            "--pids-limit", str(policy.processes + 2),
            "--cpus", "1",
            "--read-only",
            "--tmpfs", "/tmp:rw,nosuid,nodev,size=64m",
            "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges",
            "--user", "65534:65534",
            "--ulimit", f"cpu={policy.cpu_s}",
            "--ulimit", f"fsize={policy.file_bytes}",
            "-v", f"{launch.workdir}:{INSIDE}:rw",
            "-w", INSIDE,
        ]  # fmt: skip
        for key, value in launch.env.items():
            args += ["-e", f"{key}={value}"]
        return [*args, self.image, *argv]

    async def cleanup(self, launch: Launch) -> None:
        # Killing the CLI does not stop its container; removing it does.
        process = await asyncio.create_subprocess_exec(
            "docker", "rm", "-f", f"duragent-{launch.name}",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await process.wait()
