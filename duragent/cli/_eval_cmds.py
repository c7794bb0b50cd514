"""``duragent eval``: run a dataset against an agent as an ``EvalRun`` workflow, follow it,
report, and gate on a baseline; ``duragent eval add`` turns a finished run into a case.

Everything the user wrote is checked before anything starts: the dataset (one line naming the
case and field), the baseline report, the models. Exit codes: 0 done (and no regression),
1 regressed against ``--baseline``, 2 an error to fix (bad input, an evaluation the workers
refused as invalid, an unreachable server), 130 interrupted (the evaluation keeps running).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from duragent._spec import ModelRef
from duragent.cli._common import (
    Address,
    Namespace,
    connect_or_explain,
    console,
    err,
    fail,
    run_async,
    settings,
)
from duragent.cli._eval_add import add
from duragent.cli._eval_follow import (
    Evaluation,
    find,
    follow,
    model_label,
    slug,
    start,
)
from duragent.cli._eval_render import (
    print_comparison,
    print_files,
    print_report,
    print_side_by_side,
)
from duragent.eval import (
    Comparison,
    DatasetError,
    EvalReport,
    EvalRequest,
    EvalResult,
    compare,
    load_dataset,
    summarize,
)

RUN = "run"
USAGE = (
    "duragent eval DATASET [--agent NAME] [OPTIONS]\n"
    "       duragent eval --resume [EVAL_ID] [OPTIONS]\n"
    "       duragent eval add RUN_ID --dataset FILE [OPTIONS]"
)


class EvalGroup(TyperGroup):
    """``duragent eval add ...`` is the add command; anything else (a dataset, ``--resume``,
    nothing) goes to the run command. Typer cannot put a positional argument next to
    subcommands, so the group routes by the first word."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands:
            args = [RUN, *args]
        return super().parse_args(ctx, args)


class RunCommand(typer.core.TyperCommand):
    """Shows the group's usages in its help: ``duragent eval --help`` lands here."""

    def format_usage(self, ctx: Any, formatter: Any) -> None:
        formatter.write_text(f"Usage: {USAGE}")

    def get_usage(self, ctx: Any) -> str:
        return f"Usage: {USAGE}"


eval_app = typer.Typer(
    cls=EvalGroup,
    help="Run evaluations (duragent eval DATASET) and grow datasets (duragent eval add).",
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _models(values: list[str]) -> list[ModelRef | None]:
    if not values:
        return [None]
    models: list[ModelRef | None] = []
    for value in values:
        try:
            model = ModelRef.model_validate(value)
        except ValidationError as exc:
            problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
            fail(f"--model {value!r}: {problems}")
        if any(m is not None and (m.provider, m.name) == (model.provider, model.name) for m in models):  # fmt: skip
            fail(f"--model {value!r} is given twice")
        models.append(model)
    return models


def _baseline(path: Path | None) -> EvalReport | None:
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"--baseline {path}: no such file (it is a report.json an earlier `duragent eval` wrote)")  # fmt: skip
    except OSError as exc:
        fail(f"--baseline {path}: cannot read it: {exc.strerror or exc}")
    try:
        return EvalReport.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        fail(f"--baseline {path}: not an evaluation report (report.json): {where + ': ' if where else ''}{first['msg']}")  # fmt: skip


