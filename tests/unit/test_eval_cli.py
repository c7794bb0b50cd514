"""``duragent eval`` without Temporal: what it refuses before connecting (exit 2, one line), the
routing between ``eval DATASET`` and ``eval add``, the report and gate from finished results,
and ``eval add``'s writing (atomic, comments kept, a duplicate refused, the file untouched)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from duragent._messages import LatencyBreakdown, Message, RunRequest, RunResult, StepRecord, Usage
from duragent.cli import _eval_cmds
from duragent.cli._app import cli
from duragent.cli._eval_add import CORRECTED, build_case, write_case
from duragent.cli._eval_render import print_report
from duragent.eval import CaseOutcome, DatasetError, EvalResult, load_dataset, summarize

runner = CliRunner()
T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOWHERE = ["--address", "127.0.0.1:1"]
"""A server nobody listens on: a command that got as far as connecting says so."""

HAND_WRITTEN = """\
# Support cases, kept by hand.
name: support-prod
agent: support

cases:
  # the classic
  - id: order-1001
    input: "Where is my order 1001?"   # the demo's first question
    category: information_retrieval
    scorers:
      - {type: status, status: completed}
"""


def invoke(*args: str) -> Any:
    return runner.invoke(cli, list(args))


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


# -- what is refused before connecting ---------------------------------------------------------


def test_no_dataset_and_no_resume_is_a_usage_error() -> None:
    result = invoke("eval")
    assert result.exit_code == 2
    assert "give a DATASET" in one_line(result.stderr) and "--resume" in result.stderr


def test_help_shows_both_usages() -> None:
    result = invoke("eval", "--help")
    assert result.exit_code == 0
    flat = " ".join(result.stdout.split())
    assert "duragent eval DATASET" in flat
    assert "duragent eval --resume [EVAL_ID]" in flat
    assert "duragent eval add RUN_ID --dataset FILE" in flat
    assert "--baseline" in flat and "--max-accuracy-drop" in flat
    add = invoke("eval", "add", "--help")
    assert add.exit_code == 0 and "--category" in add.stdout and "--max-p99-rise" not in add.stdout


def test_a_bad_dataset_fails_with_its_line_before_connecting(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ncases:\n  - id: a\n    input: hi\n    expectd: yes\n")
    result = invoke("eval", str(bad), "--agent", "support", *NOWHERE)
    assert result.exit_code == 2
    line = one_line(result.stderr)
    assert "bad.yaml" in line and "case 'a'" in line and "expectd" in line
    assert "cannot reach" not in line


def test_no_agent_anywhere_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "cases.yaml"
    data.write_text("name: x\ncases:\n  - {id: a, input: hi}\n")
    result = invoke("eval", str(data), *NOWHERE)
    assert result.exit_code == 2 and "give --agent NAME" in one_line(result.stderr)
    # The dataset's own agent is enough: the command then gets as far as connecting.
    data.write_text("name: x\nagent: support\ncases:\n  - {id: a, input: hi}\n")
    result = invoke("eval", str(data), *NOWHERE)
    assert result.exit_code == 2 and "cannot reach Temporal" in result.stderr


def test_a_missing_or_invalid_baseline_is_refused_first(tmp_path: Path) -> None:
    data = "examples/customer_support/eval.yaml"
    result = invoke("eval", data, "--baseline", str(tmp_path / "none.json"), *NOWHERE)
    assert result.exit_code == 2 and "no such file" in one_line(result.stderr)
    junk = tmp_path / "junk.json"
    junk.write_text('{"dataset": "x"}')
    result = invoke("eval", data, "--baseline", str(junk), *NOWHERE)
    assert result.exit_code == 2 and "not an evaluation report" in one_line(result.stderr)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--model", "gpt-4"], "must be written 'provider/name'"),
        (["--model", "openai/a", "--model", "openai/a"], "given twice"),
        (["--resume", "--agent", "support"], "drop --agent"),
        (["--resume", "--no-wait"], "drop --no-wait"),
    ],
)
def test_contradictory_or_malformed_flags(flags: list[str], message: str) -> None:
    args = flags if "--resume" in flags else ["examples/customer_support/eval.yaml", *flags]
    result = invoke("eval", *args, *NOWHERE)
    assert result.exit_code == 2 and message in one_line(result.stderr)


def test_add_needs_a_dataset_and_refuses_a_broken_one(tmp_path: Path) -> None:
    result = invoke("eval", "add", "run-x")
    assert result.exit_code == 2 and "--dataset" in result.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\ncases: []\n")
    result = invoke("eval", "add", "run-x", "--dataset", str(broken), *NOWHERE)
    assert result.exit_code == 2 and "broken.yaml" in one_line(result.stderr)


# -- the end: report, files, gate --------------------------------------------------------------


def outcome(case: str, verdict: str, category: str, **fields: Any) -> CaseOutcome:
    score = {"correct": 1.0, "partial": 0.5, "incorrect": 0.0}[verdict]
    return CaseOutcome(case_id=case, category=category, verdict=verdict, score=score, latency_ms=100, cost_usd=0.001, tokens=50, **fields)  # type: ignore[arg-type]  # fmt: skip


def result(verdicts: dict[str, str], model: str | None = None) -> EvalResult:
    outcomes = [outcome(c, v, "orders" if c.startswith("o") else "general", tags=["t"]) for c, v in verdicts.items()]  # fmt: skip
    return EvalResult(dataset="set", agent="support", model=model, started_at=T0, finished_at=T0, outcomes=outcomes)  # fmt: skip


def finish(tmp_path: Path, results: list[EvalResult], baseline: Any = None, ids: list[str] | None = None) -> tuple[int, str]:  # fmt: skip
    """``duragent eval``'s last part, on results as the workflows would return them."""
    ids = ids or ["eval-set-1a2b3c4d"]
    evaluation = SimpleNamespace(group="eval-set-1a2b3c4d", handles=[SimpleNamespace(id=i) for i in ids])  # fmt: skip
    out = Console(width=200, file=io.StringIO())
    gate = {"max_accuracy_drop": 0.0, "max_cost_rise": 0.1, "max_p99_rise": 0.25}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_eval_cmds, "console", out)
        code = _eval_cmds._finish(evaluation, results, ["a"] * len(results), tmp_path / "out", baseline, gate, False)  # type: ignore[arg-type]  # fmt: skip
    assert isinstance(out.file, io.StringIO)
    return code, out.file.getvalue()


