"""The ``subprocess`` backend: rlimits, a timeout and an unprivileged uid, and nothing else.

Weak isolation, said so in every result: the job shares the host's network, filesystem (all the
worker's user can read), process table and environment of the host (its own environment is
cleared). For development machines without bubblewrap, and jobs whose policy only prefers
isolation; a policy that requires it is refused.
"""

from __future__ import annotations

from activities.sandbox._runner import Backend, Launch


class SubprocessBackend(Backend):
    name = "subprocess"
    isolation = "weak"

    def wrap(self, launch: Launch) -> list[str]:
        return list(launch.argv)