@eval_app.command(RUN, cls=RunCommand)
@run_async
async def run(
    dataset: Annotated[
        str | None,
        typer.Argument(
            metavar="DATASET",
            help="The dataset, YAML or JSONL; with --resume, the eval id to attach to",
            show_default=False,
        ),
    ] = None,
    agent: Annotated[
        str | None, typer.Option(help="Entry agent (default: the dataset's 'agent:')")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Cases in flight at once")] = 8,
    repeat: Annotated[
        int,
        typer.Option(min=1, max=50, help="Run every case K times (pass@k, pass^k)", metavar="K"),
    ] = 1,
    model: Annotated[
        list[str] | None,
        typer.Option(
            help="Run every agent on this model, e.g. openai/gpt-4.1-mini; repeat the flag to "
            "compare models side by side (default: the agents' own models)",
            metavar="PROVIDER/NAME",
        ),
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="Tenant of the cases' runs")] = None,
    user: Annotated[str | None, typer.Option(help="The end user the cases' runs act for")] = None,
    task_queue: Annotated[
        str | None, typer.Option(help="Task queue of the workers [env DURAGENT_TASK_QUEUE]")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Where to write report.json, report.md, junit.xml and report.png "
            "(default: $DURAGENT_HOME/evals/<eval id>)",
            metavar="DIR",
        ),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="An earlier report.json: print what changed, exit 1 if it regressed",
            metavar="REPORT.json",
        ),
    ] = None,
    max_accuracy_drop: Annotated[
        float,
        typer.Option(
            min=0, help="Accuracy (overall or a category's) may fall this much (0.05: five points)"
        ),
    ] = 0.0,
    max_cost_rise: Annotated[
        float, typer.Option(min=0, help="Cost per case may rise this much (0.10: 10 %)")
    ] = 0.10,
    max_p99_rise: Annotated[
        float, typer.Option(min=0, help="P99 latency may rise this much (0.25: 25 %)")
    ] = 0.25,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Attach to a running or finished evaluation (EVAL_ID, or the most recent one)",
        ),
    ] = False,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Start the evaluation and return")
    ] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print the report(s) as JSON")] = False,
    address: Address = None,
    namespace: Namespace = None,
) -> None:
    """Run a dataset's cases against an agent (an EvalRun workflow: each case a child run),
    show progress, print the report, write its files and, with --baseline, exit 1 on a
    regression. Ctrl-C leaves the evaluation running; --resume attaches again.

    `duragent eval add RUN_ID --dataset FILE` turns a finished run into a case
    (see `duragent eval add --help`).
    """
    s = settings(address, namespace, task_queue=task_queue)
    if not resume and dataset is None:
        fail(
            "give a DATASET to run (duragent eval examples/customer_support/eval.yaml), "
            "--resume [EVAL_ID] to attach to an evaluation, or `add RUN_ID --dataset FILE`"
        )
    if resume and no_wait:
        fail("--resume attaches to an evaluation to wait for it; drop --no-wait")
    if resume and (agent or model or repeat != 1 or tenant or user):
        fail("--resume attaches to an evaluation as it was started; drop --agent, --model, --repeat, --tenant and --user")  # fmt: skip
    base = _baseline(baseline)
    gate = {"max_accuracy_drop": max_accuracy_drop, "max_cost_rise": max_cost_rise, "max_p99_rise": max_p99_rise}  # fmt: skip
    say = err if json_ else console
    if resume:
        client = await connect_or_explain(s)
        evaluation = await find(client, dataset, say=say)
        labels = [_label(evaluation, h.id) for h in evaluation.handles]
    else:
        assert dataset is not None
        requests = _requests(dataset, agent, concurrency, repeat, model or [], tenant, user)
        client = await connect_or_explain(s)
        evaluation = await start(client, requests, task_queue=s.task_queue)
        labels = [model_label(r) for r in requests]
        count = len(requests[0].dataset.cases)
        say.print(f"started [bold]{evaluation.group}[/]: {count} case(s) x {repeat} on agent {requests[0].agent}")  # fmt: skip
        for handle, label in zip(evaluation.handles, labels, strict=True):
            extra = f" ({label})" if len(requests) > 1 else ""
            say.print(f"  {handle.id}{extra}: {s.run_url(handle.id)}", soft_wrap=True)
    hint = f"duragent eval --resume {evaluation.group}"
    if no_wait:
        say.print(f"it runs on the workers; follow it with `{hint}`", soft_wrap=True)
        return
    say.print(f"[dim]Ctrl-C leaves it running; `{hint}` attaches again[/]", soft_wrap=True)
    try:
        results = await follow(evaluation, labels, console=say)
    except asyncio.CancelledError:
        err.print(f"\nthe evaluation keeps running on the workers; resume with `{hint}`")
        raise
    code = _finish(evaluation, results, labels, out or s.home / "evals" / evaluation.group, base, gate, json_)  # fmt: skip
    if code:
        raise typer.Exit(code)


def _label(evaluation: Evaluation, workflow_id: str) -> str:
    return workflow_id.removeprefix(f"{evaluation.group}-") if len(evaluation.handles) > 1 else workflow_id  # fmt: skip


def _requests(
    path: str,
    agent: str | None,
    concurrency: int,
    repeat: int,
    models: list[str],
    tenant: str | None,
    user: str | None,
) -> list[EvalRequest]:
    try:
        data = load_dataset(path)
    except DatasetError as exc:
        fail(str(exc))
    name = agent or data.agent
    if not name:
        fail(f"{path}: which agent? give --agent NAME, or 'agent:' in the dataset")
    return [
        EvalRequest(
            dataset=data,
            agent=name,
            concurrency=concurrency,
            repeat=repeat,
            model=m,
            tenant=tenant,
            user=user,
        )
        for m in _models(models)
    ]


def _finish(
    evaluation: Evaluation,
    results: list[EvalResult],
    labels: list[str],
    folder: Path,
    base: EvalReport | None,
    gate: dict[str, float],
    json_: bool,
) -> int:
    """Report, write the files, gate. Returns the exit code."""
    from duragent.eval import write_reports

    several = len(results) > 1
    if several:  # the models' own names, now that the results say them
        labels = [r.model or label for r, label in zip(results, labels, strict=True)]
    reports = [
        summarize(
            r.outcomes,
            dataset=r.dataset,
            agent=r.agent,
            model=r.model,
            started_at=r.started_at,
            finished_at=r.finished_at,
        )
        for r in results
    ]
    comparisons: list[Comparison] = [compare(r, base, **gate) for r in reports] if base else []
    files: list[dict[str, Path]] = []
    for handle, report in zip(evaluation.handles, reports, strict=True):
        where = folder / slug(handle.id.removeprefix(f"{evaluation.group}-")) if several else folder
        try:
            files.append(write_reports(report, where))
        except OSError as exc:
            fail(f"cannot write the report files under {where}: {exc.strerror or exc}")
    if json_:
        out: dict[str, Any] = {
            "eval_id": evaluation.group,
            "workflow_ids": [h.id for h in evaluation.handles],
            "reports": [r.model_dump(mode="json") for r in reports],
            "files": [{k: str(v) for k, v in f.items()} for f in files],
        }
        if base:
            out["comparisons"] = [c.model_dump(mode="json") for c in comparisons]
        print(json.dumps(out, indent=2))
    else:
        if several:
            print_side_by_side(console, labels, reports)
        else:
            print_report(console, reports[0])
        for label, comparison in zip(labels, comparisons, strict=False):
            print_comparison(console, comparison, label=label if several else None)
        for written in files:
            print_files(console, written)
    regressed = [label for label, c in zip(labels, comparisons, strict=False) if c.regressed]
    if regressed:
        which = f" ({', '.join(regressed)})" if several else ""
        err.print(f"[red]regressed against the baseline{which}[/]: exit 1")
        return 1
    return 0


eval_app.command("add")(add)
