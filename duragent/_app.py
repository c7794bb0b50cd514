"""``App``: the agents and tools a worker serves, checked against each other at construction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from duragent._approvals import normalize_identity
from duragent._loader import load_agents
from duragent._messages import ResolvedSpecs, ToolSpec
from duragent._spec import AgentSpec, caller_file
from duragent._tool import Tool
from duragent.errors import SpecError
from duragent.eval import ScorerFunction, ScorerRegistry


class App:
    """The registry a worker serves: ``App(agents=[...], tools=[...], approvers={...})``.

    ``approvers`` maps each approver's name to their roles; rules and review policies name
    approvers or roles. (Approvers' signing keys are worker configuration, never part of the app.)

    ``scorers`` are the Python scorers evaluation datasets name (``type: python``): a
    ``duragent.eval.ScorerRegistry`` or a mapping of names to ``fn(case, result)``.

    ``agents`` may be specs, or paths of YAML spec files. Construction fails with a ``SpecError``
    if an agent names a tool, handoff or delegate the app does not have; it names the YAML file
    or the Python module where the agent (or, for the app's own lists, the app) was written.
    """

    def __init__(
        self,
        *,
        agents: Iterable[AgentSpec | str | Path],
        tools: Iterable[Tool] = (),
        approvers: Mapping[str, Iterable[str]] | None = None,
        scorers: ScorerRegistry | Mapping[str, ScorerFunction] | None = None,
        name: str = "app",
    ) -> None:
        self.name = name
        module = caller_file()
        self._approvers = {who: sorted(set(roles)) for who, roles in (approvers or {}).items()}
        seen: dict[str, str] = {}
        for who in self._approvers:
            same = seen.setdefault(normalize_identity(who), who)
            if same != who:
                raise SpecError(
                    f"approvers {same!r} and {who!r} are one person once names are normalized "
                    "(case, Unicode, spaces); list each approver once",
                    file=module,
                    field="approvers",
                )
        specs: list[AgentSpec] = []
        for index, item in enumerate(agents):
            if isinstance(item, AgentSpec):
                specs.append(item)
            elif isinstance(item, str | Path):
                specs.extend(load_agents(item))
            else:
                raise SpecError(
                    f"a {type(item).__name__} is not an agent; list Agent(...) specs or paths of "
                    "YAML spec files",
                    file=module,
                    field=f"agents[{index}]",
                )
        self._agents: dict[str, AgentSpec] = {}
        for spec in specs:
            if spec.name in self._agents:
                raise SpecError(
                    "two agents have this name; agent names must be unique in an app",
                    file=spec.source,
                    agent=spec.name,
                    field="name",
                )
            self._agents[spec.name] = spec
        self._tools: dict[str, Tool] = {}
        for t in tools:
            if not isinstance(t, Tool):
                raise SpecError(
                    f"{t!r} is not a tool; decorate the function with @duragent.tool",
                    file=module,
                    field="tools",
                )
            if t.name in self._tools:
                raise SpecError(
                    f"two tools are named {t.name!r}; tool names must be unique", file=module
                )
            self._tools[t.name] = t
        for spec in specs:
            self._check_references(spec)
        self._resolved: dict[str, ResolvedSpecs] = {}
        if isinstance(scorers, ScorerRegistry):
            self.scorers = scorers
        else:
            self.scorers = ScorerRegistry()
            for scorer_name, fn in (scorers or {}).items():
                if not callable(fn):
                    raise SpecError(
                        f"scorer {scorer_name!r} is a {type(fn).__name__}, not a function; "
                        "give fn(case, result) returning a Score, a bool or a number from 0 to 1",
                        file=module,
                        field="scorers",
                    )
                self.scorers.register(scorer_name, fn)

    def _check_references(self, spec: AgentSpec) -> None:
        def fail(field: str, index: int, message: str) -> None:
            raise SpecError(message, file=spec.source, agent=spec.name, field=f"{field}[{index}]")

        for i, name in enumerate(spec.tools):
            if name not in self._tools:
                fail("tools", i, f"unknown tool {name!r}; {_known('tools', self._tools)}")
        for field in ("handoffs", "delegates"):
            for i, name in enumerate(getattr(spec, field)):
                if name not in self._agents:
                    fail(field, i, f"unknown agent {name!r}; {_known('agents', self._agents)}")

    @property
    def agents(self) -> dict[str, AgentSpec]:
        return dict(self._agents)

    @property
    def tools(self) -> dict[str, Tool]:
        return dict(self._tools)

    def agent(self, name: str) -> AgentSpec:
        try:
            return self._agents[name]
        except KeyError:
            raise SpecError(f"unknown agent {name!r}; {_known('agents', self._agents)}") from None

    def tool(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise SpecError(f"unknown tool {name!r}; {_known('tools', self._tools)}") from None

    def resolve(self, entry: str) -> ResolvedSpecs:
        """The entry agent and every agent reachable by handoff or delegation, with hashes.

        Worked out once per entry agent: an app does not change once built, and every run
        resolves its specs (tool schemas and spec hashes are not free).
        """
        resolved = self._resolved.get(entry)
        if resolved is None:
            resolved = self._resolved[entry] = self._resolve(entry)
        return resolved

    def _resolve(self, entry: str) -> ResolvedSpecs:
        reachable: dict[str, AgentSpec] = {}
        todo = [entry]
        while todo:
            name = todo.pop()
            if name in reachable:
                continue
            spec = self.agent(name)
            reachable[name] = spec
            todo.extend(spec.handoffs)
            todo.extend(spec.delegates)
        tools: dict[str, ToolSpec] = {}
        for spec in reachable.values():
            for tool_name in spec.tools:
                tools[tool_name] = self._tools[tool_name].spec
        return ResolvedSpecs(
            entry=entry,
            agents=reachable,
            hashes={name: spec.spec_hash() for name, spec in reachable.items()},
            tools=tools,
            approvers=dict(self._approvers),
            delegation=True,
            failover_memory=True,
        )

    @property
    def approvers(self) -> dict[str, list[str]]:
        """Approver name to roles: who may decide steps whose rules name roles."""
        return dict(self._approvers)


def _known(kind: str, names: Mapping[str, object]) -> str:
    listed = ", ".join(sorted(names))
    return f"known {kind}: {listed}" if listed else f"this app has no {kind}"
