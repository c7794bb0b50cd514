"""The observability deploy files (deploy/prometheus, deploy/grafana, deploy/otel), checked offline.

The alert rules run through ``promtool`` (Debian's ``prometheus`` package): syntax, the unit
tests in ``alerts_test.yml`` and the scrape config. Without promtool those tests skip on a
developer's machine but fail under CI (``CI`` set), which installs it, so a missing install step
cannot turn the suite green by skipping. The rest needs no binary: every ``duragent_*`` metric a
rule or panel queries is one the workers export (``duragent._names``), the rules keep the guide's
thresholds, every dashboard query parses and uses only defined variables, and the collector's
pipelines reference only components it defines.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from duragent import _names
from duragent._names import LATENCY_BUCKETS_S, METRIC_LAYER_DURATION, METRIC_RUN_DURATION
from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
ALERTS_TEST = DEPLOY / "prometheus" / "alerts_test.yml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "duragent-dashboard.json"
GRAFANA_DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml"
GRAFANA_DASHBOARDS = DEPLOY / "grafana" / "provisioning" / "dashboards" / "duragent.yaml"
COLLECTOR = DEPLOY / "otel" / "collector.yaml"

GUIDE_THRESHOLDS = {
    "DuragentHighP99Latency": 5.0,
    "DuragentHighCostPerRequest": 0.10,
    "DuragentHighErrorRate": 0.05,
}
"""The guide's default alert thresholds, which ``duragent report --alerts`` applies too."""
HISTOGRAMS = (METRIC_RUN_DURATION, METRIC_LAYER_DURATION)
METRIC_NAME = re.compile(r"duragent_[a-z_]+")
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__range", "__range_s"}
PROMTOOL_MISSING = (
    "promtool not found: install Debian's `prometheus` package "
    "(apt-get install --no-install-recommends prometheus) to test the alert rules"
)


# -- reading the files -------------------------------------------------------------------------


def exported_metrics() -> set[str]:
    """Every series name a worker's scrape can show: the METRIC_* names, histograms expanded."""
    names = {value for key, value in vars(_names).items() if key.startswith("METRIC_")}
    assert set(HISTOGRAMS) <= names
    return names | {f"{h}{suffix}" for h in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}


def base_name(series: str) -> str:
    for h in HISTOGRAMS:
        if series.startswith(h):
            return h
    return series


@pytest.fixture(scope="module")
def rules() -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(ALERTS.read_text())
    found = {rule["alert"]: rule for group in data["groups"] for rule in group["rules"]}
    assert found, f"no alerting rules in {ALERTS}"
    return found


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """``(panel title, PromQL)`` for every target of every panel."""
    return [
        (panel["title"], target.get("expr", ""))
        for panel in query_panels(dashboard)
        for target in panel.get("targets", [])
    ]


def query_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel that draws data: rows and their nested panels flattened, rows left out."""
    flat: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            flat.extend(panel.get("panels", []))
        else:
            flat.append(panel)
    return flat


@pytest.fixture(scope="module")
def collector() -> dict[str, Any]:
    data = yaml.safe_load(COLLECTOR.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_tool("promtool", missing=PROMTOOL_MISSING)


def run_promtool(promtool: str, *args: str) -> None:
    done = subprocess.run(
        [promtool, *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"promtool {' '.join(args)} failed:\n{done.stdout}{done.stderr}"


# -- Prometheus: promtool ----------------------------------------------------------------------


def test_the_alert_rules_are_valid(promtool: str) -> None:
    run_promtool(promtool, "check", "rules", str(ALERTS))


def test_each_alert_fires_past_its_threshold_and_not_below(promtool: str) -> None:
    run_promtool(promtool, "test", "rules", str(ALERTS_TEST))


def test_every_alert_has_a_unit_test(rules: dict[str, dict[str, Any]]) -> None:
    tests = yaml.safe_load(ALERTS_TEST.read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test.get("alert_rule_test", [])}
    firing = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert set(rules) == tested, "every rule needs a promtool test, and only rules that exist"
    assert set(rules) == firing, "every rule needs a test where it fires, not only silent ones"


def test_the_prometheus_config_is_valid_and_loads_the_rules(promtool: str) -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    assert "alerts.yml" in config["rule_files"]
    assert "duragent-worker" in {job["job_name"] for job in config["scrape_configs"]}
    run_promtool(promtool, "check", "config", str(PROMETHEUS_CONFIG))


def test_every_dashboard_query_is_valid_promql(
    promtool: str, queries: list[tuple[str, str]], tmp_path: Path
) -> None:
    """Each panel's query, variables filled in, checked as a recording rule by promtool."""
    filled = {"agent": ".*", "__rate_interval": "1m", "__interval": "30s", "__range": "6h"}
    records = []
    for n, (_, expr) in enumerate(queries):
        for name, value in filled.items():
            expr = expr.replace(f"${name}", value)
        records.append({"record": f"dashboard:query_{n}", "expr": expr})
    rules_file = tmp_path / "dashboard_rules.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    run_promtool(promtool, "check", "rules", str(rules_file))


# -- Prometheus: static ------------------------------------------------------------------------


