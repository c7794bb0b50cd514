"""How runs look in a terminal: steps as they happen and the final table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from duragent._messages import RunResult, StepRecord
from duragent.cli._common import print_wide

if TYPE_CHECKING:
    from duragent.cli._runs import SavedArtifact

STATUS_STYLE = {
    "completed": "green",
    "failed": "red",
    "rejected": "red",
    "budget_exceeded": "yellow",
    "running": "cyan",
    "awaiting_approval": "magenta",
    "awaiting_review": "magenta",
}


def _clip(text: str | None, limit: int) -> str:
    if not text:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short(text: str | None, limit: int = 90) -> str:
    """The start of ``text`` on one line, escaped: step text comes from models, tools and
    decisions, so a ``[/]`` in it must print as written, not break or restyle the line."""
    return escape(_clip(text, limit))


def _e(value: object) -> str:
    return escape(str(value))


def step_line(step: StepRecord) -> str:
    """One line per step, e.g. ``s3  turn 2  info  tool lookup_order {"order_id": "1001"}  0.7 ms``."""
    head = f"[dim]{_e(step.step_id):>4}[/]  turn {step.turn}  [bold]{_e(step.agent)}[/]  "
    took = f"  [dim]{step.duration_ms:.1f} ms[/]" if step.duration_ms else ""
    if step.kind == "model":
        what = f"model {_e(step.model)}"
        if step.usage:
            what += f" [dim]({step.usage.input_tokens}→{step.usage.output_tokens} tok)[/]"
        said = (
            f" → {escape(repr(_short(step.output, 70)))}"
            if step.output
            else f" → {_e(step.detail)}"
        )
        return head + what + said + took
    if step.kind in ("tool", "tool_error"):
        mark = "[red]✗[/] " if step.kind == "tool_error" else ""
        # Arguments can be long (the code and data of a sandbox job): the line shows their start.
        arguments = _short(str(step.arguments or {}), 100)
        line = head + f"{mark}tool {_e(step.tool)} {arguments} → {_short(step.output, 60)}" + took
        if step.sandbox is not None:
            box = step.sandbox
            line += (
                f"  [dim]({_e(box.backend)}, {_e(box.isolation)} isolation, {box.run_ms:.0f} ms)[/]"
            )
        if step.artifacts:
            line += "  files: " + ", ".join(_e(a.name) for a in step.artifacts)
        return line
    if step.kind == "handoff":
        return head + f"[cyan]hand off → {_e(step.detail)}[/]"
    if step.kind == "tool_refused":
        return head + f"[red]refused[/] tool {_e(step.tool)}: {_short(step.detail)}"
    if step.kind == "guardrail":
        return (
            head
            + f"[yellow]guardrail[/] {_e(step.rule)} → {_e(step.action)}: {_short(step.reason, 70)}"
        )
    if step.kind in ("approval_requested", "review_requested"):
        what = (
            f"tool {_e(step.tool)}"
            if step.tool
            else "the answer"
            if step.kind == "review_requested"
            else "the input"
        )
        return head + f"[magenta]waits for a human[/] on {what}: {_short(step.reason, 60)}"
    if step.kind in ("approval_decided", "review_decided"):
        why = f": {_short(step.reason, 50)}" if step.reason else ""
        return (
            head
            + f"[magenta]{_e(step.action)}[/] {_e(step.ref)} by {_e(step.approver)} via {_e(step.via)}{why}"
        )
    if step.kind == "approval_refused":
        # A malformed signal names no step or approver: say what came, not "on ? by None".
        on = f" on {_e(step.ref)}" if step.ref and step.ref != "?" else ""
        by = f" by {_e(step.approver)}" if step.approver else ""
        return (
            head + f"[red]refused decision[/]{on}{by} ({_e(step.via)}): {_short(step.reason, 60)}"
        )
    if step.kind in ("approval_timeout", "approval_escalated"):
        return (
            head
            + f"[yellow]{step.kind.removeprefix('approval_')}[/] {_e(step.ref)}: {_short(step.reason, 60)}"
        )
    return head + f"[red]{step.kind}[/] {_short(step.detail)}"


def result_table(result: RunResult, *, ui_link: str | None = None) -> Table:
    """The final table: output, agent path, tokens, cost, latency per layer, Web UI link."""
    style = STATUS_STYLE.get(result.status, "white")
    table = Table(show_header=False, title=f"run {result.workflow_id}", title_justify="left")
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("status", f"[{style}]{result.status}[/]")
    if result.output is not None:
        table.add_row("output", Text(result.output))
    if result.error:
        table.add_row("error", Text(result.error, style="red"))
    table.add_row("agent path", Text(" → ".join(result.agent_path)))
    table.add_row("turns / steps", f"{result.turns} / {len(result.steps)}")
    u = result.usage
    table.add_row("tokens", f"{u.input_tokens} in, {u.output_tokens} out, {u.cached_tokens} cached")
    cost = f"${result.cost_usd:.6f}" + (
        "" if result.cost_complete else " (lower bound: a model's price is unknown)"
    )
    table.add_row("cost", cost)
    lat = result.latency
    table.add_row("latency", f"{lat.total_ms:.1f} ms total")
    for label, value in (
        ("  input processing", lat.input_ms),
        ("  reasoning (TTFT)", lat.reasoning_ms),
        ("  output generation", lat.output_ms),
        ("  tool execution", lat.tool_ms),
        ("  approval wait", lat.approval_ms),
        ("  orchestration", lat.orchestration_ms),
    ):
        table.add_row(label, f"{value:.1f} ms")
    if result.errors:
        table.add_row("errors", ", ".join(f"{k}: {v}" for k, v in sorted(result.errors.items())))
    if ui_link:
        table.add_row("Web UI", ui_link)
    return table


def print_result(console: Console, result: RunResult, *, ui_link: str | None = None) -> None:
    """The final table; piped, its output and error cells stay whole on one line each."""
    print_wide(console, result_table(result, ui_link=ui_link))


def print_artifacts(console: Console, saved: list[SavedArtifact]) -> None:
    """One line per file the run produced: where it was saved, or why it was not."""
    for item in saved:
        if item.path is None:
            console.print(
                f"[yellow]not saved[/] {escape(item.name)} ({item.size:,} bytes): larger than "
                "the agent's sandbox.artifact_bytes, so the run did not return it",
                soft_wrap=True,
            )
        else:
            # soft_wrap: a long path stays on one line, so it can be copied
            console.print(
                f"saved {escape(item.name)} ({item.size:,} bytes) to [bold]{escape(str(item.path))}[/]",
                soft_wrap=True,
            )
