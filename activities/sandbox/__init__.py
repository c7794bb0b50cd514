"""Sandbox backends: where a sandboxed tool's jobs run. Chosen per worker."""

from __future__ import annotations

from pathlib import Path

from duragent.activities.sandbox._bwrap import BwrapBackend
from duragent.activities.sandbox._docker import DockerBackend
from duragent.activities.sandbox._runner import Backend, SandboxUnavailable
from duragent.activities.sandbox._subprocess import SubprocessBackend
from duragent.errors import DuragentError

BACKENDS: dict[str, type[Backend]] = {
    "bwrap": BwrapBackend,
    "docker": DockerBackend,
    "subprocess": SubprocessBackend,
}


def open_backend(
    name: str = "auto", *, root: Path | None = None, image: str | None = None
) -> Backend:
    """The backend ``name`` (bwrap, docker, subprocess), checked to work here; ``auto`` is
    bwrap where it runs, else subprocess (weak isolation, refused by policies requiring it)."""
    if name == "auto":
        bwrap = BwrapBackend(root=root)
        return bwrap if bwrap.available() is None else SubprocessBackend(root=root)
    kind = BACKENDS.get(name)
    if kind is None:
        raise DuragentError(
            f"unknown sandbox backend {name!r}; use one of auto, {', '.join(BACKENDS)}"
        )
    backend = (
        DockerBackend(root=root, image=image)
        if kind is DockerBackend and image
        else kind(root=root)
    )
    why = backend.available()
    if why is not None:
        raise DuragentError(f"sandbox backend {name!r} cannot run here: {why}")
    return backend


__all__ = [
    "BACKENDS",
    "Backend",
    "BwrapBackend",
    "DockerBackend",
    "SandboxUnavailable",
    "SubprocessBackend",
    "open_backend",
]