def test_report_table_files_and_a_clean_gate(tmp_path: Path) -> None:
    first = result({"o1": "correct", "o2": "correct", "g1": "partial"})
    code, text = finish(tmp_path, [first])
    assert code == 0
    assert "66.7% correct over 3 run(s)" in text
    for group in ("overall", "orders", "general", "#t", "judge cost"):
        assert group in text
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert {"report.json", "report.md", "junit.xml"} <= set(files)
    assert str(tmp_path / "out" / "report.json") in text
    baseline = summarize(first.outcomes, dataset="set", agent="support", model=None)
    code, text = finish(tmp_path, [first], baseline)
    assert code == 0 and "no regression" in text


def test_a_flipped_case_fails_the_gate_and_is_named(tmp_path: Path) -> None:
    before = result({"o1": "correct", "o2": "correct", "g1": "correct"})
    baseline = summarize(before.outcomes, dataset="set", agent="support", model=None)
    code, text = finish(tmp_path, [result({"o1": "correct", "o2": "incorrect", "g1": "correct"})], baseline)  # fmt: skip
    assert code == 1
    assert "broke o2 (orders): correct → incorrect" in text
    assert "regressed: orders: accuracy fell from 100.0% to 50.0%" in text


def test_several_models_side_by_side_with_files_per_model(tmp_path: Path) -> None:
    a = result({"o1": "correct", "g1": "correct"}, model="openai/a")
    b = result({"o1": "incorrect", "g1": "correct"}, model="openai/b")
    ids = ["eval-set-1a2b3c4d-openai-a", "eval-set-1a2b3c4d-openai-b"]
    code, text = finish(tmp_path, [a, b], ids=ids)
    assert code == 0
    header = next(line for line in text.splitlines() if "openai/a" in line)
    assert "openai/b" in header  # one table, a column per model
    assert (tmp_path / "out" / "openai-a" / "report.json").exists()
    assert (tmp_path / "out" / "openai-b" / "report.json").exists()


