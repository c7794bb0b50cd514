"""How ``duragent eval`` shows a finished evaluation: the report table (one model, or several
side by side), the comparison with a baseline, and where the report files went."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from duragent.cli._common import natural_width, print_wide, room
from duragent.eval import Comparison, EvalReport, GroupStats, table_columns, table_rows

LEFT = {"group"}
"""Columns read as text, aligned left; the figures align right."""


def print_report(console: Console, report: EvalReport) -> None:
    """One model's report: a row per group (overall, categories, ``#tags``), then totals."""
    o = report.overall
    model = f" on {report.model}" if report.model else ""
    console.print(
        f"\n[bold]{report.dataset}[/]: agent {report.agent}{model}, "
        f"[bold]{o.accuracy:.1%}[/] correct over {o.attempts} run(s) of {o.cases} case(s)",
        soft_wrap=not console.is_terminal,
    )
    columns, rows = table_columns(report), table_rows(report)
    table = _table(columns, rows, len(report.categories))
    if natural_width(console, table) > room(console, table):
        # Too wide for this terminal: the figures a reader compares, every name in full.
        table = _table(list(COMPACT), _compact(columns, rows), len(report.categories))
        console.print(f"({COMPACT_LEGEND}; every column is in the report files)")
    print_wide(console, table)
    console.print(_totals(o), soft_wrap=not console.is_terminal)


COMPACT: dict[str, tuple[str, ...]] = {
    "group": ("group",),
    "n": ("cases",),
    "ok": ("correct",),
    "part": ("partial",),
    "fail": ("incorrect",),
    "acc": ("accuracy",),
    "p50/p99 ms": ("p50 ms", "p99 ms"),
    "$/case": ("cost/case $",),
}
"""The report table on a terminal too narrow for every column: short headers, and the
columns each one shows."""
COMPACT_LEGEND = "n cases; ok, part, fail: correct, partial, incorrect; acc: accuracy"


def _compact(columns: list[str], rows: list[list[str]]) -> list[list[str]]:
    at = [[columns.index(name) for name in names] for names in COMPACT.values()]
    return [["/".join(row[i] for i in where) for where in at] for row in rows]


def _table(columns: list[str], rows: list[list[str]], categories: int) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    for column in columns:
        left = column in LEFT
        table.add_column(column, justify="left" if left else "right", no_wrap=left)
    for i, row in enumerate(rows):
        table.add_row(*row, end_section=i == 0 or i == categories)
    return table


def _totals(o: GroupStats) -> str:
    errors = ", ".join(f"{kind} {count}" for kind, count in o.errors.items()) or "none"
    return (
        f"{o.tokens} tokens ({o.tokens_per_case:.0f}/case), agent cost ${o.cost_usd:.4f} "
        f"(${o.cost_per_case_usd:.5f}/case), judge cost ${o.judge_cost_usd:.4f}; "
        f"error types: {errors}"
    )


def print_side_by_side(console: Console, labels: list[str], reports: list[EvalReport]) -> None:
    """Several models' reports as one table, a column per model."""
    first = reports[0]
    console.print(f"\n[bold]{first.dataset}[/]: agent {first.agent} on {len(reports)} models")
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("")
    for label in labels:
        table.add_column(label, justify="right")

    def row(name: str, cells: list[str], end: bool = False) -> None:
        table.add_row(name, *cells, end_section=end)

    overall = [r.overall for r in reports]
    row("accuracy", [f"{s.accuracy:.1%}" for s in overall])
    row("correct / partial / incorrect", [f"{s.correct} / {s.partial} / {s.incorrect}" for s in overall])  # fmt: skip
    row("mean score", [f"{s.mean_score:.2f}" for s in overall])
    if first.k > 1:
        row(f"pass@{first.k} / pass^{first.k}", [f"{s.pass_at_k:.1%} / {s.pass_all_k:.1%}" for s in overall])  # fmt: skip
    row("latency P50 / P99 ms", [f"{s.latency_p50_ms:.0f} / {s.latency_p99_ms:.0f}" for s in overall])  # fmt: skip
    row("tokens per case", [f"{s.tokens_per_case:.0f}" for s in overall])
    row("cost per case $", [f"{s.cost_per_case_usd:.5f}" for s in overall])
    row("cost total $ (judge)", [f"{s.cost_usd:.4f} ({s.judge_cost_usd:.4f})" for s in overall])
    row("errors", [", ".join(f"{k} {n}" for k, n in s.errors.items()) or "-" for s in overall], True)  # fmt: skip
    categories = sorted({name for r in reports for name in r.categories})
    for i, name in enumerate(categories):
        stats = [r.categories.get(name) for r in reports]
        row(name, [_cell(s) for s in stats], i == len(categories) - 1)
    for name in sorted({name for r in reports for name in r.tags}):
        row(f"#{name}", [_cell(r.tags.get(name)) for r in reports])
    print_wide(console, table)


def _cell(s: GroupStats | None) -> str:
    if s is None:
        return "-"
    return f"{s.accuracy:.1%} ({s.correct}/{s.cases}) p50 {s.latency_p50_ms:.0f} p99 {s.latency_p99_ms:.0f}"  # fmt: skip


def print_comparison(console: Console, comparison: Comparison, *, label: str | None) -> None:
    """Per-category deltas, the cases that flipped, and the verdict of the gate."""
    c = comparison
    against = f" ({label})" if label else ""
    console.print(
        f"\n[bold]against the baseline{against}[/]: accuracy {c.accuracy_before:.1%} → "
        f"{c.accuracy_after:.1%}, cost per case ${c.cost_per_case_before:.5f} → "
        f"${c.cost_per_case_after:.5f}, P99 {c.p99_before_ms:.0f} → {c.p99_after_ms:.0f} ms",
        soft_wrap=not console.is_terminal,
    )
    table = Table(show_edge=False, pad_edge=False)
    for column in ("category", "before", "after", "delta"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for d in c.categories:
        delta = d.accuracy_delta
        shown = "-" if delta is None else f"{delta * 100:+.1f} pt"
        style = "red" if delta is not None and delta < 0 else ""
        table.add_row(d.category, _pct(d.accuracy_before), _pct(d.accuracy_after), f"[{style}]{shown}[/]" if style else shown)  # fmt: skip
    console.print(table)
    for flip in c.broke:
        console.print(f"[red]broke[/] {flip.case_id} ({flip.category}): {flip.before} → {flip.after}", soft_wrap=not console.is_terminal)  # fmt: skip
    for flip in c.fixed:
        console.print(f"[green]fixed[/] {flip.case_id} ({flip.category}): {flip.before} → {flip.after}", soft_wrap=not console.is_terminal)  # fmt: skip
    if c.added:
        console.print(
            f"new cases (not in the baseline): {', '.join(c.added)}",
            soft_wrap=not console.is_terminal,
        )
    if c.removed:
        console.print(
            f"cases gone since the baseline: {', '.join(c.removed)}",
            soft_wrap=not console.is_terminal,
        )
    if c.regressed:
        for reason in c.reasons:
            console.print(
                f"[red]regressed{against}:[/] {reason}", soft_wrap=not console.is_terminal
            )
    else:
        console.print(f"[green]no regression{against}[/]", soft_wrap=not console.is_terminal)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def print_files(console: Console, files: dict[str, Path]) -> None:
    console.print("report files:")
    for path in files.values():
        console.print(f"  {path}", soft_wrap=not console.is_terminal)
