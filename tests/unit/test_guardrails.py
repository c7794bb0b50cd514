"""Guardrail rules: YAML-shaped rules validate, evaluate to the decision a user expects, and
bad rules fail with a message that names the problem."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.contrib.pydantic import pydantic_data_converter

from duragent._guardrails import (
    RISK_SCORES,
    Condition,
    Decision,
    EvalContext,
    Rule,
    evaluate,
    redact_text,
    validate_policy,
)
from duragent._loader import load_yaml
from tests.unit._pii import find_pii


def rule(**fields: Any) -> Rule:
    return Rule.model_validate(fields)


def rules_from_yaml(text: str) -> list[Rule]:
    document = load_yaml(text)
    assert isinstance(document, list)
    return [Rule.model_validate(entry) for entry in document]


def call(tool: str, risk: str | None = "write", **arguments: Any) -> EvalContext:
    return EvalContext.model_validate(
        {"stage": "tool_call", "tool": tool, "risk": risk, "arguments": arguments}
    )


def said(text: str) -> EvalContext:
    return EvalContext(stage="input", text=text)


def answered(text: str, confidence: float | None = None) -> EvalContext:
    return EvalContext(stage="output", text=text, confidence=confidence)


GUIDE_POLICY = """
- name: sensitive_data_access
  stage: input
  when: {contains: [password, secret]}
  action: require_approval
  approver_roles: [security]
- name: refund_over_100
  stage: tool_call
  when:
    tool: refund_order
    args: {amount: {gt: 100}, currency: USD}
  action: require_approval
  approvers: [alice]
  timeout: 30m
  on_timeout: escalate
  escalate_to: [finance-lead]
- name: low_confidence
  stage: output
  when: {confidence: {lt: 0.8}}
  action: require_review
- name: pii_in_output
  stage: output
  when: {pii: true}
  action: redact
- name: no_destructive_tools
  stage: tool_call
  when: {risk: destructive}
  action: block
  on_block: tell_model
  message: destructive tools are not allowed for this agent; ask a human instead
