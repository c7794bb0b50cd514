"""The ``bwrap`` backend: bubblewrap namespaces, the default on Linux.

What a job gets: its own PID, IPC, UTS, cgroup and network namespaces (no network but
its own loopback unless the policy allows it), a filesystem view of only the system's
read-only program directories and the worker's Python (never the worker's home, repository or
configuration), a private ``/tmp``, ``/proc`` and ``/dev``, no capabilities, no new user
namespaces and no foreign syscall ABIs (a seccomp filter, ``_seccomp``), a new session (no terminal to inject keystrokes into), and death with its parent.
It runs as an unprivileged uid (see ``_runner``), under rlimits.

What it does not get: protection against kernel exploits (namespaces share the host kernel),
a cap on memory across processes (RLIMIT_AS is per process; a cgroup would be needed), or a
cap on disk use in the work directory beyond the largest-file limit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from duragent.activities.sandbox._runner import Backend, Launch
from duragent.activities.sandbox._seccomp import program_fd

INSIDE = "/job"
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/alternatives",
    "/etc/mime.types",
    "/etc/fonts",
)


class BwrapBackend(Backend):
    name = "bwrap"
    isolation = "strong"
    exit_offset = 128  # bwrap exits with 128 + N when its child is killed by signal N
    drops_in_sandbox = True

    def __init__(self, *, root: Path | None = None, binary: str | None = None) -> None:
        super().__init__(root=root)
        self.binary = binary or shutil.which("bwrap") or "bwrap"

    def available(self) -> str | None:
        if not sys.platform.startswith("linux"):
            return "bubblewrap needs Linux"
        if shutil.which(self.binary) is None:
            return "bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
        probe = subprocess.run(
            [self.binary, "--ro-bind", "/", "/", "--unshare-all", "--", "/bin/true"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode != 0:
            return (
                f"bwrap cannot create namespaces here ({probe.stderr.strip()}); allow "
                "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1) or "
                "run the sandbox worker where it can"
            )
        return None

    def inside_path(self, workdir: Path) -> str:
        return INSIDE

    def wrap(self, launch: Launch) -> list[str]:
        # As root, bwrap builds the sandbox privileged and setpriv drops the job to its own
        # uid inside it: process limits bind (they never bind root) and no capability is
        # left. Otherwise bwrap runs unprivileged in a user namespace, as the worker's uid.
        privileged = launch.uid is not None
        args = [self.binary, "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
        args.append("--unshare-cgroup-try")
        if not launch.policy.network:
            args.append("--unshare-net")
        if privileged:
            args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        else:
            args += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
        seccomp = program_fd()
        if seccomp is not None:
            launch.pass_fds.append(seccomp)
            args += ["--seccomp", str(seccomp)]
        args += [
            "--die-with-parent",
            "--new-session",
            "--hostname",
            "sandbox",
            "--clearenv",
        ]
        for key, value in launch.env.items():
            args += ["--setenv", key, value]
        for path in _SYSTEM:
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                args += ["--ro-bind", path, path]
        for path in _ETC:
            if os.path.exists(path):
                args += ["--ro-bind", path, path]
        # The private mounts first: a Python under /tmp (a virtualenv there) is bound on top.
        args += [
            "--proc", "/proc",
            "--dev", "/dev",
            # tmpfs pages are host memory no rlimit counts: size them.
            "--perms", "1777", "--size", str(launch.policy.memory_mb << 20), "--tmpfs", "/tmp",
            "--perms", "1777", "--size", str(min(64, launch.policy.memory_mb) << 20),
            "--tmpfs", "/dev/shm",
        ]  # fmt: skip
        for prefix in _python_prefixes():
            for parent in reversed(Path(prefix).parents[:-1]):
                if str(parent) not in ("/tmp", "/dev"):
                    args += ["--perms", "0755", "--dir", str(parent)]  # not the host's 0700
            args += ["--ro-bind", prefix, prefix]
        args += [
            "--bind", str(launch.workdir), INSIDE,
            "--chdir", INSIDE,
            "--",
        ]  # fmt: skip
        if privileged:
            args += [
                "/usr/bin/setpriv", f"--reuid={launch.uid}", f"--regid={launch.uid}",
                "--clear-groups", "--inh-caps=-all", "--no-new-privs", "--",
            ]  # fmt: skip
        return [*args, *launch.argv]


def _python_prefixes() -> list[str]:
    """The worker's Python and its packages, outside the system directories already bound."""
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    prefixes.add(os.path.dirname(os.path.realpath(sys.executable)))
    outside = [p for p in prefixes if not any(p == s or p.startswith(s + "/") for s in _SYSTEM)]
    # A prefix inside another needs no bind of its own.
    return sorted(p for p in outside if not any(p.startswith(o + "/") for o in outside))
