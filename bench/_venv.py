"""The OpenAI Agents scenarios' own virtualenv, bench/.venv-openai-agents, made on first use.

``temporalio-openai-agents`` pins ``openai-agents`` 0.22.x, which duragent does not depend on,
so scenarios (b) and (e) run in a virtualenv of their own, with the same Python as duragent's.
A marker file records what was installed; a change of ``REQUIREMENTS`` reinstalls.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

VENV = Path(__file__).parent / ".venv-openai-agents"
REQUIREMENTS = ("temporalio-openai-agents==1.1.0",)
"""Pinned so figures compare across commits; it brings openai-agents 0.22.x and temporalio."""
_MARKER = VENV / ".bench-installed"


def python() -> Path:
    return VENV / "bin" / "python"


def ensure(log: bool = True) -> Path:
    """The virtualenv's Python, creating the virtualenv and installing into it if needed."""
    wanted = "\n".join(REQUIREMENTS)
    if _MARKER.exists() and _MARKER.read_text() == wanted and python().exists():
        return python()
    if log:
        print(f"bench: installing {', '.join(REQUIREMENTS)} into {VENV} (once)", file=sys.stderr)
    if not python().exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         *REQUIREMENTS],
        check=True,
    )  # fmt: skip
    _MARKER.write_text(wanted)
    return python()


def installed_versions() -> dict[str, str]:
    """Versions of the packages that matter, as the virtualenv has them."""
    script = (
        "import importlib.metadata as m, json; print(json.dumps({n: m.version(n) for n in "
        "('temporalio-openai-agents', 'openai-agents', 'temporalio', 'openai')}))"
    )
    out = subprocess.run([str(python()), "-c", script], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))
