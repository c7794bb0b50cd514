"""The cooling period of a failed-over model, as a spec writes it (``retry.cooldown_s``), and
the line a model call shows in the Web UI when the run skipped a cooling model."""

from __future__ import annotations

from pathlib import Path

import pytest

from duragent import Agent, ModelRef, SpecError, load_agents
from duragent.errors import UNAVAILABLE_KINDS
from duragent.workflows._model_chain import model_summary

SPEC = """\
agents:
  - name: support
    model: openai/gpt-4o-mini
    fallbacks: [anthropic/claude-haiku-4-5]
    retry: {{max_attempts: 2{extra}}}
"""


def load(tmp_path: Path, extra: str = "") -> Agent:
    path = tmp_path / "agents.yaml"
    path.write_text(SPEC.format(extra=extra))
    [agent] = load_agents(path)
    return agent


def test_the_default_is_the_circuit_breakers_cooldown_and_old_specs_load(tmp_path: Path) -> None:
    agent = load(tmp_path)
    assert agent.retry.max_attempts == 2 and agent.retry.cooldown_s == 30.0
    assert load(tmp_path, ", cooldown_s: 1.5").retry.cooldown_s == 1.5


@pytest.mark.parametrize("value", ["0", "-5", ".nan", ".inf", "86401"])
def test_a_cooling_period_that_is_not_a_positive_duration_is_refused(
    tmp_path: Path, value: str
) -> None:
    with pytest.raises(SpecError) as caught:
        load(tmp_path, f", cooldown_s: {value}")
    error = caught.value
    assert error.field == "retry.cooldown_s" and error.agent == "support"
    assert str(error).startswith(str(tmp_path / "agents.yaml"))
    assert "how long a run skips a model that failed over" in str(error)
    assert "more than 0 and at most 86400 s" in str(error)


def test_python_specs_are_refused_the_same_way() -> None:
    with pytest.raises(SpecError, match=r"field 'retry.cooldown_s'.*more than 0"):
        Agent(name="a", model="openai/m", retry={"cooldown_s": 0})


def test_only_failures_that_say_the_model_cannot_answer_make_it_cool() -> None:
    assert {"server_error", "timeout", "connection", "rate_limit", "auth", "circuit_open"} == set(
        UNAVAILABLE_KINDS
    )


def test_model_keys_tell_servers_apart() -> None:
    assert ModelRef(provider="openai", name="m").key == "openai/m"
    assert (
        ModelRef(provider="openai", name="m", base_url="http://h/v1").key == "openai/m@http://h/v1"
    )


def test_the_web_ui_line_says_which_model_was_skipped_and_why() -> None:
    primary, backup, third = (ModelRef(provider="openai", name=n) for n in ("a", "b", "c"))
    assert model_summary(primary, 0, 1, skipped=[], asked_last=False) == "model openai/a turn 1"
    cooling = [(0, primary)]
    assert (
        model_summary(backup, 1, 2, skipped=cooling, asked_last=False)
        == "model openai/b turn 2 (fallback 1; openai/a cooling)"
    )
    assert (
        model_summary(primary, 0, 2, skipped=cooling, asked_last=True)
        == "model openai/a turn 2 (cooling, asked last)"
    )
    # A cooling model later in the chain than the one asked is not "skipped" by it.
    assert (
        model_summary(backup, 1, 2, skipped=[(2, third)], asked_last=False)
        == "model openai/b turn 2 (fallback 1)"
    )
