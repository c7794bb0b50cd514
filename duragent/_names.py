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

SIGNAL_APPROVE = "approve"
SIGNAL_REJECT = "reject"
UPDATE_DECIDE = "decide"
QUERY_PENDING = "pending_approvals"

QUERY_STATUS = "status"
QUERY_TRANSCRIPT = "transcript"
QUERY_STEPS = "steps"

HANDOFF_PREFIX = "transfer_to_"
"""Handoffs are offered to models as tools named ``transfer_to_<agent>``."""

SA_AGENT = SearchAttributeKey.for_keyword("DuragentAgent")
SA_STATUS = SearchAttributeKey.for_keyword("DuragentStatus")
SA_TENANT = SearchAttributeKey.for_keyword("DuragentTenant")
SA_COST = SearchAttributeKey.for_float("DuragentCostUsd")
SA_PENDING = SearchAttributeKey.for_int("DuragentPendingApprovals")
SEARCH_ATTRIBUTES = (SA_AGENT, SA_STATUS, SA_TENANT, SA_COST, SA_PENDING)