# -- eval add: the case ------------------------------------------------------------------------


def run_result(steps: list[StepRecord], output: str = "Order 1001 shipped.") -> RunResult:
    return RunResult(
        run_id="r", workflow_id="run-support-1", status="completed", output=output,
        agent="info", agent_path=["support", "info"], turns=2, steps=steps, usage=Usage(),
        cost_usd=0.0, latency=LatencyBreakdown(),
    )  # fmt: skip


def step(kind: str, **fields: Any) -> StepRecord:
    return StepRecord(step_id=f"s{kind}", kind=kind, agent="support", turn=1, at=T0, **fields)  # type: ignore[arg-type]


def test_a_case_from_a_run_scores_its_trajectory_and_status() -> None:
    request = RunRequest(
        agent="support",
        input="And the tracking number?",
        history=[
            Message(role="user", content="Where is 1001?"),
            Message(role="assistant", content="Shipped."),
        ],
    )
    steps = [step("handoff", detail="info"), step("tool", tool="lookup_order")]
    case = build_case(request, run_result(steps), case_id="c1", category="production", tags=["vip"], dataset_agent="support")  # fmt: skip
    assert [t.role for t in case.input] == ["user", "assistant", "user"]  # type: ignore[union-attr]
    assert case.expected == "Order 1001 shipped." and case.tags == ["vip"] and case.agent is None
    assert [s.type for s in case.scorers] == ["trajectory", "status"]
    assert case.scorers[0].steps == ["handoff:info", "lookup_order"]  # type: ignore[union-attr]


def test_a_reviewers_correction_is_expected_and_says_so() -> None:
    steps = [step("review_decided", action="edit", output="Order 1001 left on Nov 25.")]
    case = build_case(RunRequest(agent="support", input="hi"), run_result(steps), case_id="c", category="p", tags=[], dataset_agent="other")  # fmt: skip
    assert case.expected == "Order 1001 left on Nov 25." and CORRECTED in case.tags
    assert case.agent == "support"  # the dataset's agent is another one
    assert [s.type for s in case.scorers] == ["status"]  # no tool call, no trajectory


# -- eval add: writing -------------------------------------------------------------------------


def a_case(case_id: str = "prod-1") -> Any:
    steps = [step("handoff", detail="info"), step("tool", tool="lookup_order")]
    return build_case(RunRequest(agent="support", input="Where is 1002?"), run_result(steps), case_id=case_id, category="production", tags=[], dataset_agent="support")  # fmt: skip


def test_appending_keeps_comments_and_layout(tmp_path: Path) -> None:
    path = tmp_path / "prod.yaml"
    path.write_text(HAND_WRITTEN)
    after = write_case(path, a_case(), agent="support", comment="from run run-support-1")
    text = path.read_text()
    assert text.startswith(HAND_WRITTEN)  # every byte the user wrote is still there
    assert "  # from run run-support-1\n  - id: prod-1\n" in text
    assert [c.id for c in after.cases] == ["order-1001", "prod-1"]
    assert load_dataset(path).cases[1] == a_case()
    assert [p.name for p in tmp_path.iterdir()] == ["prod.yaml"]  # no temporary left behind


