"""Log lines: JSON with the bound run context and trace ids; planted secrets never printed."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider

from duragent import logging as dlog

KEY = "sk-live-4b1d9f3a77e2c0aa"


@pytest.fixture
def output(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """What a worker configured like the CLI's writes, from a process with an API key set."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    dlog.configure(stream=stream)
    try:
        yield stream
    finally:
        structlog.reset_defaults()
        root.handlers[:] = handlers
        root.setLevel(level)


def lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_a_planted_key_never_reaches_the_output(output: io.StringIO) -> None:
    log = structlog.get_logger("duragent.test")
    log.info("calling the provider", api_key=KEY)
    log.warning("provider refused", error=f"401: invalid key {KEY}", detail={"sent": [KEY]})
    logging.getLogger("temporalio.worker").warning("activity failed: Bearer %s", KEY)
    try:
        raise RuntimeError(f"auth failed for {KEY}")
    except RuntimeError:
        log.exception("unexpected")
        logging.getLogger("temporalio.worker").exception("unexpected in the SDK")

    text = output.getvalue()
    assert KEY not in text
    assert len(lines(text)) == 5  # every line is JSON (not a terminal), stdlib ones included
    assert text.count(dlog.REDACTED) >= 5


def test_lines_carry_the_bound_run_and_the_current_trace(output: io.StringIO) -> None:
    tracer = TracerProvider().get_tracer("test")
    with (
        structlog.contextvars.bound_contextvars(run_id="r-1", agent="support", turn=2, step="s4"),
        tracer.start_as_current_span("tool") as span,
    ):
        structlog.get_logger("duragent.test").info("tool call", tool="lookup_order")
        logging.getLogger("temporalio.activity.x").warning("from the SDK")
    (ours, sdk) = lines(output.getvalue())
    context = span.get_span_context()
    for line in (ours, sdk):
        assert line["trace_id"] == format(context.trace_id, "032x")
        assert line["span_id"] == format(context.span_id, "016x")
    assert {k: ours[k] for k in ("run_id", "agent", "turn", "step")} == {
        "run_id": "r-1", "agent": "support", "turn": 2, "step": "s4",
    }  # fmt: skip
    assert sdk["logger"] == "temporalio.activity.x"


def test_short_values_are_not_scrubbed() -> None:
    scrub = dlog.ScrubValues(["abc"])
    assert scrub(None, "info", {"event": "abc abc"}) == {"event": "abc abc"}


def test_token_counts_stay_numbers_and_secret_names_are_redacted(output: io.StringIO) -> None:
    structlog.get_logger("duragent.activity").info(
        "model call", input_tokens=437, output_tokens=12, max_tokens=1024, access_token="abc"
    )
    (line,) = lines(output.getvalue())
    assert (line["input_tokens"], line["output_tokens"], line["max_tokens"]) == (437, 12, 1024)
    assert line["access_token"] == dlog.REDACTED


def test_url_credentials_never_reach_the_output(output: io.StringIO) -> None:
    url = "http://ops:s3cr3tpass@127.0.0.1:8100/v1/chat/completions"
    logging.getLogger("httpx").warning("HTTP Request: POST %s", url)
    structlog.get_logger("duragent.test").warning("cannot reach", base_url=url)
    text = output.getvalue()
    assert "s3cr3tpass" not in text
    assert text.count(f"http://{dlog.REDACTED}@127.0.0.1:8100") == 2
