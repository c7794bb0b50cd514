"""``duragent audit verify`` and ``duragent audit export``, and the audit table of ``show --audit``."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from duragent.audit import AuditLog, open_audit_log
from duragent.cli._common import console, err, fail, print_wide, settings
from duragent.errors import DuragentError

audit_app = typer.Typer(
    name="audit",
    help="Check and export the hash-chained audit log.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

LogLocation = Annotated[
    str | None,
    typer.Option(
        "--log",
        help="A SQLite path, sqlite:///path or postgresql://… "
        "[env DURAGENT_AUDIT_LOG, default audit.db in DURAGENT_HOME (.duragent)]",
    ),
]
WHEN_HELP = "a duration back from now (45s, 30m, 1h, 2d, 1w) or an ISO datetime (UTC if no zone)"
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(text: str, *, now: datetime | None = None) -> datetime:
    """``30m``, ``1h``, ``2d`` (that long before ``now``) or an ISO datetime, as aware UTC."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if match:
        now = now or datetime.now(UTC)
        return now - timedelta(**{_UNITS[match[2]]: float(match[1])})
    moment = datetime.fromisoformat(text.strip())
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _when(option: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_when(text)
    except ValueError:
        fail(f"{option} {text!r}: expected {WHEN_HELP}, e.g. 1h or 2026-01-31T12:00:00Z")


@contextmanager
def _opened(location: str | None) -> Iterator[AuditLog]:
    # Resolved like every other command's (and the workers'): --log, then DURAGENT_AUDIT_LOG,
    # then DURAGENT_HOME/audit.db. Reading only DURAGENT_AUDIT_LOG verified whatever
    # .duragent/audit.db the current directory held, or failed from any other directory.
    location = location or settings(None, None).audit_log
    try:
        log = open_audit_log(location, create=False)
    except DuragentError as exc:
        fail(str(exc))
    with log:
        yield log


@audit_app.command("verify")
def verify(log: LogLocation = None) -> None:
    """Walk the whole chain; exit 1 and name each record that was modified or is missing."""
    with _opened(log) as audit:
        report = audit.verify()
    if report.ok:
        console.print(f"ok: {report.checked} records, chain intact")
        if report.checked:
            # Kept somewhere else, the head detects a later rewrite of the whole tail.
            console.print(
                f"[dim]head: seq {report.head_seq}, hash {report.head_hash}[/]", soft_wrap=True
            )
        return
    for problem in report.problems:
        err.print(f"[red]✗[/] {problem}", soft_wrap=True)
    err.print(f"[red]{len(report.problems)} problem(s)[/] in {report.checked} records")
    raise typer.Exit(1)


@audit_app.command("export")
def export(
    since: Annotated[str | None, typer.Option(help=f"Recorded at or after: {WHEN_HELP}")] = None,
    until: Annotated[str | None, typer.Option(help=f"Recorded before: {WHEN_HELP}")] = None,
    run: Annotated[
        str | None, typer.Option("--run", help="Only this workflow id, e.g. run-support-1a2b3c")
    ] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="JSONL file to write, or - for stdout")
    ] = "-",
    log: LogLocation = None,
) -> None:
    """Write records as JSON Lines, one per line, in chain order."""
    start, end = _when("--since", since), _when("--until", until)
    with _opened(log) as audit:
        rows = audit.export(start, end, workflow_id=run)
        if output == "-":
            count = _write_jsonl(sys.stdout, rows)
        else:
            with open(output, "w", encoding="utf-8") as file:
                count = _write_jsonl(file, rows)
    err.print(f"exported {count} records" + ("" if output == "-" else f" to {output}"))


def _write_jsonl(out: TextIO, rows: Iterable[dict[str, Any]]) -> int:
    count = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
        count += 1
    out.flush()
    return count


def print_audit(console: Console, rows: list[dict[str, Any]]) -> None:
    """A run's audit records as a compact table (``duragent show RUN --audit``)."""
    if not rows:
        console.print("[dim]no audit records for this run[/]")
        return
    table = Table(title=f"audit trail ({len(rows)} records)", title_justify="left")
    for column in ("seq", "at", "step", "kind", "rule/action", "approver", "reason", "args"):
        table.add_column(column, overflow="fold", no_wrap=column in ("seq", "at", "args"))
    for row in rows:
        step = row["entry"]["step"]
        kind = step["kind"] + (f" {step['tool']}" if step.get("tool") else "")
        decision = " → ".join(x for x in (step.get("rule"), step.get("action")) if x)
        cells = (
            str(row["seq"]),
            str(step["at"])[:19].replace("T", " "),
            step["step_id"],
            kind,
            decision,
            step.get("approver") or "",
            step.get("reason") or "",
            (step.get("args_hash") or "")[:12],
        )
        table.add_row(*map(Text, cells))  # recorded text is never read as markup
    # Piped to a file, a row stays one line: folded at 80 columns it became fragments of reasons.
    print_wide(console, table)
