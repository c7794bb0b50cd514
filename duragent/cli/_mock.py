"""``duragent mock-llm``: a local OpenAI- and Anthropic-compatible server with scripted answers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from duragent.cli._common import console, fail


def mock_llm(
    config: Annotated[
        Path | None, typer.Option(help="YAML with rules, latency_ms, per_token_ms, faults")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8100,
    latency_ms: Annotated[float | None, typer.Option(help="Time to first token, ms")] = None,
) -> None:
    """Serve /v1/chat/completions and /v1/messages locally, for tests, demos and load tests."""
    from duragent.errors import SpecError
    from duragent.mock_llm import MockConfig, serve

    try:
        cfg = MockConfig.from_yaml(config) if config else MockConfig()
    except (OSError, ValueError, SpecError) as exc:
        fail(f"{config}: {exc}")
    if latency_ms is not None:
        cfg = cfg.model_copy(update={"latency_ms": latency_ms})
    console.print(
        f"mock-llm on http://{host}:{port}  (OpenAI base_url http://{host}:{port}/v1, "
        f"Anthropic base_url http://{host}:{port})"
    )
    serve(cfg, host=host, port=port)
