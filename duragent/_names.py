"""Names recorded in histories or shared by clients and workers. Change none of them."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

TASK_QUEUE = "duragent"
"""Default task queue for the AgentRun workflow, models and tools."""
SANDBOX_TASK_QUEUE = "duragent-sandbox"

WORKFLOW = "AgentRun"
ACTIVITY_MODEL = "model.call"
ACTIVITY_TOOL = "tool.call"
ACTIVITY_RESOLVE = "specs.resolve"
ACTIVITY_VERIFY_TOKEN = "approvals.verify_token"
ACTIVITY_AUDIT = "audit.append"

EVAL_WORKFLOW = "EvalRun"
"""An evaluation: a dataset's cases run as child ``AgentRun``s and scored (``duragent eval``)."""
ACTIVITY_SCORE_PYTHON = "eval.score_python"
ACTIVITY_EVAL_CHECK = "eval.check"
QUERY_PROGRESS = "progress"
"""``EvalRun``'s query: cases done, accuracy and spend so far (``EvalProgress``)."""

SIGNAL_APPROVE = "approve"
SIGNAL_REJECT = "reject"
UPDATE_DECIDE = "decide"
QUERY_PENDING = "pending_approvals"

QUERY_STATUS = "status"
QUERY_TRANSCRIPT = "transcript"
QUERY_STEPS = "steps"

HANDOFF_PREFIX = "transfer_to_"
"""Handoffs are offered to models as tools named ``transfer_to_<agent>``."""
DELEGATE_PREFIX = "delegate_to_"
"""Delegates are offered to models as tools named ``delegate_to_<agent>``, taking a ``task``."""

SA_AGENT = SearchAttributeKey.for_keyword("DuragentAgent")
SA_STATUS = SearchAttributeKey.for_keyword("DuragentStatus")
SA_TENANT = SearchAttributeKey.for_keyword("DuragentTenant")
SA_COST = SearchAttributeKey.for_float("DuragentCostUsd")
SA_PENDING = SearchAttributeKey.for_int("DuragentPendingApprovals")
SEARCH_ATTRIBUTES = (SA_AGENT, SA_STATUS, SA_TENANT, SA_COST, SA_PENDING)

# Metrics, as a Prometheus scrape of a worker shows them (OpenTelemetry instruments named so
# that the Prometheus exporter adds only the unit and ``_total`` suffixes). Dashboards and the
# alert rules under deploy/ depend on these names.
METRIC_RUN_DURATION = "duragent_run_duration_seconds"
"""Histogram: a finished run's wall time. Labels: agent (the entry agent), status."""
METRIC_LAYER_DURATION = "duragent_layer_duration_seconds"
"""Histogram: a finished run's time in one layer. Labels: agent, layer (input, reasoning,
output, tool, approval, orchestration)."""
METRIC_RUNS = "duragent_runs_total"
"""Counter: finished runs. Labels: agent, status."""
METRIC_TOKENS = "duragent_tokens_total"
"""Counter: model tokens. Labels: agent, model, type (input, output, cached)."""
METRIC_COST = "duragent_cost_usd_total"
"""Counter: model spend in USD. Labels: agent, model."""
METRIC_ERRORS = "duragent_errors_total"
"""Counter: failures by type (timeout, rate_limit, tool_error, ...). Labels: agent, type."""
METRIC_APPROVALS = "duragent_approvals_total"
"""Counter: human decisions. Labels: agent, outcome (approved, rejected, timed_out)."""
METRIC_PENDING_APPROVALS = "duragent_pending_approvals"
"""Gauge: runs in the namespace waiting for a human decision (the same on every worker)."""
LATENCY_BUCKETS_S = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0,
    6.0, 7.5, 9.0, 10.0, 12.5, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
)  # fmt: skip
"""Histogram buckets: fine around the 5 s alert threshold and up to 10 s, where P999 lives."""
