"""What a user imports (issue 13): every public name, and what importing them costs.

``duragent`` is passed through Temporal's workflow sandbox, so it must stay pure; a client
process must not import the worker side (activities, provider SDKs). Each check runs in a fresh
interpreter: this test session has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import duragent

PUBLIC = [
    "ApprovalDecision",
    "ApprovalOutcome",
    "ApprovalRequest",
    "DuragentPlugin",
    "RunHandle",
    "RunRequest",
    "RunResult",
    "Settings",
    "connect",
    "start_run",
]
WIRE_ONLY = ["Message", "ModelRequest", "ModelResponse", "ResolvedSpecs", "ToolCallRequest"]
HEAVY = ("openai", "anthropic", "duragent.activities", "duragent.workflows", "opentelemetry.sdk")


def fresh(code: str) -> object:
    """Run ``code`` in a new interpreter; it prints one JSON value, returned here."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def loaded(prefixes: tuple[str, ...]) -> str:
    return (
        "import json, sys; print(json.dumps(sorted(m for m in sys.modules "
        f"if m.split('.')[0] in {prefixes!r} or m.startswith({prefixes!r}))))"
    )


@pytest.mark.parametrize("name", PUBLIC)
def test_each_public_name_imports_from_duragent(name: str) -> None:
    assert name in duragent.__all__
    assert getattr(duragent, name) is not None
    assert name in dir(duragent)


def test_the_child_workflow_helpers_are_public() -> None:
    from duragent.workflows import AgentRun, run_agent, start_agent

    assert callable(run_agent) and callable(start_agent) and AgentRun.__name__ == "AgentRun"


def test_the_testing_module_has_what_its_docstring_promises() -> None:
    import duragent.testing as testing

    for name in testing.__all__:
        assert getattr(testing, name) is not None
        assert f"``{name}" in (testing.__doc__ or ""), f"{name} is not documented"


def test_wire_types_stay_importable_but_out_of_all() -> None:
    for name in WIRE_ONLY:
        assert name not in duragent.__all__
        assert getattr(duragent, name) is not None


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        duragent.nope  # type: ignore[attr-defined]  # noqa: B018


def test_importing_duragent_imports_nothing_of_the_worker_or_client() -> None:
    modules = fresh("import duragent; " + loaded((*HEAVY, "duragent.workers", "duragent.client")))
    assert modules == []


def test_opening_a_client_imports_no_provider_sdk_and_no_activity() -> None:
    code = (
        "import duragent; duragent.connect; duragent.start_run; duragent.RunHandle; "
        "from duragent import Settings, ApprovalDecision; " + loaded(HEAVY)
    )
    assert fresh(code) == []


def test_the_plugin_loads_the_worker_side_only_when_built() -> None:
    code = "from duragent import DuragentPlugin; " + loaded(("openai", "duragent.activities"))
    assert fresh(code) == []
