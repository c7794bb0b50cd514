"""Specs load from Python and YAML; a bad spec fails at load naming file, agent and field."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest

from duragent import Agent, App, ModelRef, SpecError, load_agents, tool


@tool
def lookup_order(order_id: str) -> dict[str, str]:
    """Look up an order."""
    return {"order_id": order_id}


GOOD = """
agents:
  - name: support
    model: scripted/router
    instructions: {file: prompts/support.md}
    handoffs: [info]
    script:
      - when: order
        handoff: info
  - name: info
    model: openai/gpt-5.5
    fallbacks: [anthropic/claude-haiku-4-5]
    tools: [lookup_order]
    limits: {max_turns: 4, timeouts: {model_s: 30}}
"""


def write(tmp_path: Path, text: str, name: str = "agents.yaml") -> Path:
    (tmp_path / "prompts").mkdir(exist_ok=True)
    (tmp_path / "prompts" / "support.md").write_text("Route the user.\n")
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_yaml_spec_loads_with_instructions_file_and_hash(tmp_path: Path) -> None:
    agents = load_agents(write(tmp_path, GOOD))
    support, info = agents
    assert support.instructions == "Route the user.\n"
    assert support.instructions_file == "prompts/support.md"
    assert support.instructions_sha256 == hashlib.sha256(b"Route the user.\n").hexdigest()
    assert info.model == ModelRef(provider="openai", name="gpt-5.5")
    assert info.fallbacks[0].label == "anthropic/claude-haiku-4-5"
    assert info.limits.max_turns == 4 and info.limits.timeouts.model_s == 30
    app = App(agents=agents, tools=[lookup_order])
    resolved = app.resolve("support")
    assert set(resolved.agents) == {"support", "info"}
    assert resolved.tools["lookup_order"].parameters["required"] == ["order_id"]


def test_python_spec_equals_yaml_spec(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    from_yaml = load_agents(path)[0]
    from_python = Agent(
        name="support",
        model="scripted/router",
        instructions=tmp_path / "prompts" / "support.md",
        handoffs=["info"],
        script=[{"when": "order", "handoff": "info"}],
    )
    assert from_python.instructions == from_yaml.instructions
    assert from_python.instructions_sha256 == from_yaml.instructions_sha256


def test_spec_hash_changes_with_instructions(tmp_path: Path) -> None:
    a = Agent(name="a", model="openai/gpt-5.5", instructions="Be brief.")
    b = Agent(name="a", model="openai/gpt-5.5", instructions="Be thorough.")
    assert a.spec_hash() != b.spec_hash()
    assert (
        a.spec_hash()
        == Agent(name="a", model="openai/gpt-5.5", instructions="Be brief.").spec_hash()
    )


BAD_YAML = [
    # (what is wrong, yaml, agent named in the error, field named, words in the message)
    ("missing model", "agents:\n  - name: a\n", "a", "model", "required"),
    (
        "unknown field with a hint",
        "agents:\n  - name: a\n    model: openai/x\n    tool: [t]\n",
        "a",
        "tool",
        "did you mean 'tools'",
    ),
    (
        "wrong type",
        "agents:\n  - name: a\n    model: openai/x\n    limits: {max_turns: ten}\n",
        "a",
        "limits.max_turns",
        "integer",
    ),
    (
        "unknown provider",
        "agents:\n  - name: a\n    model: {provider: opena, name: x}\n",
        "a",
        "model.provider",
        "'openai'",
    ),
    (
        "model without provider",
        "agents:\n  - name: a\n    model: gpt-5\n",
        "a",
        "model",
        "provider/name",
    ),
    (
        "missing instructions file",
        "agents:\n  - name: a\n    model: openai/x\n    instructions: {file: nope.md}\n",
        "a",
        "instructions",
        "nope.md",
    ),
    (
        "bad agent name",
        "agents:\n  - name: 'Bad Name!'\n    model: openai/x\n",
        "Bad Name!",
        "name",
        "pattern",
    ),
    (
        "bad regex in a script rule",
        "agents:\n  - name: a\n    model: scripted/x\n    script:\n      - when: '(unclosed'\n        say: hi\n",
        "a",
        "script[0].when",
        "regular expression",
    ),
    (
        "script rule with two answers",
        "agents:\n  - name: a\n    model: scripted/x\n    script:\n      - say: hi\n        handoff: b\n",
        "a",
        "script[0]",
        "exactly one",
    ),
    (
        "scripted model without script",
        "agents:\n  - name: a\n    model: scripted/x\n",
        "a",
        "script",
        "'script'",
    ),
    (
        "negative max_turns",
        "agents:\n  - name: a\n    model: openai/x\n    limits: {max_turns: -1}\n",
        "a",
        "limits.max_turns",
        "greater than or equal to 1",
    ),
    (
        "handoff to itself",
        "agents:\n  - name: a\n    model: openai/x\n    handoffs: [a]\n",
        "a",
        "handoffs",
        "itself",
    ),
    (
        "tool listed twice",
        "agents:\n  - name: a\n    model: openai/x\n    tools: [t, t]\n",
        "a",
        "tools",
        "more than once",
    ),
    ("agent not a mapping", "agents:\n  - just a string\n", None, None, "must be a mapping"),
]


@pytest.mark.parametrize(
    ("case", "text", "agent", "field", "words"), BAD_YAML, ids=[c[0] for c in BAD_YAML]
)
def test_bad_yaml_spec_names_file_agent_and_field(
    tmp_path: Path, case: str, text: str, agent: str | None, field: str | None, words: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_agents(path)
    error = info.value
    assert error.file == str(path), case
    assert error.agent == agent
    assert error.field == field
    assert words in str(error)
    assert str(path) in str(error)


def test_on_is_a_string_key_not_a_yaml_boolean(tmp_path: Path) -> None:
    text = "agents:\n  - name: a\n    model: scripted/x\n    script:\n      - on: user\n        say: hi\n"
    (agent,) = load_agents(write(tmp_path, text))
    assert agent.script[0].on == "user"


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "agents:\n  - name: a\n    model: [openai/x\n")
    with pytest.raises(SpecError, match=r"not valid YAML at line \d+"):
        load_agents(path)


def test_missing_spec_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="spec file not found") as info:
        load_agents(tmp_path / "absent.yaml")
    assert info.value.file and info.value.file.endswith("absent.yaml")


def test_unknown_top_level_key(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="unknown top-level key"):
        load_agents(write(tmp_path, "agents: []\nagnets: []\n"))


def test_unknown_tool_names_agent_and_index(tmp_path: Path) -> None:
    path = write(
        tmp_path, "agents:\n  - name: a\n    model: openai/x\n    tools: [lookup_order, refund]\n"
    )
    with pytest.raises(SpecError) as info:
        App(agents=[path], tools=[lookup_order])
    assert (info.value.file, info.value.agent, info.value.field) == (str(path), "a", "tools[1]")
    assert "unknown tool 'refund'" in str(info.value) and "lookup_order" in str(info.value)


def test_unknown_handoff_target(tmp_path: Path) -> None:
    path = write(tmp_path, "agents:\n  - name: a\n    model: openai/x\n    handoffs: [billing]\n")
    with pytest.raises(SpecError) as info:
        App(agents=[path])
    assert (info.value.agent, info.value.field) == ("a", "handoffs[0]")
    assert "unknown agent 'billing'" in str(info.value)


def test_unknown_delegate(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="delegates"):
        App(agents=[Agent(name="a", model="openai/x", delegates=["ghost"])])


def test_duplicate_agent_names_across_files(tmp_path: Path) -> None:
    one = write(tmp_path, "agents:\n  - name: a\n    model: openai/x\n", "one.yaml")
    two = write(tmp_path, "agents:\n  - name: a\n    model: openai/y\n", "two.yaml")
    with pytest.raises(SpecError, match="two agents have this name") as info:
        App(agents=[one, two])
    assert info.value.file == str(two)


def test_non_tool_in_tools_list() -> None:
    def plain(x: int) -> int:
        return x

    with pytest.raises(SpecError, match=r"@duragent\.tool"):
        App(agents=[], tools=[plain])  # type: ignore[list-item]


def test_python_spec_errors_name_the_module_agent_and_field_like_yaml_ones() -> None:
    with pytest.raises(SpecError, match="provider/name") as info:
        Agent(name="a", model="gpt-5")
    assert (info.value.file, info.value.agent, info.value.field) == (
        "tests/unit/test_specs.py",
        "a",
        "model",
    )


def test_model_validate_is_not_a_python_spec() -> None:
    # Validation (the YAML loader, the data converter) keeps pydantic's error and no source:
    # only Agent(...) written in Python is translated.
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="provider/name"):
        Agent.model_validate({"name": "a", "model": "gpt-5"})
    assert Agent.model_validate({"name": "a", "model": "openai/x"}).source is None
    assert Agent(name="a", model="openai/x").source == "tests/unit/test_specs.py"


def test_run_summary_redacts_pii() -> None:
    from duragent import RunRequest
    from duragent.client import run_summary

    summary = run_summary(
        RunRequest(agent="support", input="My card 4111 1111 1111 1111 was charged twice")
    )
    assert "4111" not in summary and summary.startswith("support: My card [REDACTED:credit_card]")


def test_state_follows_duragent_home(tmp_path: Path) -> None:
    from duragent.settings import Settings

    s = Settings.from_env({"DURAGENT_HOME": str(tmp_path)})
    assert s.transcript_store == str(tmp_path / "transcripts.db")
    assert s.audit_log == str(tmp_path / "audit.db") and s.payload_store == tmp_path / "payloads"
    explicit = Settings.from_env(
        {"DURAGENT_HOME": str(tmp_path), "DURAGENT_AUDIT_LOG": "postgresql://x/y"}
    )
    assert explicit.audit_log == "postgresql://x/y"


def test_every_setting_parses_to_its_declared_type() -> None:
    from duragent.settings import Settings

    s = Settings.from_env(
        {
            "DURAGENT_MAX_CONCURRENT_ACTIVITIES": "7",
            "DURAGENT_SEARCH_ATTRIBUTES": "off",
            "DURAGENT_STICKY_TIMEOUT_S": "2.5",
            "DURAGENT_CIRCUIT_FAILURES": "4",
            "DURAGENT_PRICING_FILE": "p.yaml",
            "DURAGENT_TRANSCRIPT_STORE": "postgresql://db/x",
        }
    )
    assert (s.max_concurrent_activities, s.search_attributes, s.sticky_timeout_s) == (7, False, 2.5)
    assert s.circuit_failures == 4 and s.pricing_file == Path("p.yaml")
    assert s.transcript_store == "postgresql://db/x"  # a URL, not a mangled path
    for variable, value, words in [
        ("DURAGENT_MAX_CONCURRENT_ACTIVITIES", "x", "whole number"),
        ("DURAGENT_SEARCH_ATTRIBUTES", "maybe", "on or off"),
        ("DURAGENT_CIRCUIT_COOLDOWN_S", "-1", "0 or more"),
    ]:
        with pytest.raises(ValueError, match=words):
            Settings.from_env({variable: value})
