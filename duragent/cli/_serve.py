"""``duragent worker``, ``duragent dev`` and ``duragent demo``: the long-running commands."""

from __future__ import annotations

import asyncio
import shlex
import signal
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from duragent import App
from duragent.cli._common import (
    DEFAULT_APP,
    Address,
    AppRef,
    Namespace,
    connect_or_explain,
    console,
    run_async,
    settings,
)
from duragent.settings import Settings

if TYPE_CHECKING:
    from temporalio.client import Client

MetricsPort = Annotated[
    int | None,
    typer.Option(
        help="Serve Prometheus metrics on this port at /metrics [env DURAGENT_METRICS_PORT]"
    ),
]


def _stop_event() -> asyncio.Event:
    """Set on Ctrl-C or SIGTERM, so workers drain and the dev server stops in order."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _serve_worker(
    app: App, s: Settings, stack: AsyncExitStack, *, main: bool = True, sandbox: bool | None = None
) -> None:
    """Serve ``app``: the main worker (workflows, models, tools) unless ``main`` is False, and
    a sandbox worker when ``sandbox`` (default: when the app has sandboxed tools)."""
    from duragent.workers import ensure_search_attributes, start_telemetry

    telemetry = start_telemetry(s)
    await telemetry.start()
    stack.push_async_callback(telemetry.shutdown)
    client = await connect_or_explain(s, telemetry)
    if telemetry.metrics and s.search_attributes and main:
        telemetry.watch_pending_approvals(client)
    if s.search_attributes and main:
        added = await ensure_search_attributes(client)
        if added:
            console.print(f"[dim]registered search attributes: {', '.join(added)}[/]")
    if main:
        await _main_worker(app, s, stack, client)
    if sandbox if sandbox is not None else any(t.sandboxed for t in app.tools.values()):
        await _sandbox_worker(app, s, stack, client)
    if telemetry.metrics_port is not None:
        console.print(f"metrics at [bold]http://localhost:{telemetry.metrics_port}/metrics[/]")
    if telemetry.tracing:
        console.print(f"[dim]traces exported to: {s.traces_exporter}[/]")


async def _main_worker(app: App, s: Settings, stack: AsyncExitStack, client: Client) -> None:
    from duragent.activities.models import close_providers
    from duragent.audit import open_audit_log
    from duragent.workers import build_providers, build_worker

    providers = build_providers()
    stack.push_async_callback(close_providers, providers)
    audit_log = open_audit_log(s.audit_log)
    stack.callback(audit_log.close)
    worker = build_worker(client, app, s, providers=providers, audit_log=audit_log)
    await stack.enter_async_context(worker)
    console.print(
        f"worker serving app [bold]{app.name}[/] ({len(app.agents)} agents, {len(app.tools)} tools) "
        f"on task queue [bold]{s.task_queue}[/] at {s.address}/{s.namespace}"
    )


async def _sandbox_worker(app: App, s: Settings, stack: AsyncExitStack, client: Client) -> None:
    from duragent.activities.sandbox import open_backend
    from duragent.workers import build_sandbox_worker

    backend = open_backend(s.sandbox_backend, image=s.sandbox_image)
    worker = build_sandbox_worker(client, app, s, backend=backend)
    await stack.enter_async_context(worker)
    weak = " [yellow](weak isolation: rlimits only)[/]" if backend.isolation == "weak" else ""
    console.print(
        f"sandbox worker serving [bold]{s.sandbox_task_queue}[/] with the "
        f"[bold]{backend.name}[/] backend{weak}"
    )


def _load(app_ref: str, s: Settings, *, quiet: bool = False) -> App:
    """Configure logging and import the app. ``quiet`` commands (dev, demo) print their own
    progress and log only warnings, unless DURAGENT_LOG_LEVEL asks for more."""
    from duragent import logging as dlog
    from duragent.workers import load_app

    dlog.configure(level=s.log_level or ("WARNING" if quiet else "INFO"))
    return load_app(app_ref)


@run_async
async def worker(
    app: AppRef = DEFAULT_APP,
    task_queue: Annotated[
        str | None, typer.Option(help="Task queue [env DURAGENT_TASK_QUEUE]")
    ] = None,
    metrics_port: MetricsPort = None,
    sandbox_only: Annotated[
        bool,
        typer.Option(
            "--sandbox-only",
            help="Serve only the sandbox task queue: the app's sandboxed tools and their jobs",
        ),
    ] = False,
    sandbox_backend: Annotated[
        str | None,
        typer.Option(
            help="bwrap, docker, subprocess or auto [env DURAGENT_SANDBOX_BACKEND, default auto]"
        ),
    ] = None,
    address: Address = None,
    namespace: Namespace = None,
) -> None:
    """Serve an App's agents and tools until Ctrl-C/SIGTERM (then finish in-flight tasks)."""
    s = settings(
        address,
        namespace,
        task_queue=task_queue,
        metrics_port=metrics_port,
        sandbox_backend=sandbox_backend,
    )
    served = _load(app, s)
    stop = _stop_event()
    async with AsyncExitStack() as stack:
        # A main worker leaves sandboxed tools to sandbox workers, which run where isolation
        # is possible and hold no model keys.
        await _serve_worker(served, s, stack, main=not sandbox_only, sandbox=sandbox_only)
        await stop.wait()
        console.print("stopping worker…")


