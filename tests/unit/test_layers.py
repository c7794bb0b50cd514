"""The layers of duragent, checked on the source: who may import whom.

::

    pure core      duragent's top-level modules in CORE: specs, tools, messages, guardrails, ...
                   no I/O library and no subpackage at import time, so the workflow sandbox,
                   a client and every worker can load them
    workflows      temporalio's workflow API, pydantic and the pure core: deterministic code only
    activities     all I/O; never the workers that build them nor the workflows that call them
    workers        build workers from activities and workflows
    cli, audit, report, mock_llm, encryption, examples: edges that use the above

Across packages only public names are used: a package that needs another's private module
makes the other package export it (from its ``__init__`` or a public module) instead.

Each check reads the AST, so it costs no imports and sees imports inside functions too. Imports
under ``if TYPE_CHECKING:`` never run, so only the private-module rule looks at them.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {
    "duragent": ROOT / "duragent",
    "duragent.workflows": ROOT / "workflows",
    "duragent.activities": ROOT / "activities",
    "duragent.workers": ROOT / "workers",
}

CORE = frozenset(
    f"duragent.{name}"
    for name in (
        "_app",
        "_approvals",
        "_coerce",
        "_comparisons",
        "_conditions",
        "_contracts",
        "_guardrails",
        "_loader",
        "_messages",
        "_names",
        "_prompt",
        "_pii",
        "_redact",
        "_sandbox",
        "_scripted",
        "_spec",
        "_stores",
        "_summary",
        "_telemetry",
        "_tokens",
        "_tool",
        "_transcript",
        "_vocab",
        "_wire",
        "approval_tokens",
        "errors",
        "pricing",
        "settings",
        # evaluation: datasets, scoring and summaries run inside the EvalRun workflow
        "eval",
        "eval._dataset",
        "eval._jsonschema",
        "eval._report",
        "eval._requests",
        "eval._scorer_specs",
        "eval._scorers",
    )
)
"""The pure core. A new top-level module must be put here or in EDGE; so must a subpackage's
module that workflows import (``duragent.eval``: its ``_files`` writes reports, an edge)."""
EDGE = frozenset(
    f"duragent.{name}"
    for name in (
        "_sqlite",  # shared SQLite files: I/O, for the audit log and the transcript store
        "client",  # a Temporal client
        "eval._files",  # writes an evaluation's report files (and draws with matplotlib)
        "logging",  # process-wide logging set-up
        "plugin",  # the Temporal worker/client plugin
        "testing",  # the test harness: mock LLM server, embedded worker
    )
)
SUBPACKAGES = frozenset(
    f"duragent.{name}"
    for name in (
        "activities",
        "audit",
        "cli",
        "encryption",
        "eval",
        "examples",
        "mock_llm",
        "report",
        "workers",
        "workflows",
    )
)
IO_LIBRARIES = frozenset(
    {"anthropic", "httpx", "openai", "psycopg", "socket", "sqlite3", "starlette", "subprocess"}
    | {"uvicorn"}
)
WORKFLOW_TEMPORAL = ("temporalio.workflow", "temporalio.common", "temporalio.exceptions")
WORKFLOW_STDLIB_FORBIDDEN = IO_LIBRARIES | {"os", "random", "threading", "time", "uuid"}
"""Standard-library modules a workflow must not use: ``workflow.now()``, ``workflow.uuid4()``
and ``workflow.random()`` replace them; the rest is I/O."""


@dataclass(frozen=True)
class Import:
    line: int
    target: str
    """The module imported, absolute (``from a import b`` names ``a.b`` when it is a module)."""
    module_level: bool
    """Runs when the importing module is imported: not inside a function."""
    type_checking: bool


@dataclass(frozen=True)
class Module:
    name: str
    path: Path

    @property
    def shown(self) -> str:
        return str(self.path.relative_to(ROOT))

    @property
    def package(self) -> str:
        """The subpackage this module belongs to, or ``duragent`` for a top-level module."""
        parts = self.name.split(".")
        top = ".".join(parts[:2])
        return top if top in SUBPACKAGES else "duragent"


def _modules() -> list[Module]:
    found = []
    for package, folder in SOURCES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if package == "duragent" and parts[0] in {"workflows", "activities", "workers"}:
                continue  # not there; defensive against a stray copy
            name = ".".join((package, *parts))
            found.append(Module(name.removesuffix(".__init__"), path))
    return found


MODULES = _modules()
KNOWN = {m.name for m in MODULES} | {"duragent"}


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.name.split(".")
    if module.path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imports(module: Module) -> Iterator[Import]:
    tree = ast.parse(module.path.read_text(encoding="utf-8"), filename=str(module.path))

    def visit(node: ast.AST, module_level: bool, type_checking: bool) -> Iterator[Import]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(node.lineno, alias.name, module_level, type_checking)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                inside = sub in KNOWN or not base.startswith("duragent")
                yield Import(node.lineno, sub if inside else base, module_level, type_checking)
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                yield from visit(child, module_level, True)
            for child in node.orelse:
                yield from visit(child, module_level, type_checking)
        else:
            nested = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            for child in ast.iter_child_nodes(node):
                yield from visit(child, module_level and not nested, type_checking)

    yield from visit(tree, True, False)


def _within(target: str, prefixes: Any) -> bool:
    return any(target == p or target.startswith(f"{p}.") for p in prefixes)


def _fail(module: Module, problems: list[str], rule: str) -> None:
    if problems:
        listed = "\n  ".join(dict.fromkeys(problems))  # one line for ``from a import b, c``
        pytest.fail(f"{module.shown} {rule}:\n  {listed}", pytrace=False)


def _params(modules: list[Module], known: dict[str, str]) -> list[Any]:
    """One case per module; a module listed in ``known`` is expected to fail (strictly: once
    fixed, the stale entry fails the test and must go)."""
    assert set(known) <= {m.shown for m in modules}, set(known) - {m.shown for m in modules}
    return [
        pytest.param(
            m,
            id=m.shown,
            marks=pytest.mark.xfail(strict=True, reason=known[m.shown]) if m.shown in known else (),
        )
        for m in modules
    ]


def test_every_top_level_module_is_core_or_edge() -> None:
    top = {m.name for m in MODULES if m.package == "duragent"} - {"duragent"}
    unplaced = sorted(top - CORE - EDGE)
    assert not unplaced, f"put {unplaced} in CORE or EDGE of {Path(__file__).name}"
    missing = sorted(CORE - KNOWN)
    assert not missing, f"CORE names modules that do not exist: {missing}"


# -- (a) the pure core -------------------------------------------------------------------------

CORE_MODULES = [m for m in MODULES if m.name in CORE or m.name == "duragent"]
"""With the package itself: what ``import duragent`` runs must be pure too (the names it
loads on first use, from its ``__getattr__``, are not imported at module level)."""


@pytest.mark.parametrize("module", _params(CORE_MODULES, {}))
def test_core_imports_no_subpackage_and_no_io(module: Module) -> None:
    problems = []
    for imp in _imports(module):
        if not imp.module_level or imp.type_checking:
            continue  # runs only when called: the caller pays for it
        if imp.target.startswith("duragent") and not _within(imp.target, CORE | {"duragent"}):
            problems.append(f"line {imp.line}: imports {imp.target} (not pure core)")
        elif _within(imp.target, IO_LIBRARIES):
            problems.append(f"line {imp.line}: imports {imp.target} (I/O)")
    _fail(module, problems, "is pure core; import these inside the function that needs them")


# -- (b) workflows -----------------------------------------------------------------------------

WORKFLOW_MODULES = [m for m in MODULES if m.package == "duragent.workflows"]


def _workflow_may_import(target: str) -> bool:
    if target.startswith("duragent"):
        return _within(target, CORE | {"duragent.workflows"})
    if target.startswith("temporalio"):
        return _within(target, WORKFLOW_TEMPORAL)
    root = target.split(".")[0]
    if root in {"pydantic", "__future__"}:
        return True
    return root in sys.stdlib_module_names and root not in WORKFLOW_STDLIB_FORBIDDEN


@pytest.mark.parametrize("module", _params(WORKFLOW_MODULES, {}))
def test_workflows_import_only_the_workflow_api_pydantic_and_the_core(module: Module) -> None:
    problems = [
        f"line {imp.line}: imports {imp.target}"
        for imp in _imports(module)
        if not imp.type_checking and not _workflow_may_import(imp.target)
    ]
    _fail(
        module,
        problems,
        "is workflow code: temporalio.workflow/common/exceptions, pydantic, the pure core "
        "and deterministic standard-library modules only",
    )


# -- (c) only public names across packages -----------------------------------------------------

KNOWN_PRIVATE_REACH: dict[str, str] = {}
"""Owned by others; each reason says what the fix is. Strict xfail: a fixed one fails until
its entry goes."""


def _private_elsewhere(module: Module, target: str) -> bool:
    parts = target.split(".")
    other = ".".join(parts[:2])
    if other not in SUBPACKAGES or other == module.package:
        return False
    return any(part.startswith("_") for part in parts[2:])


@pytest.mark.parametrize("module", _params(MODULES, KNOWN_PRIVATE_REACH))
def test_no_package_imports_another_packages_private_module(module: Module) -> None:
    problems = [
        f"line {imp.line}: imports {imp.target}"
        for imp in _imports(module)
        if _private_elsewhere(module, imp.target)
    ]
    _fail(
        module,
        problems,
        "reaches into another package's private module; have that package export the name "
        "(from its __init__ or a public module) and import it from there",
    )


# -- (d) activities below workers and workflows ------------------------------------------------

ACTIVITY_MODULES = [m for m in MODULES if m.package == "duragent.activities"]


@pytest.mark.parametrize("module", _params(ACTIVITY_MODULES, {}))
def test_activities_import_neither_workers_nor_workflows(module: Module) -> None:
    problems = [
        f"line {imp.line}: imports {imp.target}"
        for imp in _imports(module)
        if not imp.type_checking and _within(imp.target, ("duragent.workers", "duragent.workflows"))
    ]
    _fail(module, problems, "is an activity; workers build activities, never the reverse")


# -- the checker itself ------------------------------------------------------------------------


def test_the_checker_sees_what_it_must(tmp_path: Path) -> None:
    source = tmp_path / "_probe.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "import sqlite3\n"
        "from . import _common\n"
        "from duragent.workers import _devserver\n"
        "if TYPE_CHECKING:\n"
        "    import openai\n"
        "def f():\n"
        "    import httpx\n",
        encoding="utf-8",
    )
    probe = Module("duragent.cli._probe", source)
    found = {(i.target, i.module_level, i.type_checking) for i in _imports(probe)}
    assert ("sqlite3", True, False) in found
    assert ("duragent.cli._common", True, False) in found
    assert ("duragent.workers._devserver", True, False) in found
    assert ("openai", True, True) in found
    assert ("httpx", False, False) in found
    assert _private_elsewhere(probe, "duragent.workers._devserver")
    assert not _private_elsewhere(probe, "duragent._names")
    assert not _private_elsewhere(probe, "duragent.cli._common")