def test_alerts_and_their_tests_use_only_metrics_workers_export() -> None:
    """A renamed metric in duragent._names breaks this, not a silent alert in production."""
    exported = exported_metrics()
    for path in (ALERTS, ALERTS_TEST):
        unknown = set(METRIC_NAME.findall(path.read_text())) - exported
        assert not unknown, f"{path.name} uses metrics no worker exports: {sorted(unknown)}"


def test_the_alerts_keep_the_guides_thresholds(rules: dict[str, dict[str, Any]]) -> None:
    for name, threshold in GUIDE_THRESHOLDS.items():
        assert name in rules, f"alert {name} is missing: `duragent report --alerts` uses the name"
        match = re.search(r">\s*([0-9.]+)\s*$", rules[name]["expr"].strip())
        assert match, f"{name}: expected an expression ending in `> threshold`"
        assert float(match.group(1)) == threshold, f"{name}: threshold is not the guide's"


def test_every_alert_tells_its_severity_and_value(rules: dict[str, dict[str, Any]]) -> None:
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"], name
        description = rule["annotations"]["description"]
        assert "$value" in description or "$labels" in description, (
            f"{name}: the description should say the measured value or the target"
        )


def test_the_latency_tests_use_the_workers_buckets() -> None:
    """Synthetic histograms with other bounds would test a quantile no worker can produce."""
    les = set(re.findall(r'le="([^"]+)"', ALERTS_TEST.read_text()))
    assert "+Inf" in les
    assert {float(le) for le in les - {"+Inf"}} <= set(LATENCY_BUCKETS_S)
    assert 5.0 in LATENCY_BUCKETS_S, "the P99 alert threshold must be a bucket bound"


# -- Grafana -----------------------------------------------------------------------------------


def test_the_dashboard_panels_have_unique_ids_and_queries(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in dashboard["panels"]]
    ids += [nested["id"] for panel in dashboard["panels"] for nested in panel.get("panels", [])]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in query_panels(dashboard):
        assert panel.get("targets"), f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            assert target.get("expr", "").strip(), f"panel {panel['title']!r} has an empty query"


def test_the_dashboard_queries_the_selected_data_source(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in query_panels(dashboard):
        sources = [panel["datasource"], *(t["datasource"] for t in panel["targets"])]
        for source in sources:
            assert source == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]


def test_the_dashboard_filters_by_agent(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["agent"]["query"] == f"label_values({_names.METRIC_RUNS}, agent)"


def test_dashboard_queries_use_only_defined_variables(
    dashboard: dict[str, Any], queries: list[tuple[str, str]]
) -> None:
    defined = {v["name"] for v in dashboard["templating"]["list"]} | GRAFANA_BUILTINS
    for title, expr in queries:
        used = set(re.findall(r"\$\{?(\w+)", expr))
        assert used <= defined, f"{title!r} uses undefined variables {sorted(used - defined)}"


def test_the_dashboard_shows_every_metric_and_only_those(queries: list[tuple[str, str]]) -> None:
    exported = exported_metrics()
    used = {name for _, expr in queries for name in METRIC_NAME.findall(expr)}
    assert used <= exported, f"the dashboard queries unknown metrics: {sorted(used - exported)}"
    shown = {base_name(name) for name in used}
    defined = {base_name(name) for name in exported}
    assert shown == defined, f"metrics with no panel: {sorted(defined - shown)}"


def test_the_grafana_provisioning_files_load() -> None:
    datasources = yaml.safe_load(GRAFANA_DATASOURCES.read_text())
    assert datasources["apiVersion"] == 1
    assert [d["type"] for d in datasources["datasources"]] == ["prometheus"]
    providers = yaml.safe_load(GRAFANA_DASHBOARDS.read_text())
    assert providers["apiVersion"] == 1
    assert all(p["type"] == "file" and p["options"]["path"] for p in providers["providers"])


# -- OpenTelemetry collector -------------------------------------------------------------------


def test_the_collector_pipelines_use_only_defined_components(collector: dict[str, Any]) -> None:
    service = collector["service"]
    for extension in service.get("extensions", []):
        assert extension in collector.get("extensions", {}), f"undefined extension {extension}"
    assert service["pipelines"], "the collector has no pipelines"
    for pipeline, parts in service["pipelines"].items():
        assert pipeline.split("/")[0] in ("traces", "metrics", "logs"), pipeline
        for kind in ("receivers", "processors", "exporters"):
            for component in parts.get(kind, []):
                assert component in (collector.get(kind) or {}), (
                    f"pipeline {pipeline} uses {kind[:-1]} {component!r}, which is not defined"
                )
        assert parts["receivers"] and parts["exporters"], pipeline


def test_the_collector_receives_otlp_over_grpc_and_http(collector: dict[str, Any]) -> None:
    protocols = collector["receivers"]["otlp"]["protocols"]
    # Bound to all interfaces: the collector's default, localhost, is unreachable from workers
    # in other containers.
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    assert "traces" in collector["service"]["pipelines"]


def test_the_collector_limits_memory_before_batching(collector: dict[str, Any]) -> None:
    for pipeline, parts in collector["service"]["pipelines"].items():
        processors = parts.get("processors", [])
        assert processors[:1] == ["memory_limiter"], f"{pipeline}: memory_limiter must come first"
        assert "batch" in processors, f"{pipeline}: no batch processor"