async def _start_dev_server(
    s: Settings, home: Path, port: int, ui_port: int, stack: AsyncExitStack
) -> Settings:
    from duragent.cli._codec_cmd import start_dev_codec_server
    from duragent.workers import DevServer, DevServerError

    # Encryption on: the Web UI decodes payloads through a codec server started here.
    codec_endpoint = start_dev_codec_server(s, ui_port, stack)
    server = DevServer(home=home, port=port, ui_port=ui_port, ui_codec_endpoint=codec_endpoint)
    try:
        await server.start()
    except DevServerError as exc:
        from duragent.errors import DuragentError

        raise DuragentError(str(exc)) from None
    stack.callback(server.stop)
    console.print(
        f"Temporal dev server at [bold]{server.address}[/], Web UI at [bold]{server.ui_url}[/]"
    )
    return Settings(**{**s.__dict__, "address": server.address, "ui_url": server.ui_url})


@run_async
async def dev(
    app: AppRef = DEFAULT_APP,
    port: Annotated[int, typer.Option(help="Frontend gRPC port")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Web UI port")] = 8233,
    home: Annotated[
        Path | None, typer.Option(help="State folder [env DURAGENT_HOME, default .duragent]")
    ] = None,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Start only the server")] = False,
    metrics_port: MetricsPort = None,
) -> None:
    """Start a Temporal dev server (Web UI, search attributes, state under .duragent/) and a worker."""
    s = settings(None, None, home=home, metrics_port=metrics_port)
    served = None if no_worker else _load(app, s, quiet=True)
    stop = _stop_event()
    async with AsyncExitStack() as stack:
        s = await _start_dev_server(s, s.home, port, ui_port, stack)
        if served is not None:
            await _serve_worker(served, s, stack)
        console.print("[dim]Ctrl-C to stop[/]")
        await stop.wait()
        console.print("stopping…")


@run_async
async def demo(
    app: AppRef = DEFAULT_APP,
    exit_: Annotated[
        bool, typer.Option("--exit", help="Exit after the scenarios instead of serving")
    ] = False,
    port: Annotated[int, typer.Option(help="Frontend gRPC port")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Web UI port")] = 8233,
) -> None:
    """Start the dev server and a worker, run the app's demo scenarios, print results and links."""
    from duragent.cli._demo import run_scenarios, scenarios_of
    from duragent.workers import port_open

    s = settings(None, None)
    served = _load(app, s, quiet=True)
    stop = _stop_event()
    async with AsyncExitStack() as stack:
        if port_open("127.0.0.1", port):
            s = Settings(
                **{
                    **s.__dict__,
                    "address": f"127.0.0.1:{port}",
                    "ui_url": f"http://localhost:{ui_port}",
                }
            )
            console.print(f"[dim]using the Temporal server already listening on port {port}[/]")
        else:
            s = await _start_dev_server(s, s.home, port, ui_port, stack)
        await _serve_worker(served, s, stack)
        client = await connect_or_explain(s)
        ok = await run_scenarios(client, s, app)
        if exit_:
            if not ok:
                raise typer.Exit(1)
            return
        console.print(
            "\n[bold]Still serving[/] — try another run in a second terminal, then Ctrl-C here to stop:"
        )
        agent, inputs = scenarios_of(app)
        hint = inputs[-1] if inputs else "Hello!"
        console.print(f"  .venv/bin/duragent run {agent} {shlex.quote(hint)} --follow")
        await stop.wait()
        console.print("stopping…")
