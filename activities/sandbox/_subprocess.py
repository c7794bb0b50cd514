"""The ``subprocess`` backend: rlimits, a timeout and an unprivileged uid, and nothing else.

Weak isolation, said so in every result (no_new_privs is all it adds to the uid and limits): the job shares the host's network, filesystem (all the
worker's user can read), process table and environment of the host (its own environment is
cleared). For development machines without bubblewrap, and jobs whose policy only prefers
isolation; a policy that requires it is refused.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from duragent._sandbox import SandboxJob
from duragent.activities.sandbox._runner import Backend, Launch, SandboxUnavailable


class SubprocessBackend(Backend):
    name = "subprocess"
    isolation = "weak"

    def check(self, job: SandboxJob) -> None:
        # As root, jobs run as their own uid, which must be able to reach the interpreter.
        if job.python is not None and os.geteuid() == 0:
            blocked = _unreachable(Path(sys.executable))
            if blocked is not None:
                raise SandboxUnavailable(
                    f"the subprocess backend runs jobs as an unprivileged uid, which cannot "
                    f"reach this worker's Python ({blocked} is not open to other users); "
                    "install Python where every user can read it, or use the bwrap backend"
                )

    def wrap(self, launch: Launch) -> list[str]:
        # no_new_privs: a setuid binary (su, passwd) cannot hand the job root.
        return ["/usr/bin/setpriv", "--no-new-privs", "--", *launch.argv]


def _unreachable(executable: Path) -> Path | None:
    """The first directory (or the file) on the way to ``executable`` others cannot pass."""
    resolved = executable.resolve()
    for path in [*reversed(resolved.parents), resolved]:
        if not path.stat().st_mode & stat.S_IXOTH:
            return path
    return None
