"""mypy over the installed layout: ``python -m tools.typecheck [mypy args]`` (``make test`` runs it).

The repository keeps ``workflows/``, ``activities/``, ``workers/`` and ``examples/`` at its root,
but they install as ``duragent.workflows`` and so on (setuptools' ``package-dir``). mypy cannot
follow that mapping (an editable install reaches it through an import hook), so this builds the
installed shape from symlinks in ``.mypy_tree/`` and checks that, reporting errors at the
repository's own paths.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / ".mypy_tree"
MAPPED = ("workflows", "activities", "workers", "examples")


def build() -> Path:
    package = TREE / "duragent"
    shutil.rmtree(TREE, ignore_errors=True)
    package.mkdir(parents=True)
    for entry in (ROOT / "duragent").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for name in MAPPED:
        (package / name).symlink_to(ROOT / name)
    return TREE


def main(argv: list[str]) -> int:
    tree = build()
    command = [
        sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
        "--cache-dir", str(ROOT / ".mypy_cache"), *argv,
    ]  # fmt: skip
    done = subprocess.run(command, cwd=tree, capture_output=True, text=True)
    out = done.stdout + done.stderr
    for name in MAPPED:
        out = out.replace(f"duragent{os.sep}{name}{os.sep}", f"{name}{os.sep}")
    sys.stdout.write(out)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
