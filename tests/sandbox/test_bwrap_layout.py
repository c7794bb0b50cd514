"""Where the worker's Python lives decides what bwrap must bind: a virtualenv anywhere works."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from duragent._sandbox import SandboxJob, SandboxPolicy
from duragent.activities.sandbox import _bwrap
from tests.sandbox.conftest import dump, open_or_skip


@pytest.fixture
def venv_in_tmp() -> Iterator[Path]:
    """A virtualenv under /tmp, where a fresh clone's .venv often is (and the job's private
    /tmp is mounted)."""
    with tempfile.TemporaryDirectory(prefix="duragent-venv-", dir="/tmp") as folder:
        venv = Path(folder) / "clone" / ".venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
        yield venv


async def test_a_python_in_a_virtualenv_under_tmp_runs(
    venv_in_tmp: Path, jobs_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = open_or_skip("bwrap", jobs_root)
    prefixes = [*_bwrap._python_prefixes(), str(venv_in_tmp)]
    monkeypatch.setattr(_bwrap, "_python_prefixes", lambda: prefixes)
    python = str(venv_in_tmp / "bin" / "python")

    result = await backend.run(
        SandboxJob(command=[python, "-c", "import sys; print(sys.prefix)"]), SandboxPolicy()
    )

    assert result.ok, dump(result)
    assert result.stdout.strip() == str(venv_in_tmp)
