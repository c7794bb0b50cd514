"""The typer application: one small module per group of commands."""

from __future__ import annotations

import typer

from duragent.cli import _mock, _run_cmds, _serve

cli = typer.Typer(
    name="duragent",
    help="Durable, governed AI agents on Temporal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cli.command("run")(_run_cmds.run)
cli.command("show")(_run_cmds.show)
cli.command("worker")(_serve.worker)
cli.command("dev")(_serve.dev)
cli.command("demo")(_serve.demo)
cli.command("mock-llm")(_mock.mock_llm)
