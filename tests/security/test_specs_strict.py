"""Strict specs: a key written twice is refused, naming file and lines; a bad spec written in
Python fails in one line naming module, agent and field, from the API and from the CLI.

PyYAML keeps the last of two equal keys and drops the first without a word: a second
``guardrails:`` under an agent would silently drop the first list, block rules included.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from duragent import Agent, App, SpecError, load_agents
from duragent._loader import DuplicateKeyError, load_yaml

ROOT = Path(__file__).resolve().parents[2]
DUPLICATE = "a YAML mapping keeps only one value per key, so the first would be silently dropped"

# The repro: the block rule is in the first `guardrails:`, the second list replaces it.
TWO_GUARDRAILS = """\
agents:
  - name: support
    model: openai/gpt-5.5
    tools: [refund_order]
    guardrails:
      - name: no_big_refunds
        stage: tool_call
        when: {tool: refund_order, args: {amount: {gt: 500}}}
        action: block
    limits: {max_turns: 4}
    guardrails:
      - name: redact_cards
        stage: input
        when: {pii: [credit_card]}
        action: redact
        redact: [credit_card]
"""


def write(tmp_path: Path, text: str, name: str = "agents.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# --- duplicate keys ------------------------------------------------------------------------


def test_a_second_guardrails_list_is_refused_and_no_block_rule_is_dropped(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, TWO_GUARDRAILS)
    with pytest.raises(SpecError) as caught:
        load_agents(path)
    assert str(caught.value) == (
        f"{path}: line 11, column 5: duplicate key 'guardrails' (first at line 5); {DUPLICATE}"
    )
    assert caught.value.file == str(path)
    # Through an App too: no spec is ever built from the file, so none runs without its rule.
    with pytest.raises(SpecError, match="duplicate key 'guardrails'"):
        App(agents=[path])


def test_without_the_duplicate_the_block_rule_is_kept(tmp_path: Path) -> None:
    # The same file with the lists merged loads, and the block rule is there: the refusal above
    # is about the duplicate, not about the rules.
    merged = TWO_GUARDRAILS.replace("    limits: {max_turns: 4}\n    guardrails:\n", "")
    (agent,) = load_agents(write(tmp_path, merged))
    assert [(r.name, r.action) for r in agent.guardrails] == [
        ("no_big_refunds", "block"),
        ("redact_cards", "redact"),
    ]


@pytest.mark.parametrize(
    ("text", "key", "line", "first"),
    [
        pytest.param(
            "agents:\n  - name: a\n    model: openai/x\nagents:\n  - name: b\n    model: openai/x\n",
            "'agents'",
            "line 4, column 1",
            1,
            id="top level",
        ),
        pytest.param(
            "agents:\n  - name: refunds\n    model: openai/x\n    name: info\n",
            "'name'",
            "line 4, column 5",
            2,
            id="agent name",
        ),
        pytest.param(
            """\
            agents:
              - name: a
                model: openai/x
                tools: [refund_order]
                guardrails:
                  - name: big_refunds
                    stage: tool_call
                    when:
                      tool: refund_order
                      args: {amount: {gt: 500}}
                      args: {currency: {eq: EUR}}
                    action: block
            """,
            "'args'",
            "line 11, column 11",
            10,
            id="inside a rule's when",
        ),
        pytest.param(
            "agents:\n  - name: a\n    model: openai/x\n    limits: {max_turns: 3, max_turns: 300}\n",
            "'max_turns'",
            "line 4, column 28",
            4,
            id="inside a flow mapping",
        ),
        pytest.param(
            "agents:\n  - name: a\n    model: openai/x\n    labels: {true: x, True: y}\n",
            "True",
            "line 4, column 23",
            4,
            id="keys equal once read",
        ),
    ],
)
def test_duplicate_keys_at_any_depth_name_file_line_and_first_line(
    tmp_path: Path, text: str, key: str, line: str, first: int
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        load_agents(path)
    assert str(caught.value) == (
        f"{path}: {line}: duplicate key {key} (first at line {first}); {DUPLICATE}"
    )


def test_merge_keys_override_without_being_duplicates(tmp_path: Path) -> None:
    # A key next to `<<: *base` overrides the merged one: that is what merging is for.
    text = """\
    base: &base {model: openai/gpt-5.5, limits: {max_turns: 3}}
    agents:
      - <<: *base
        name: a
        limits: {max_turns: 8}
    """
    document = load_yaml(textwrap.dedent(text))
    assert isinstance(document, dict)
    assert document["agents"][0]["limits"] == {"max_turns": 8}
    assert document["agents"][0]["model"] == "openai/gpt-5.5"


def test_a_merged_mapping_keeps_its_own_overrides() -> None:
    # PyYAML's merge keeps `x: 1` here for b (one-letter keys are interned strings); the value
    # written in a is 2, and b must see 2.
    document = load_yaml("a: &a {<<: {x: 1}, x: 2}\nb: {<<: *a, y: 3}\n")
    assert document == {"a": {"x": 2}, "b": {"x": 2, "y": 3}}


def test_the_first_of_several_merged_mappings_wins() -> None:
    document = load_yaml("a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc: {<<: [*a, *b]}\n")
    assert isinstance(document, dict) and document["c"] == {"x": 1, "y": 2}


def test_two_merge_keys_in_one_mapping_are_a_duplicate() -> None:
    with pytest.raises(
        DuplicateKeyError, match=r"line 3, column 13: duplicate key '<<' \(first at line 3\)"
    ):
        load_yaml("a: &a {x: 1}\nb: &b {x: 2}\nc: {<<: *a, <<: *b}\n")


def test_a_duplicate_inside_an_anchored_mapping_is_found_when_merged_first() -> None:
    with pytest.raises(DuplicateKeyError, match="duplicate key 'x'"):
        load_yaml("a: &a {x: 1, x: 2}\nb: {<<: *a}\n")


def test_approver_keys_file_with_a_name_twice_is_refused(tmp_path: Path) -> None:
    from duragent.activities._approvals import load_approver_keys

    path = write(tmp_path, "alice: key-one\nbob: key-two\nalice: key-three\n", "keys.yaml")
    with pytest.raises(ValueError) as caught:
        load_approver_keys(path)
    assert str(caught.value) == (
        f"{path}: line 3, column 1: duplicate key 'alice' (first at line 1); {DUPLICATE}"
    )
    assert "key-" not in str(caught.value)  # the error never shows a key
    path.write_text("alice: key-one\nbob: key-two\n")
    assert load_approver_keys(path) == {"alice": "key-one", "bob": "key-two"}


def test_other_user_yaml_files_are_strict_too(tmp_path: Path) -> None:
    from duragent.mock_llm._config import MockConfig
    from duragent.pricing import load_pricing
    from duragent.report._alerts import load_alert_rules

    pricing = write(
        tmp_path,
        "openai/x: {input: 1, output: 2}\nopenai/x: {input: 0, output: 0}\n",
        "pricing.yaml",
    )
    with pytest.raises(ValueError, match=r"pricing\.yaml: line 2, column 1: duplicate key"):
        load_pricing(pricing)
    pricing.write_text("openai/x: {input: 1, output: 2}\n")
    assert load_pricing(pricing)["openai/x"].output == 2
    alerts = write(
        tmp_path,
        "rules:\n  - name: slow\n    metric: p99_latency_s\n    op: '>'\n    op: '<'\n"
        "    threshold: 1\n",
        "alerts.yaml",
    )
    with pytest.raises(SpecError, match=r"alerts\.yaml: not valid YAML: line 5, column 5"):
        load_alert_rules(alerts)
    mock = write(tmp_path, "latency_ms: 5\nlatency_ms: 500\n", "mock.yaml")
    with pytest.raises(SpecError, match=r"mock\.yaml: not valid YAML: line 2, column 1"):
        MockConfig.from_yaml(mock)


def test_mock_llm_config_reads_on_as_a_string(tmp_path: Path) -> None:
    # With YAML 1.1 booleans (yaml.safe_load), `on: user` became {True: "user"}.
    from duragent.mock_llm._config import MockConfig

    path = write(tmp_path, "rules:\n  - on: user\n    say: hi\n", "mock.yaml")
    assert MockConfig.from_yaml(path).rules[0].on == "user"


# --- bad specs written in Python -------------------------------------------------------------

HERE = os.path.relpath(__file__)


def test_a_bad_python_spec_raises_one_spec_error_naming_module_agent_and_field() -> None:
    with pytest.raises(SpecError) as caught:
        Agent(name="info", model="openai/gpt-5.5", tool=["lookup_order"])  # type: ignore[call-arg]
    error = caught.value
    assert (error.file, error.agent, error.field) == (HERE, "info", "tool")
    assert str(error) == f"{HERE}: agent 'info': field 'tool': unknown field; did you mean 'tools'?"
    assert "\n" not in str(error)


def test_an_app_names_the_module_of_a_python_agent_it_refuses() -> None:
    with pytest.raises(SpecError) as caught:
        App(agents=[Agent(name="info", model="openai/gpt-5.5", tools=["refund"])])
    assert str(caught.value).startswith(f"{HERE}: agent 'info': field 'tools[0]': unknown tool")


def test_an_app_refuses_what_is_not_an_agent_naming_its_module() -> None:
    with pytest.raises(SpecError) as caught:
        App(agents=[{"name": "info", "model": "openai/gpt-5.5"}])  # type: ignore[list-item]
    assert str(caught.value) == (
        f"{HERE}: field 'agents[0]': a dict is not an agent; list Agent(...) specs or paths of "
        "YAML spec files"
    )


def _cli(*args: str, debug: bool = False, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DURAGENT_DEBUG"}
    # Nothing listens on port 9: a worker that tried to connect would fail differently (and a
    # narrow terminal would show a wrapped message as two lines).
    env |= {"TEMPORAL_ADDRESS": "127.0.0.1:9", "DURAGENT_HOME": str(tmp_path), "COLUMNS": "60"}
    if debug:
        env["DURAGENT_DEBUG"] = "1"
    return subprocess.run(
        [str(Path(sys.executable).parent / "duragent"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


BAD_SPEC_LINE = (
    "error: tests/security/bad_app.py: agent 'info': field 'tool': unknown field; "
    "did you mean 'tools'?"
)


@pytest.mark.parametrize("command", ["worker", "dev", "demo"])
def test_the_cli_prints_one_line_for_a_bad_python_spec(command: str, tmp_path: Path) -> None:
    done = _cli(command, "--app", "tests.security.bad_app:app", tmp_path=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [BAD_SPEC_LINE]
    assert "Traceback" not in done.stdout + done.stderr


def test_the_traceback_is_there_under_duragent_debug(tmp_path: Path) -> None:
    done = _cli("worker", "--app", "tests.security.bad_app:app", debug=True, tmp_path=tmp_path)
    assert done.returncode == 2
    assert "Traceback (most recent call last)" in done.stderr
    assert 'tests/security/bad_app.py", line' in done.stderr  # down to the user's line
    assert done.stderr.splitlines()[-1] == BAD_SPEC_LINE


def test_the_debug_flag_does_the_same(tmp_path: Path) -> None:
    done = _cli("--debug", "worker", "--app", "tests.security.bad_import:app", tmp_path=tmp_path)
    assert done.returncode == 2
    assert "Traceback (most recent call last)" in done.stderr
    assert "bad_import.py" in done.stderr


def test_an_app_module_that_fails_to_import_is_one_line(tmp_path: Path) -> None:
    done = _cli("worker", "--app", "tests.security.bad_import:app", tmp_path=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: cannot import app 'tests.security.bad_import:app': ModuleNotFoundError: "
        "No module named 'duragent_no_such_dependency'"
    ]
    assert "Traceback" not in done.stdout + done.stderr


def test_a_missing_app_module_says_where_to_run_from(tmp_path: Path) -> None:
    done = _cli("worker", "--app", "tests.security.no_such_module:app", tmp_path=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: cannot import app 'tests.security.no_such_module:app': ModuleNotFoundError: "
        "No module named 'tests.security.no_such_module'; run from the directory that "
        "contains it or install it"
    ]
