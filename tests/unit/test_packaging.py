"""The installed distribution holds one top-level package, ``duragent`` (issue 13).

A user's project has its own ``workflows``, ``activities`` and ``workers`` packages (Temporal's
samples use that layout); nothing duragent installs may shadow them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy: setuptools keeps a build/ folder in the source tree and never prunes
    # it, so a module deleted since the last build would still be in the wheel.
    source = tmp_path_factory.mktemp("source") / "duragent"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "*.egg-info", "__pycache__", ".*cache", ".mypy_tree",
            ".duragent", ".hypothesis", ".venv-*", "results",
        ),
    )  # fmt: skip
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (path,) = out.glob("duragent-*.whl")
    return path


def test_the_wheel_has_exactly_one_top_level_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"duragent"}, f"top-level entries besides duragent: {sorted(top - {'duragent'})}"


def test_the_layers_install_under_duragent(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in (
        "duragent/workflows/agent_run.py",
        "duragent/activities/_tools.py",
        "duragent/workers/_worker.py",
        "duragent/examples/customer_support/app.py",
        "duragent/examples/customer_support/agents.yaml",
        "duragent/examples/customer_support/prompts/info.md",
        "duragent/examples/data_analysis/agents.yaml",
    ):
        assert module in names, f"{module} missing from the wheel"
    assert not any(n.startswith(("tests/", "bench/", "tools/")) for n in names)
    # Every module in the wheel is one the repository has (nothing stale from an old build).
    for name in names:
        if name.endswith(".py"):
            parts = name.split("/")
            mapped = {"workflows", "activities", "workers", "examples"}
            path = Path(*parts[1:]) if len(parts) > 2 and parts[1] in mapped else Path(name)
            assert (ROOT / path).is_file(), f"{name} is in the wheel but not in the repository"