def test_a_duplicate_id_is_refused_and_the_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "prod.yaml"
    path.write_text(HAND_WRITTEN)
    with pytest.raises(DatasetError, match="'order-1001' is used twice") as caught:
        write_case(path, a_case("order-1001"), agent="support", comment="c")
    assert str(path) in str(caught.value) and ".prod." not in str(caught.value)
    assert path.read_text() == HAND_WRITTEN
    assert [p.name for p in tmp_path.iterdir()] == ["prod.yaml"]


def test_a_case_list_that_does_not_end_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "prod.yaml"
    original = "cases:\n  - {id: a, input: hi}\nname: late\n"
    path.write_text(original)
    with pytest.raises(DatasetError, match="move 'cases:' to the end"):
        write_case(path, a_case(), agent="support", comment="c")
    assert path.read_text() == original


def test_new_files_and_jsonl(tmp_path: Path) -> None:
    yaml_file = tmp_path / "new" / "fresh.yaml"
    made = write_case(yaml_file, a_case(), agent="support", comment="c")
    assert (made.name, made.agent, len(made.cases)) == ("fresh", "support", 1)
    jsonl = tmp_path / "fresh.jsonl"
    write_case(jsonl, a_case("one"), agent="support", comment="c")
    after = write_case(jsonl, a_case("two"), agent="support", comment="c")
    lines = jsonl.read_text().splitlines()
    assert json.loads(lines[0]) == {"dataset": {"name": "fresh", "agent": "support"}}
    assert [c.id for c in after.cases] == ["one", "two"] and len(lines) == 3


def test_a_bare_list_of_cases_grows_too(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("# just cases\n- {id: a, input: hi}\n")
    after = write_case(path, a_case(), agent="support", comment="c")
    assert [c.id for c in after.cases] == ["a", "prod-1"]
    assert path.read_text().startswith("# just cases\n- {id: a, input: hi}\n")


def test_a_flow_style_case_list_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "prod.yaml"
    original = "name: x\ncases: [{id: a, input: hi}]\n"
    path.write_text(original)
    with pytest.raises(DatasetError, match="move 'cases:' to the end"):
        write_case(path, a_case(), agent="support", comment="c")
    assert path.read_text() == original


def test_a_run_that_paused_is_expected_to_pause_there_again() -> None:
    """An evaluation's runs end at their first pause: what came after it cannot be expected."""
    steps = [
        step("handoff", detail="info"),
        step("approval_requested", tool="refund_order"),
        step("approval_decided", action="approve"),
        step("tool", tool="refund_order"),
    ]
    case = build_case(RunRequest(agent="support", input="Refund $250 on 1005"), run_result(steps), case_id="c", category="p", tags=[], dataset_agent="support")  # fmt: skip
    assert case.scorers[0].steps == ["handoff:info"]  # type: ignore[union-attr]
    assert case.scorers[1].status == "awaiting_approval"  # type: ignore[union-attr]


def test_the_table_fits_a_narrow_terminal_and_is_whole_in_a_log(monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    outcomes = [outcome(f"c{i}", "correct", "information_retrieval") for i in range(3)]
    report = summarize([*outcomes, outcome("g", "partial", "general")], dataset="set", agent="support", model=None)  # fmt: skip
    monkeypatch.delenv("COLUMNS", raising=False)

    def shown(terminal: bool) -> str:
        console = Console(width=80, file=io.StringIO(), force_terminal=terminal, color_system=None)
        print_report(console, report)
        assert isinstance(console.file, io.StringIO)
        return console.file.getvalue()

    # An 80-column terminal: fewer, shorter columns, every figure and name whole.
    narrow = shown(terminal=True)
    assert "…" not in narrow and "information_retrieval" in narrow
    assert max(len(line) for line in narrow.splitlines()) <= 80
    assert "p50/p99 ms" in narrow and "100/100" in narrow and "report files" in narrow
    # Piped to a CI log or a file: every column, at the width they need, not cut at 80.
    piped = shown(terminal=False)
    assert "…" not in piped and "tokens/case" in piped and "cost/case $" in piped
    assert max(len(line) for line in piped.splitlines()) > 80
