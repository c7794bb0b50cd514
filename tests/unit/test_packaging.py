"""The installed distribution holds one top-level package, ``duragent`` (issue 13).

A user's project has its own ``workflows``, ``activities`` and ``workers`` packages (Temporal's
samples use that layout); nothing duragent installs may shadow them.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
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
