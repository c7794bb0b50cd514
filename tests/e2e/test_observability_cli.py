"""A worker's telemetry as an operator sees it: /metrics scraped over HTTP, JSON log lines, spans.

``duragent dev --metrics-port`` with console span export and a planted API key; one support
run; then the scrape is parsed with prometheus_client's parser and the worker's output read.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_cli import DURAGENT, ROOT, env_for, free_port, port_open, wait_for

PLANTED = "sk-planted-5f0c2a9e7d41b8"


def scrape(port: int) -> dict[str, list[Any]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(samples: list[Any], name: str, **labels: str) -> float:
    matching = [
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert matching, f"no sample {name} {labels}"
    return float(sum(matching))


def test_metrics_endpoint_logs_and_spans_of_a_worker(tmp_path: Path) -> None:
    port, ui_port, metrics_port = free_port(), free_port(), free_port()
    env = {
        **env_for(tmp_path),
        "OPENAI_API_KEY": PLANTED,
        "OTEL_TRACES_EXPORTER": "console",
        "DURAGENT_LOG_LEVEL": "INFO",  # dev logs only warnings by default
    }
    out, err = tmp_path / "dev.out", tmp_path / "dev.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [
                DURAGENT,
                "dev",
                *("--port", str(port), "--ui-port", str(ui_port)),
                *("--metrics-port", str(metrics_port)),
            ],
            cwd=ROOT,
            env=env,
            stdout=stdout,
            stderr=stderr,
            text=True,
        )
        try:
            wait_for(lambda: "worker serving" in out.read_text(), 60, "duragent dev")
            assert port_open(metrics_port)
            done = subprocess.run(
                [
                    DURAGENT,
                    "run",
                    "support",
                    "Where is my order 1001?",
                    "--wait",
                    *("--address", f"127.0.0.1:{port}"),
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            # The SDK's metrics are drained into the endpoint once a second.
            wait_for(
                lambda: "temporal_workflow_completed" in scrape(metrics_port), 10, "SDK metrics"
            )
            families = scrape(metrics_port)
        finally:
            process.terminate()
            process.wait(30)

    assert f"metrics at http://localhost:{metrics_port}/metrics" in out.read_text()
    # duragent's series, named as the dashboards and alert rules expect.
    runs = families["duragent_runs"]
    assert value(runs, "duragent_runs_total", agent="support", status="completed") == 1
    tokens = families["duragent_tokens"]
    assert value(tokens, "duragent_tokens_total", agent="support", type="input") > 0
    duration = families["duragent_run_duration_seconds"]
    assert value(duration, "duragent_run_duration_seconds_count", agent="support") == 1
    assert value(duration, "duragent_run_duration_seconds_bucket", agent="support", le="10.0") == 1
    layers = families["duragent_layer_duration_seconds"]
    assert value(layers, "duragent_layer_duration_seconds_count", layer="tool") == 1
    assert value(families["duragent_cost_usd"], "duragent_cost_usd_total", agent="support") > 0
    assert "duragent_pending_approvals" in families
    # ...and the Temporal SDK's own, through the same endpoint.
    assert value(families["temporal_workflow_completed"], "temporal_workflow_completed_total") >= 1
    assert any(name.startswith("temporal_activity_") for name in families)

    # Logs: JSON lines; model and tool lines carry the run, agent, turn/step and trace.
    lines = [json.loads(line) for line in err.read_text().splitlines() if line.startswith("{")]
    calls = [line for line in lines if line.get("event") == "model call"]
    assert len(calls) == 3, lines
    for line in calls:
        assert {"run_id", "agent", "turn", "trace_id", "span_id"} <= line.keys(), line
    tools = [line for line in lines if line.get("event") == "tool call"]
    assert tools and all({"run_id", "step", "trace_id"} <= line.keys() for line in tools)
    assert len({line["trace_id"] for line in calls + tools}) == 1  # one trace per run

    # Spans: exported to the console, one run's tree.
    spans = out.read_text()
    assert '"name": "invoke_agent support"' in spans
    assert '"name": "chat support-info"' in spans

    # The planted key appears nowhere the worker wrote.
    assert PLANTED not in err.read_text() + out.read_text()
