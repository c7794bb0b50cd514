"""Identities are one person however they are written; decision ids cannot be claimed early."""

from __future__ import annotations

import pytest

from duragent._approvals import (
    ApprovalDecision,
    args_hash,
    may_decide,
    normalize_identity,
    same_person,
)
from duragent.approval_tokens import sign_token, verify_token

SPELLINGS = ["lee", "LEE", " Lee ", "Lee\t\n", "\uff4c\uff45\uff45", "le\u200be"]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_of_a_name_is_the_same_person(spelling: str) -> None:
    assert normalize_identity(spelling) == "lee"
    assert same_person(spelling, "Lee")
    assert may_decide(spelling, names=["LEE"], roles=[], role_map={})
    assert may_decide(
        spelling, names=[], roles=["Support_Lead"], role_map={"lee": ["support_lead"]}
    )


def test_other_people_and_empty_names_are_not_the_same() -> None:
    assert not same_person("lee", "leo")
    assert not same_person("\u200b", "\u200b")  # empty once invisible characters go
    assert not same_person(None, "lee")
    assert not may_decide("  ", names=[""], roles=[], role_map={})


def test_a_token_signed_by_one_spelling_verifies_for_another() -> None:
    common = {"workflow_id": "run-x", "step_id": "s4", "args_hash": args_hash({"a": 1})}
    token = sign_token("key-0123456789", approver="Lee", **common)
    assert verify_token(token, "key-0123456789", approver=" lee", **common) is None
    assert verify_token(token, "key-0123456789", approver="leo", **common) is not None


def test_a_decision_id_depends_on_the_whole_decision() -> None:
    real = ApprovalDecision(step_id="s4", approver="lee", reason="ok", token="v1.9.abc")
    junk = ApprovalDecision(step_id="s4", approver="lee", reason="ok", token="v1.9.forged")
    assert real.approval_id == ApprovalDecision(**real.model_dump()).approval_id
    assert real.approval_id != junk.approval_id
    assert real.approval_id != "s4:lee:approve"
    assert len(real.approval_id) <= 64


def test_two_spellings_of_one_approver_in_an_app_are_refused() -> None:
    from duragent import App
    from duragent.errors import SpecError

    with pytest.raises(SpecError, match="one person"):
        App(agents=[], approvers={"Lee": ["support_lead"], "lee": ["finance"]})


def test_two_spellings_of_one_approver_in_the_keys_are_refused() -> None:
    from duragent.activities._approvals import ApprovalActivities

    with pytest.raises(ValueError, match="same person"):
        ApprovalActivities({"Lee": "key-one-0123456789", "lee": "key-two-0123456789"})


def test_the_runs_own_user_cannot_approve_a_gated_read_tool() -> None:
    # @tool's default risk is read; a rule that gates such a tool binds its run's user too.
    from datetime import UTC, datetime

    from duragent._approvals import ApprovalRequest, check_decision

    at = datetime(2026, 12, 4, tzinfo=UTC)
    request = ApprovalRequest(
        step_id="s4", kind="tool_call", agent="a", tool="export_customers", risk="read",
        approvers=["lee"], run_user="LEE", requested_at=at, expires_at=at,
    )  # fmt: skip
    decision = ApprovalDecision(step_id="s4", approver="lee")
    why = check_decision(decision, {"s4": request}, {}, roles={})
    assert why is not None and "separation of duties" in why
    allowed = request.model_copy(update={"allow_self_approval": True})
    assert check_decision(decision, {"s4": allowed}, {}, roles={}) is None
