"""`duragent report` as a user runs it, against runs on the session's dev server."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import Client

from duragent import Agent, App, RunRequest
from duragent.cli._report_runs import compute_report
from duragent.client import start_run
from tests.conftest import new_worker
from tests.e2e.test_cli import DURAGENT, ROOT, env_for

RUNS = 3


async def duragent(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        DURAGENT, *args, cwd=ROOT, env=env_for(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def runs_of_a_fresh_agent(client: Client) -> str:
    """``RUNS`` scripted runs of a new agent, listed by visibility; returns the agent's name."""
    name = f"report-cli-{uuid.uuid4().hex[:8]}"
    since = datetime.now(UTC) - timedelta(seconds=1)
    spec = Agent(name=name, model="scripted/reporter", script=[{"say": "Done."}])
    async with new_worker(client, App(agents=[spec])) as worker:
        for i in range(RUNS):
            handle = await start_run(
                client, RunRequest(agent=name, input=f"job {i}"), task_queue=worker.task_queue
            )
            assert (await handle.result()).status == "completed"
    deadline = time.monotonic() + 10
    while (await compute_report(client, since, agent=name))[0].finished < RUNS:
        assert time.monotonic() < deadline, "the runs never showed up in visibility"
        await asyncio.sleep(0.2)
    return name


async def test_report_json_table_markdown_alerts_and_plot(client: Client, tmp_path: Path) -> None:
    name = await runs_of_a_fresh_agent(client)
    server = ("--address", client.service_client.config.target_host, "--namespace", client.namespace)  # fmt: skip
    scope = ("--agent", name, "--since", "10m", *server)
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(
        "rules:\n"
        "  - name: TinyLatencyBudget\n"
        "    metric: p50_latency_s\n"
        "    threshold: 0.000001\n"
        "    description: nothing is this fast\n"
    )
    png = tmp_path / "report.png"
    as_json, as_table, as_md, nobody = await asyncio.gather(
        duragent(tmp_path, "report", *scope, "--format", "json", "--plot", str(png)),
        duragent(tmp_path, "report", *scope, "--alerts"),
        duragent(tmp_path, "report", *scope, "--format", "md", "--alert-rules", str(tiny)),
        duragent(tmp_path, "report", "--agent", "nobody-ran-this", "--alerts", *server),
    )

    code, out, err = as_json
    assert code == 0, err
    report = json.loads(out)
    assert report["agent"] == name
    assert (report["runs"], report["finished"], report["outcomes"]) == (RUNS, RUNS, {"completed": RUNS})  # fmt: skip
    total = report["latency_s"]["total"]
    assert total["count"] == RUNS and 0 < total["p50"] <= total["p99"] <= total["p999"]
    assert report["error_rate"] == 0.0 and report["cost_per_request_usd"] > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1024
    assert f"wrote {png}" in err

    code, out, err = as_table
    assert code == 0, out + err  # fast, cheap, no errors: none of the guide's rules fires
    for text in ("P50", "P99", "P999", "reasoning (TTFT)", "per request", "error rate"):
        assert text in out
    for rule in ("DuragentHighP99Latency", "DuragentHighCostPerRequest", "DuragentHighErrorRate"):
        assert f"{rule} ok" in out

    code, out, err = as_md
    assert code == 1, out + err
    assert "| latency | P50 | P99 | P999 | mean | max |" in out
    assert "| TinyLatencyBudget | **FIRING** | p50_latency_s |" in out
    assert "alert firing: TinyLatencyBudget" in err

    code, out, err = nobody
    assert code == 0, out + err  # no data: nothing fires
    assert "no runs with entry agent 'nobody-ran-this'" in out
    assert "DuragentHighP99Latency: no data" in out


async def test_report_refuses_bad_input_with_exit_2(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {name: Typo, metric: p99_latency, threshold: 5}\n")
    bad_since, bad_rules = await asyncio.gather(
        duragent(tmp_path, "report", "--since", "abc"),
        duragent(tmp_path, "report", "--alert-rules", str(rules)),
    )
    code, _, err = bad_since
    assert code == 2 and "--since 'abc'" in err and "1h" in err
    code, _, err = bad_rules
    flat = " ".join(err.split())  # rich wraps long messages
    assert code == 2 and "rules.yaml" in flat and "field 'rules.0.metric'" in flat
    assert "unknown metric 'p99_latency'" in flat