"""


@pytest.fixture
def policy() -> list[Rule]:
    rules = rules_from_yaml(GUIDE_POLICY)
    validate_policy(rules, environment="production")
    return rules


# --- the guide's rules ---------------------------------------------------------------------


def test_input_mentioning_a_password_or_secret_needs_approval(policy: list[Rule]) -> None:
    decision = evaluate(policy, said("What is the admin PASSWORD again?"))
    assert decision.action == "require_approval"
    assert decision.rule is not None and decision.rule.approver_roles == ["security"]
    assert decision.reason == "rule 'sensitive_data_access' matched: text contains 'password'"
    assert evaluate(policy, said("where is my order?")).action == "allow"


def test_refund_over_100_needs_approval_with_a_generated_reason(policy: list[Rule]) -> None:
    decision = evaluate(policy, call("refund_order", amount=250, currency="USD"))
    assert decision.action == "require_approval"
    assert decision.matched == ["refund_over_100"]
    assert decision.reason == (
        "rule 'refund_over_100' matched: refund_order amount 250 > 100, currency 'USD' == 'USD'"
    )
    assert decision.rule is not None
    assert decision.rule.approvers == ["alice"]
    assert decision.rule.timeout_s == 1800
    assert decision.rule.escalate_to == ["finance-lead"]


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("refund_order", {"amount": 100, "currency": "USD"}),  # not over 100
        ("refund_order", {"amount": 250, "currency": "EUR"}),  # the bare scalar means eq
        ("cancel_order", {"amount": 250, "currency": "USD"}),  # another tool
        ("refund_order", {"currency": "USD"}),  # no amount at all
    ],
)
def test_refund_rule_needs_every_test_to_hold(
    policy: list[Rule], tool: str, arguments: dict[str, Any]
) -> None:
    assert evaluate(policy, call(tool, **arguments)).action == "allow"


def test_low_confidence_output_goes_to_review(policy: list[Rule]) -> None:
    decision = evaluate(policy, answered("Your order shipped.", confidence=0.62))
    assert decision.action == "require_review"
    assert decision.reason == "rule 'low_confidence' matched: confidence 0.62 < 0.8"
    assert evaluate(policy, answered("Your order shipped.", confidence=0.93)).action == "allow"
    # Without a confidence the comparison fails: no review is asked for.
    assert evaluate(policy, answered("Your order shipped.")).action == "allow"


def test_pii_in_output_is_redacted(policy: list[Rule]) -> None:
    decision = evaluate(
        policy, answered("Mail jane.doe@example.com or call +1 (415) 555-2671.", confidence=0.95)
    )
    assert decision.action == "redact"
    assert decision.redacted_text == "Mail [REDACTED:email] or call [REDACTED:phone]."
    assert decision.redactions == ["email", "phone"]


def test_redacted_text_is_kept_when_a_more_severe_action_decides(policy: list[Rule]) -> None:
    decision = evaluate(policy, answered("Write to jane.doe@example.com.", confidence=0.5))
    assert decision.action == "require_review"
    assert decision.matched == ["low_confidence", "pii_in_output"]
    # The reviewer sees the redacted text.
    assert decision.redacted_text == "Write to [REDACTED:email]."


def test_destructive_tools_are_blocked_and_the_model_is_told(policy: list[Rule]) -> None:
    decision = evaluate(policy, call("delete_customer", risk="destructive", customer_id="c-1"))
    assert decision.action == "block"
    assert decision.rule is not None and decision.rule.on_block == "tell_model"
    assert decision.reason.startswith("destructive tools are not allowed")


def test_risk_score_defaults_from_the_risk_level() -> None:
    assert EvalContext(stage="tool_call", risk="write").risk_score == RISK_SCORES["write"]
    assert EvalContext(stage="tool_call", risk="write", risk_score=0.95).risk_score == 0.95
    risky = rule(
        name="risky",
        stage="tool_call",
        when={"risk_score": {"gte": 0.6}},
        action="require_approval",
        approver_roles=["security"],
    )
    assert evaluate([risky], call("t", risk="external")).action == "require_approval"
    assert evaluate([risky], call("t", risk="write")).action == "allow"


# --- tool-call text is the arguments as JSON -------------------------------------------------


def test_text_tests_on_a_tool_call_read_its_arguments() -> None:
    no_secrets = rule(
        name="no-secrets",
        stage="tool_call",
        when={"contains": "password"},
        action="block",
        on_block="tell_model",
    )
    no_cards = rule(
        name="no-cards", stage="tool_call", when={"pii": ["credit_card"]}, action="block"
    )
    assert evaluate([no_secrets], call("send_email", body="your Password is x")).action == "block"
    card = call("update_customer", customer={"card": "4111 1111 1111 1111"})
    assert evaluate([no_cards], card).matched == ["no-cards"]
    assert evaluate([no_secrets, no_cards], call("lookup_order", order_id="1001")).action == "allow"
    # Text given by the caller is what text tests read.
    given = EvalContext(stage="tool_call", tool="x", arguments={"a": "password"}, text="hello")
    assert evaluate([no_secrets], given).action == "allow"


# --- combinators and modes -------------------------------------------------------------------


def test_all_any_not_nest() -> None:
    nested = rule(
        name="nested",
        stage="tool_call",
        when={
            "all": [
                {"tool": ["refund_order", "cancel_order"]},
                {"any": [{"args": {"amount": {"gte": 500}}}, {"args": {"customer.vip": True}}]},
                {"not": {"args": {"reason": {"matches": "^test"}}}},
            ]
        },
        action="require_approval",
        approvers=["ops"],
    )
    assert evaluate([nested], call("cancel_order", amount=900, reason="damaged")).matched
    assert evaluate([nested], call("refund_order", amount=5, customer={"vip": True})).matched
    assert not evaluate([nested], call("refund_order", amount=5, customer={"vip": False})).matched
    assert not evaluate([nested], call("refund_order", amount=900, reason="test run")).matched
    assert not evaluate([nested], call("lookup_order", amount=900)).matched


def test_empty_all_holds_and_empty_any_does_not() -> None:
    every = rule(name="every", stage="input", when={"all": []}, action="block")
    never = rule(name="none", stage="input", when={"any": []}, action="block")
    assert evaluate([every], said("hi")).action == "block"
    assert evaluate([never], said("hi")).action == "allow"


def test_mode_always_applies_whatever_when_says() -> None:
    always = rule(
        name="all-writes",
        stage="tool_call",
        mode="always",
        action="require_approval",
        approvers=["ops"],
    )
    also = rule(
        name="ignored-when",
        stage="tool_call",
        mode="always",
        when={"tool": "other"},
        action="block",
    )
    assert evaluate([always], call("anything")).reason == (
        "rule 'all-writes' applies to every tool call (mode 'always')"
    )
    assert evaluate([also], call("anything")).action == "block"
    assert evaluate([always], said("input is another stage")).action == "allow"


def test_mode_never_disables_a_rule_and_is_allowed_only_in_test() -> None:
    off = rule(name="off", stage="input", mode="never", when={"contains": "x"}, action="block")
    assert evaluate([off], said("x")).action == "allow"
    validate_policy([off], environment="test")
    with pytest.raises(
        ValueError,
        match="rule 'off': mode 'never' is only allowed when the spec's environment is 'test'",
    ):
        validate_policy([off], environment="production")


# --- which rule decides ----------------------------------------------------------------------

SEVERITY_LADDER = [
    ("allow", {}),
    ("redact", {}),
    ("require_review", {}),
    ("require_approval", {"approvers": ["ops"]}),
    ("block", {}),
]


def ladder(actions: list[str]) -> list[Rule]:
    extra = dict(SEVERITY_LADDER)
    return [
        rule(
            name=f"r{i}-{action.replace('_', '-')}",
            stage="output",
            when={"contains": "x"},
            action=action,
            **extra[action],
        )
        for i, action in enumerate(actions)
    ]


@pytest.mark.parametrize("strongest", range(1, len(SEVERITY_LADDER)))
def test_the_most_severe_matching_action_decides(strongest: int) -> None:
    actions = [action for action, _ in SEVERITY_LADDER[: strongest + 1]]
    for ordering in (actions, actions[::-1]):
        decision = evaluate(ladder(ordering), answered("x"))
        assert decision.action == actions[-1]
        assert len(decision.matched) == len(actions)


def test_among_equally_severe_rules_the_first_decides() -> None:
    rules = ladder(["require_approval", "block", "block", "require_approval"])
    decision = evaluate(rules, answered("x"))
    assert decision.rule is not None and decision.rule.name == "r1-block"
    assert decision.matched == [r.name for r in rules]


def test_an_allow_rule_never_relaxes_another() -> None:
    rules = ladder(["allow", "require_review"])
    assert evaluate(rules, answered("x")).action == "require_review"
    assert evaluate(ladder(["allow"]), answered("x")).reason == (
        "rule 'r0-allow' matched: text contains 'x'"
    )


def test_no_rule_matched() -> None:
    decision = evaluate(ladder(["block"]), answered("nothing here"))
    assert decision == Decision(action="allow", reason="no rule matched")


# --- argument comparisons ----------------------------------------------------------------------

ORDER: dict[str, Any] = {
    "amount": 250,
    "currency": "USD",
    "note": None,
    "tags": ["gift", "rush"],
    "customer": {"email": "jane@example.com", "vip": True, "codes": {"0": "zero"}},
    "items": [{"sku": "A-1", "quantity": 2}, {"sku": "B-2", "quantity": 60}],
}


def arg_holds(path: str, comparison: Any) -> bool:
    when = {"args": {path: comparison}}
    probe = rule(name="probe", stage="tool_call", when=when, action="block")
    return bool(evaluate([probe], call("t", **ORDER)).matched)


@pytest.mark.parametrize(
    ("path", "comparison", "expected"),
    [
        ("amount", 250, True),
        ("amount", {"eq": 250.0}, True),
        ("amount", {"ne": 250}, False),
        ("amount", {"gt": 100, "lt": 1000}, True),
        ("amount", {"gte": 250, "lte": 250}, True),
        ("amount", {"gt": 250}, False),
        ("currency", {"in": ["USD", "EUR"]}, True),
        ("currency", {"not_in": ["USD", "EUR"]}, False),
        ("currency", {"lt": "ZZZ"}, True),  # strings order with strings
        ("currency", {"matches": "^U.D$"}, True),
        ("currency", {"matches": "^usd$"}, False),  # argument regexes are case-sensitive
        ("currency", {"contains": "SD"}, True),
        ("tags", {"contains": "gift"}, True),
        ("tags", {"contains": "gi"}, False),  # membership in a list, not a substring
        ("note", {"eq": None}, True),  # an explicit null compares with null
        ("note", {"exists": True}, True),
        ("customer.vip", True, True),
        ("customer.vip", 1, False),  # as in JSON, true is not 1
        ("customer.email", {"matches": "@example\\.com$"}, True),
        ("customer.codes.0", "zero", True),  # a digit key in a mapping is a key
        ("items.1.quantity", {"gt": 50}, True),
        ("items.0.sku", "A-1", True),
    ],
)
def test_comparisons(path: str, comparison: Any, expected: bool) -> None:
    assert arg_holds(path, comparison) is expected


@pytest.mark.parametrize("path", ["refund", "customer.phone", "items.2.sku", "amount.0"])
def test_a_missing_path_fails_every_operator_but_exists_false(path: str) -> None:
    for comparison in ({"eq": None}, {"ne": 1}, {"not_in": [1]}, {"gt": 0}, {"exists": True}):
        assert not arg_holds(path, comparison), comparison
    assert arg_holds(path, {"exists": False})


def test_a_star_step_tests_every_item() -> None:
    assert arg_holds("items.*.quantity", {"gt": 50})  # the second item
    assert not arg_holds("items.*.quantity", {"gt": 100})
    assert arg_holds("items.*.sku", "A-1")
    assert not arg_holds("tags.*.x", {"exists": True})


def test_a_name_stepped_into_a_list_is_unknown_so_a_block_rule_matches() -> None:
    # items.quantity names no item: which one was meant cannot be told (write items.*.quantity).
    probe = rule(name="probe", stage="tool_call", when={"args": {"items.quantity": {"gt": 50}}},
                 action="block")  # fmt: skip
    decision = evaluate([probe], call("t", **ORDER))
    assert decision.action == "block" and "name an index or *" in decision.reason


@pytest.mark.parametrize(
    ("path", "comparison"),
    [
        ("currency", {"gt": 100}),  # a string against a number
        ("amount", {"gt": "100"}),  # a number against a string
        ("customer.vip", {"gte": 0}),  # a boolean is not a number
        ("tags", {"lt": 5}),
        ("amount", {"contains": "2"}),
        ("amount", {"matches": "2"}),
    ],
)
def test_a_test_that_cannot_be_evaluated_fails_closed(path: str, comparison: Any) -> None:
    # Unknown, not false: a block or approval rule matches, an allow rule does not widen.
    when = {"args": {path: comparison}}
    for action in ("block", "require_approval"):
        who = {"approvers": ["lee"]} if action == "require_approval" else {}
        probe = rule(name="probe", stage="tool_call", when=when, action=action, **who)
        decision = evaluate([probe], call("t", **ORDER))
        assert decision.action == action, action
        assert "could not evaluate" in decision.reason
    allow = rule(name="probe", stage="tool_call", when=when, action="allow")
    assert evaluate([allow], call("t", **ORDER)).matched == []
    # Under `not`, unknown stays unknown: still a match for a block rule.
    negated = rule(name="probe", stage="tool_call", when={"not": when}, action="block")
    assert evaluate([negated], call("t", **ORDER)).action == "block"


def test_a_mapping_compared_for_membership_is_simply_not_in() -> None:
    assert not arg_holds("customer", {"in": ["a"]})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_argument_matches_a_limit_rule(value: float) -> None:
    limit = rule(
        name="limit", stage="tool_call", when={"args": {"amount": {"gt": 100}}},
        action="require_approval", approvers=["lee"],
    )  # fmt: skip
    below = rule(
        name="below", stage="tool_call", when={"args": {"amount": {"lte": 100}}}, action="block"
    )
    assert evaluate([limit], call("t", amount=value)).action == "require_approval"
    assert evaluate([below], call("t", amount=value)).action == "block"
    assert evaluate([limit], call("t", amount=[value])).action == "require_approval"


def test_confidence_comparison_with_a_nan_asks_for_review() -> None:
    unsure = rule(
        name="unsure", stage="output", when={"confidence": {"lt": 0.8}}, action="require_review"
    )
    assert evaluate([unsure], answered("x", confidence=float("nan"))).action == "require_review"


# --- PII -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "found"),
    [
        ("write to jane.doe+orders@mail.example.co.uk.", "email", "jane.doe+orders@mail.example.co.uk"),
        ("call +44 20 7946 0958 today", "phone", "+44 20 7946 0958"),
        ("call (415) 555-2671", "phone", "(415) 555-2671"),
        ("call 415.555.2671", "phone", "415.555.2671"),
        ("card 4111 1111 1111 1111, thanks", "credit_card", "4111 1111 1111 1111"),
        ("amex 3782-822463-10005", "credit_card", "3782-822463-10005"),
        ("card 4111111111111111 exp 12/27", "credit_card", "4111111111111111"),
        ("ssn 123-45-6789.", "ssn", "123-45-6789"),
        ("iban DE89 3704 0044 0532 0130 00 please", "iban", "DE89 3704 0044 0532 0130 00"),
        ("iban GB82WEST12345698765432", "iban", "GB82WEST12345698765432"),
        ("host 192.168.1.10.", "ip_address", "192.168.1.10"),
        ("key sk-proj-4fJ9aK2mQ7xR1tW8zB3n", "api_key", "sk-proj-4fJ9aK2mQ7xR1tW8zB3n"),
        ("aws AKIAIOSFODNN7EXAMPLE", "api_key", "AKIAIOSFODNN7EXAMPLE"),
        ("gh ghp_abcdefghijklmnopqrstuvwxyz0123456789", "api_key", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
        ('{"api_key":"9f86d081884c7d659a2feaa0c55ad015"}', "api_key", "9f86d081884c7d659a2feaa0c55ad015"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOjF9", "api_key", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOjF9"),
    ],
)  # fmt: skip
def test_pii_is_found(text: str, kind: str, found: str) -> None:
    assert find_pii(text) == [(kind, found)]


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # fails the Luhn check
        "card 4929175833154526",  # a random 16-digit number, not Luhn-valid
        "order 1001 costs $250.00, ships 2026-01-15, arrives in 5-7 days",
        "tracking 123456789012",  # long, but neither a card nor a formatted phone
        "ratio 0.4111111111111111",  # the digits of a decimal are not a card
        "iban DE89 3704 0044 0532 0130 01",  # fails the mod-97 check
        "ssn 000-12-3456, 666-12-3456, 912-34-5678, 123-00-4567",  # impossible SSNs
        "version 1.2.3.4.5 and 256.1.1.1",
        "call 555-2671 or +1 234",  # too few digits
        "sk-this-is-not-a-real-key-at-all and the key: is-not-random-at-all-really",
        "jane.doe@ or @example.com or jane@localhost",
    ],
)
def test_lookalikes_are_not_pii(text: str) -> None:
    assert find_pii(text) == []


def test_redact_text_replaces_each_kind_with_its_placeholder() -> None:
    text = "Mail jane@example.com, card 4111-1111-1111-1111, from 10.0.0.7; order 1001."
    assert redact_text(text) == (
        "Mail [REDACTED:email], card [REDACTED:credit_card], from [REDACTED:ip_address]; order 1001.",
        ["email", "credit_card", "ip_address"],
    )
    assert redact_text(text, ["ip_address"]) == (
        "Mail jane@example.com, card 4111-1111-1111-1111, from [REDACTED:ip_address]; order 1001.",
        ["ip_address"],
    )


def test_redaction_repeats_until_nothing_is_left() -> None:
    # The card hides the email (its TLD runs into the digits); once the card is gone the email
    # is visible and must go too.
    text = "a@b.com4111111111111111"
    redacted, kinds = redact_text(text)
    assert redacted == "[REDACTED:email][REDACTED:credit_card]"
    assert sorted(kinds) == ["credit_card", "email"]
    assert redact_text(redacted) == (redacted, [])


def test_redaction_finds_numbers_a_neighbour_hid() -> None:
    # "+44..." right after a letter is no phone number; once the email before it is replaced,
    # it is one. Later passes must search numbers next to placeholders.
    assert redact_text("a@b.co+44 20 7946 0958") == (
        "[REDACTED:email][REDACTED:phone]",
        ["email", "phone"],
    )


def test_redact_rules_limited_to_kinds() -> None:
    cards = rule(
        name="cards",
        stage="input",
        when={"pii": ["credit_card"]},
        action="redact",
        redact=["credit_card"],
    )
    decision = evaluate([cards], said("card 4111111111111111, mail jane@example.com"))
    assert decision.redacted_text == "card [REDACTED:credit_card], mail jane@example.com"


def test_pii_false_holds_only_without_pii() -> None:
    clean = rule(name="clean", stage="output", when={"pii": False}, action="allow")
    assert evaluate([clean], answered("all good")).matched == ["clean"]
    assert evaluate([clean], answered("jane@example.com")).matched == []


def test_an_unknown_pii_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown PII kind 'passport'"):
        redact_text("x", ["passport"])  # type: ignore[list-item]


# --- serialization ---------------------------------------------------------------------------


def test_rules_and_decisions_round_trip_through_the_temporal_converter(policy: list[Rule]) -> None:
    null_check = rule(
        name="null-check",
        stage="tool_call",
        when={"not": {"args": {"note": {"eq": None, "in": [None, 1]}}}},
        action="block",
    )
    rules = [*policy, null_check]
    converter = pydantic_data_converter.payload_converter
    decision = evaluate(rules, call("refund_order", amount=250, currency="USD"))
    [back] = converter.from_payloads(converter.to_payloads([decision]), [Decision])
    assert back == decision
    for original in rules:
        again = Rule.model_validate_json(original.model_dump_json())
        assert again == original
        assert Rule.model_validate(original.model_dump(by_alias=False)) == original
    dumped = null_check.model_dump()["when"]
    assert dumped == {"not": {"args": {"note": {"eq": None, "in": [None, 1]}}}}


def test_yaml_shorthand_is_eq() -> None:
    [short] = rules_from_yaml(
        "- {name: a, stage: tool_call, when: {args: {currency: USD}}, action: block}"
    )
    [long] = rules_from_yaml(
        "- {name: a, stage: tool_call, when: {args: {currency: {eq: USD}}}, action: block}"
    )
    assert short == long


@pytest.mark.parametrize(
    ("timeout", "seconds"),
    [
        (90, 90),
        ("90", 90),
        ("90s", 90),
        ("30m", 1800),
        ("1h", 3600),
        ("2d", 172800),
        ("1h30m", 5400),
    ],
)
def test_timeouts_accept_seconds_and_durations(timeout: Any, seconds: float) -> None:
    approval = rule(
        name="a",
        stage="input",
        mode="always",
        action="require_approval",
        approvers=["ops"],
        timeout=timeout,
    )
    assert approval.timeout_s == seconds


# --- validation errors -----------------------------------------------------------------------

BASE: dict[str, Any] = {"name": "r", "stage": "tool_call", "when": {"tool": "t"}, "action": "block"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"when": {"matches": "(unclosed"}}, "'matches' is not a valid regular expression"),
        ({"when": {"args": {"a": {"matches": "[z-a]"}}}}, "'matches' is not a valid regular expression"),
        ({"when": {}}, "a condition needs at least one test"),
        ({"when": {"all": [{}]}}, "a condition needs at least one test"),
        ({"when": None}, "'when' is required when mode is 'conditional'"),
        ({"action": "require_approval"}, "needs 'approvers' or 'approver_roles'; without them nobody could approve"),
        ({"action": "require_approval", "approvers": ["a"], "on_timeout": "escalate"}, "on_timeout 'escalate' needs 'escalate_to'"),
        ({"timeout": "5 parsecs"}, "'timeout' must be a number of seconds or a duration such as '90s'"),
        ({"timeout": -5}, "greater than 0"),
        ({"action": "require_review"}, "require_review applies to the output stage only; use require_approval for tool calls"),
        ({"action": "redact"}, "redact applies to the input and output stages only"),
        ({"stage": "input", "on_block": "tell_model"}, "on_block 'tell_model' needs a model to tell"),
        ({"redact": ["email"]}, "'redact' lists PII kinds but the action is 'block'"),
        ({"when": {"args": {"amount": {"greater": 100}}}}, "unknown operator 'greater'; operators: eq, ne"),
        ({"when": {"args": {"amount": {}}}}, "a comparison needs at least one operator"),
        ({"when": {"args": {"amount": {"gt": True}}}}, "operator 'gt' needs a finite number or a string"),
        ({"when": {"args": {"amount": {"in": [1, float("nan")]}}}}, "operator 'in' needs finite numbers"),
        ({"when": {"args": {"currency": ["USD", "EUR"]}}}, "a bare list is ambiguous: write {in: [...]}"),
        ({"when": {"args": {"customer..email": 1}}}, "path 'customer..email' has an empty part"),
        ({"when": {"toll": "t"}}, "unknown condition test 'toll'; tests: all, any, not"),
        ({"when": {"contains": []}}, "'contains' is empty, so it could never match"),
        ({"when": {"contains": ""}}, "'contains' has an empty string"),
        ({"when": {"pii": ["passport"]}}, "Input should be 'email'"),
        ({"name": "Refund Rule"}, "String should match pattern"),
    ],
)  # fmt: skip
def test_bad_rules_fail_with_a_message_naming_the_problem(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Rule.model_validate({**BASE, **change})
    assert message in str(caught.value)


def test_rule_level_errors_name_the_rule() -> None:
    with pytest.raises(ValidationError, match="rule 'refund_check': a require_approval rule"):
        rule(name="refund_check", stage="tool_call", when={"tool": "t"}, action="require_approval")


def test_duplicate_rule_names_are_refused() -> None:
    twice = [Rule.model_validate(BASE), Rule.model_validate(BASE)]
    with pytest.raises(ValueError, match="rule 'r' is defined more than once"):
        validate_policy(twice, environment="test")


def test_condition_describes_itself() -> None:
    condition = Condition.model_validate(
        {"tool": ["a", "b"], "args": {"amount": {"gt": 100}}, "not": {"pii": ["email"]}}
    )
    assert condition.describe() == "tool a|b and amount > 100 and not (text has email)"
