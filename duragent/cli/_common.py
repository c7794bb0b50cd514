"""Options and error handling shared by the commands."""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import traceback
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console, RenderableType
from rich.markup import escape
from temporalio.client import Client

from duragent import _redact
from duragent.errors import DuragentError
from duragent.settings import Settings

if TYPE_CHECKING:
    from duragent.workers import Telemetry

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

T = TypeVar("T")

Address = Annotated[
    str | None,
    typer.Option(help="Temporal frontend host:port [env TEMPORAL_ADDRESS, default localhost:7233]"),
]
Namespace = Annotated[
    str | None, typer.Option(help="Temporal namespace [env TEMPORAL_NAMESPACE, default default]")
]
AppRef = Annotated[
    str,
    typer.Option("--app", "-A", help="The App to serve, as module:attribute"),
]
DEFAULT_APP = "duragent.examples.customer_support.app:app"

DEBUG_ENV = "DURAGENT_DEBUG"
"""Set by ``duragent --debug`` too, so the flag reaches every command (and child process)."""


def debug() -> bool:
    """Whether ``duragent --debug`` or ``DURAGENT_DEBUG=1`` asked for tracebacks."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() in {"1", "true", "yes", "on", "y", "t"}


def natural_width(console: Console, renderable: RenderableType) -> int:
    """How wide ``renderable`` is with no limit: a table with every cell on one line."""
    return console.measure(renderable, options=console.options.update_width(10_000)).maximum


def room(console: Console, renderable: RenderableType) -> int:
    """How wide output may be: the terminal's width, or COLUMNS when set; piped output with
    no COLUMNS (a CI log, a file) is as wide as the renderable needs, never cut at rich's 80."""
    if console.is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return console.width
    return natural_width(console, renderable)


def print_wide(console: Console, renderable: RenderableType) -> None:
    """Print a table (or any renderable) at :func:`room`'s width.

    Not on a terminal, rich lays everything out in 80 columns: a table's long cells fold into
    fragments over several lines, which neither a reader of a log nor ``grep`` can use.
    """
    width = room(console, renderable)
    if width <= console.width:
        console.print(renderable)
        return
    saved = console.width
    console.width = width
    try:
        console.print(renderable)
    finally:
        console.width = saved


def say(console: Console, text: str) -> None:
    """Print a line of prose (markup allowed): wrapped to a terminal, whole when piped."""
    console.print(text, soft_wrap=not console.is_terminal)


def settings(address: str | None, namespace: str | None, **overrides: Any) -> Settings:
    try:
        return Settings.from_env(address=address, namespace=namespace, **overrides)
    except ValueError as exc:
        fail(str(exc))


def redactor() -> _redact.Redactor:
    """The process's redactor, knowing this process's secrets too: an error may quote a setting
    (a ``DURAGENT_AUDIT_LOG`` DSN with its password, a key an app's import failed on), and what a
    command prints ends up in CI logs and pasted issues."""
    return _redact.current().extended(_redact.secrets_from_env(os.environ))


def fail(message: str, code: int = 2) -> NoReturn:
    # Messages are plain text: "duragent[plot]" or a JSON list must not read as markup. One
    # message is one line, whatever the terminal's width (soft_wrap), so it greps and pastes.
    err.print(f"[red]error:[/] {escape(redactor().text(message))}", soft_wrap=True)
    raise typer.Exit(code)


async def connect_or_explain(s: Settings, telemetry: Telemetry | None = None) -> Client:
    from duragent.workers import connect

    try:
        return await connect(s, telemetry)
    except RuntimeError as exc:
        raise DuragentError(
            f"cannot reach Temporal at {s.address} (namespace {s.namespace!r}): {exc}. "
            "Start one with `duragent dev`, or set TEMPORAL_ADDRESS / --address"
        ) from None


def run_async(fn: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """Run an async command; turn duragent's errors into a clear message and exit code 2.

    The traceback is printed too only under ``--debug``: a bad spec or app is the user's to fix
    from the message, and a traceback through duragent's internals buries it.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return asyncio.run(fn(*args, **kwargs))
        except DuragentError as exc:
            if debug():
                sys.stderr.write(redactor().text("".join(traceback.format_exception(exc))))
            fail(str(exc))
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    return wrapper
