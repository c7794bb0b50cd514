"""What a model is told about an agent apart from the conversation, stored once by content.

An agent's instructions, tool schemas and script are most of a run's bytes when they travel in
every model call and in the resolved specs. ``specs.resolve`` stores each agent's
``AgentPrompt`` in the workers' shared store under its content address and records only that
address (``ResolvedSpecs.prompts``); model calls carry a ``PromptRef``. The guardrails, tool
parameters, limits and the rest of each spec stay whole in history: the workflow governs from
them and must never read a store. Pure: the workflow imports this module.
"""

from __future__ import annotations

from pydantic import Field

from duragent._guardrails import Rule
from duragent._messages import ResolvedSpecs, ToolSchema, ToolSpec
from duragent._names import HANDOFF_PREFIX
from duragent._spec import AgentSpec, ScriptRule
from duragent._transcript import content_digest
from duragent._wire import Wire


class AgentPrompt(Wire):
    """The model-facing part of one agent's spec."""

    agent: str
    instructions: str = ""
    tools: list[ToolSchema] = Field(default_factory=list)
    """The agent's tools, then a ``transfer_to_<agent>`` schema per handoff."""
    script: list[ScriptRule] = Field(default_factory=list)

    def digest(self) -> str:
        """Its content address (``sha256:<hex>`` of its JSON)."""
        return content_digest(self.model_dump_json())


def tool_schema(tool: ToolSpec) -> ToolSchema:
    """What a model is told about a tool."""
    return ToolSchema(name=tool.name, description=tool.description, parameters=tool.parameters)


def handoff_schema(target: AgentSpec) -> ToolSchema:
    """What a model is told about handing the conversation off to ``target``."""
    return ToolSchema(
        name=f"{HANDOFF_PREFIX}{target.name}",
        description=f"Hand the conversation off to {target.name}. {target.description}".strip(),
        parameters={"type": "object", "properties": {}, "additionalProperties": False},
    )


def agent_prompt(specs: ResolvedSpecs, name: str) -> AgentPrompt:
    """The prompt of agent ``name``, from whole (not compacted) specs."""
    agent = specs.agents[name]
    tools = [tool_schema(specs.tools[tool]) for tool in agent.tools]
    tools += [handoff_schema(specs.agents[target]) for target in agent.handoffs]
    return AgentPrompt(
        agent=name, instructions=agent.instructions, tools=tools, script=agent.script
    )


def stand_in_script() -> list[ScriptRule]:
    """What a compacted spec holds in place of a script: one rule, since a spec for the
    ``scripted`` model must have one. Nothing runs it; were a worker that predates prompt
    references ever to, the run's answer would say so instead of something made up."""
    return [ScriptRule(say="[script stored by reference; upgrade this worker to read it]")]


def compact(specs: ResolvedSpecs, prompts: dict[str, str]) -> ResolvedSpecs:
    """``specs`` without the parts ``prompts`` (agent name to prompt address) hold, and with
    each distinct guardrail rule once (``ResolvedSpecs.rules``)."""
    rules: list[Rule] = []
    agent_rules: dict[str, list[int]] = {}
    for name, agent in specs.agents.items():
        positions = agent_rules[name] = []
        for rule in agent.guardrails:
            if rule not in rules:
                rules.append(rule)
            positions.append(rules.index(rule))
    agents = {
        name: agent.model_copy(
            update={
                "instructions": "",
                "script": stand_in_script() if agent.script else [],
                "guardrails": [],
            }
        )
        for name, agent in specs.agents.items()
    }
    return specs.model_copy(
        update={
            "agents": agents,
            "prompts": dict(prompts),
            "rules": rules,
            "agent_rules": agent_rules,
        }
    )


def with_rules(specs: ResolvedSpecs) -> ResolvedSpecs:
    """Compacted specs with every agent's guardrails back in place (what the workflow governs
    from); other specs unchanged. Pure and idempotent: replays and continue-as-new redo it."""
    if not specs.agent_rules:
        return specs
    agents = {
        name: agent.model_copy(
            update={"guardrails": [specs.rules[i] for i in specs.agent_rules[name]]}
        )
        for name, agent in specs.agents.items()
    }
    return specs.model_copy(update={"agents": agents})
