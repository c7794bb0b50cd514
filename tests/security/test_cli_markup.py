"""What a model, a tool or a decision wrote prints as written in the CLI, never as markup.

Found while building the battery: a signal whose approver was ``[/]`` made every later
``duragent show RUN`` crash with rich's MarkupError, and ``[bold red]APPROVED[/]`` in a name
would have been shown styled. Run text is untrusted: the CLI escapes it.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from rich.console import Console

from duragent import RunResult, StepRecord
from duragent._messages import LatencyBreakdown, Usage
from duragent.cli._render import result_table, step_line

HOSTILE = "[/]evil [bold red]APPROVED[/] [link=http://x]y[/link]"
AT = datetime(2026, 12, 4, tzinfo=UTC)


def printed(renderable: object) -> str:
    out = io.StringIO()
    Console(file=out, width=400, color_system=None).print(renderable)
    return out.getvalue()


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "approval_refused", "approver": HOSTILE, "reason": HOSTILE, "ref": HOSTILE},
        {"kind": "approval_decided", "approver": HOSTILE, "reason": HOSTILE, "action": "approve"},
        {"kind": "tool", "tool": "t", "arguments": {"a": HOSTILE}, "output": HOSTILE},
        {"kind": "model", "model": "m", "output": HOSTILE},
        {"kind": "guardrail", "rule": "r", "action": "block", "reason": HOSTILE},
        {"kind": "tool_refused", "tool": "t", "detail": HOSTILE},
        {"kind": "handoff", "detail": HOSTILE},
    ],
    ids=lambda f: f["kind"],
)
def test_a_step_prints_hostile_text_as_written(fields: dict[str, object]) -> None:
    step = StepRecord(step_id="s1", agent="a", turn=1, at=AT, **fields)  # type: ignore[arg-type]
    text = printed(step_line(step))
    assert "[bold red]APPROVED[/]" in text or "[/]evil" in text


def test_a_hostile_answer_prints_as_written_in_the_result_table() -> None:
    result = RunResult(
        run_id="r", workflow_id="w", status="completed", output=HOSTILE, error=HOSTILE,
        agent="a", agent_path=["a"], turns=1, steps=[], usage=Usage(), cost_usd=0.0,
        latency=LatencyBreakdown(total_ms=1.0),
    )  # fmt: skip
    text = printed(result_table(result))
    assert "[bold red]APPROVED[/]" in text
