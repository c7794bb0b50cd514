"""The typer application: one small module per group of commands."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from duragent.cli import (
    _approval_cmds,
    _audit_cmds,
    _codec_cmd,
    _eval_cmds,
    _mock,
    _report_cmd,
    _run_cmds,
    _serve,
)
from duragent.cli._common import DEBUG_ENV

cli = typer.Typer(
    name="duragent",
    help="Durable, governed AI agents on Temporal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@cli.callback()
def _global_options(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            envvar=DEBUG_ENV,
            help="On an error, print the traceback as well as the message",
        ),
    ] = False,
) -> None:
    """Durable, governed AI agents on Temporal."""
    # Kept in the environment rather than a module global: the commands read it where they
    # report errors, and processes they start (mock-llm, sandbox jobs) inherit it.
    if debug:
        os.environ[DEBUG_ENV] = "1"


cli.command("run")(_run_cmds.run)
cli.command("show")(_run_cmds.show)
cli.command("worker")(_serve.worker)
cli.command("dev")(_serve.dev)
cli.command("demo")(_serve.demo)
cli.command("mock-llm")(_mock.mock_llm)
cli.command("approvals")(_approval_cmds.approvals)
cli.command("approve")(_approval_cmds.approve)
cli.command("reject")(_approval_cmds.reject)
cli.command("report")(_report_cmd.report)
cli.command("codec-server")(_codec_cmd.codec_server)
cli.command("keygen")(_codec_cmd.keygen)
cli.add_typer(
    _eval_cmds.eval_app,
    name="eval",
    help="Run a dataset against an agent (duragent eval DATASET); add a run as a case (eval add).",
)
cli.add_typer(
    _audit_cmds.audit_app, name="audit", help="Verify and export the hash-chained audit log."
)
