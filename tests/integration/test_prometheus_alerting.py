"""A real Prometheus (Debian's package) scraping a real worker: the alert rules of
deploy/prometheus/alerts.yml see the first bad run of a new agent, and every query of the
Grafana dashboard returns data.

The worker is ``duragent worker --metrics-port`` serving ``alerting_app`` (agents with no runs
before); Prometheus scrapes it and evaluates the shipped rules every second. Unchanged rules,
``for:`` included: an alert is checked ``pending``, the state it takes on its first true
evaluation. Without Prometheus the module skips on a developer's machine and fails under CI
(``CI`` set), which installs it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from temporalio.client import Client

from duragent import RunRequest, RunResult
from duragent.client import start_run
from tests.conftest import require_tool
from tests.e2e.test_cli import DURAGENT, ROOT, env_for, free_port, port_open, stop
from tests.unit.test_deploy_observability import ALERTS, DASHBOARD, query_panels

PROMETHEUS_MISSING = (
    "prometheus not found: install Debian's `prometheus` package "
    "(apt-get install --no-install-recommends prometheus) to test alerting against it"
)
RATE_INTERVAL = "1m"
"""What Grafana makes of ``$__rate_interval`` here: at least four scrapes, rounded up."""


@dataclass
class Observed:
    """What the module's worker and Prometheus went through, for the tests to check."""

    prometheus: str
    """Base URL of the Prometheus HTTP API."""
    results: dict[str, RunResult] = field(default_factory=dict)
    alerts: dict[str, dict[str, str]] = field(default_factory=dict)
    """Alert states (name -> state) seen after each step of the scenario."""


def http_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def query(base: str, expr: str) -> list[dict[str, Any]]:
    answer = http_json(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def alert_states(base: str) -> dict[str, str]:
    alerts = http_json(f"{base}/api/v1/alerts")["data"]["alerts"]
    return {a["labels"]["alertname"]: a["state"] for a in alerts}


async def eventually(check: Callable[[], Any], within_s: float, what: str) -> Any:
    """``check()``'s first truthy answer, polled off the event loop."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        answer = await asyncio.to_thread(check)
        if answer:
            return answer
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {within_s} s waiting for {what}")
        await asyncio.sleep(0.25)


@pytest.fixture(scope="module")
def prometheus_bin() -> str:
    return require_tool("prometheus", missing=PROMETHEUS_MISSING)


@pytest.fixture(scope="module")
def worker(client: Client, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """``duragent worker`` serving ``alerting_app`` on a fresh task queue, metrics on a port."""
    folder = tmp_path_factory.mktemp("alerting-worker")
    task_queue, metrics_port = f"alerting-{uuid.uuid4().hex[:8]}", free_port()
    log = (folder / "worker.log").open("w")
    process = subprocess.Popen(
        [
            DURAGENT,
            "worker",
            *("--app", "tests.integration.alerting_app:app"),
            *("--address", client.service_client.config.target_host),
            *("--task-queue", task_queue),
            *("--metrics-port", str(metrics_port)),
        ],
        cwd=ROOT,
        env=env_for(folder),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield task_queue, metrics_port
    finally:
        stop(process)
        log.close()


@pytest.fixture(scope="module")
def prometheus(
    prometheus_bin: str, worker: tuple[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A Prometheus scraping the worker and evaluating deploy/prometheus/alerts.yml each second."""
    folder = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [
            {
                "job_name": "duragent-worker",
                "static_configs": [{"targets": [f"127.0.0.1:{worker[1]}"]}],
            }
        ],
    }
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = (folder / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            prometheus_bin,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process, timeout=10)
        log.close()


@pytest.fixture(scope="module")
async def observed(client: Client, worker: tuple[str, int], prometheus: str) -> Observed:
    """A quick run, then the first run of the slow agent, then the first of the broken one,
    with the alert states after each, once Prometheus has the worker's series at zero."""
    task_queue, metrics_port = worker
    seen = Observed(prometheus)
    await eventually(lambda: port_open(metrics_port), 30, "the worker's metrics port")

    def zero_before_any_run() -> bool:
        series = query(prometheus, 'duragent_run_duration_seconds_count{agent=~"slow|broken"}')
        return len(series) == 8 and all(s["value"][1] == "0" for s in series)

    await eventually(zero_before_any_run, 30, "Prometheus scraping the zero series")

    async def run(agent: str) -> None:
        request = RunRequest(agent=agent, input="please do it")
        handle = await start_run(client, request, task_queue=task_queue)
        seen.results[agent] = await handle.result()
        await asyncio.sleep(3)  # a few scrapes and evaluations

    await run("quick")
    seen.alerts["after quick"] = await asyncio.to_thread(alert_states, prometheus)
    await run("slow")
    seen.alerts["after slow"] = await eventually(
        lambda: (s := alert_states(prometheus)).get("DuragentHighP99Latency") and s,
        10,
        "the P99 alert to move",
    )
    await run("broken")
    seen.alerts["after broken"] = await eventually(
        lambda: (s := alert_states(prometheus)).get("DuragentHighErrorRate") and s,
        10,
        "the error-rate alert to move",
    )
    return seen


def test_the_runs_are_what_the_scenario_needs(observed: Observed) -> None:
    statuses = {agent: result.status for agent, result in observed.results.items()}
    assert statuses == {"quick": "completed", "slow": "completed", "broken": "failed"}
    assert observed.results["slow"].latency.total_ms > 5000


def test_the_first_slow_run_of_a_new_agent_makes_the_p99_alert_pending(
    observed: Observed,
) -> None:
    assert observed.alerts["after quick"] == {}
    assert observed.alerts["after slow"] == {"DuragentHighP99Latency": "pending"}


def test_the_first_failed_run_of_a_new_agent_makes_the_error_rate_alert_pending(
    observed: Observed,
) -> None:
    assert observed.alerts["after broken"] == {
        "DuragentHighP99Latency": "pending",
        "DuragentHighErrorRate": "pending",
    }


def dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in query_panels(dashboard)
        for target in panel.get("targets", [])
    ]


def test_every_dashboard_query_returns_data(observed: Observed) -> None:
    empty = []
    for title, expr in dashboard_queries():
        concrete = expr.replace("$__rate_interval", RATE_INTERVAL).replace("$agent", ".*")
        if not query(observed.prometheus, concrete):
            empty.append(f"{title}: {concrete}")
    assert not empty, "dashboard queries with no data:\n" + "\n".join(empty)


def test_the_agent_picker_lists_every_agent_of_the_app(observed: Observed) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    (picker,) = [v for v in dashboard["templating"]["list"] if v["name"] == "agent"]
    metric = picker["query"].removeprefix("label_values(").split(",")[0]
    params = urllib.parse.urlencode({"match[]": metric})
    agents = http_json(f"{observed.prometheus}/api/v1/label/agent/values?{params}")["data"]
    assert set(agents) >= {"quick", "slow", "broken"}


def test_failed_runs_show_as_failed(observed: Observed) -> None:
    failed = query(
        observed.prometheus,
        f'sum by (agent) (increase(duragent_runs_total{{status="failed"}}[{RATE_INTERVAL}]))',
    )
    assert {s["metric"]["agent"]: float(s["value"][1]) > 0.5 for s in failed} == {
        "quick": False,
        "slow": False,
        "broken": True,
    }
