"""Properties of guardrail evaluation that must hold for every policy and every context.

Guardrails decide inside the workflow, so evaluation must be deterministic and must never
raise; the decision must not depend on rule order beyond choosing among equals; redaction must
leave nothing behind and be stable.

Conventions checked here: ``all: []`` holds and ``any: []`` does not (the identities of AND and
OR), so ``all``/``any`` of one condition is that condition.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from duragent._guardrails import (
    PII_KINDS,
    SEVERITY,
    EvalContext,
    Rule,
    evaluate,
    redact_text,
)
from tests.unit._pii import find_pii

SETTINGS = settings(max_examples=200, deadline=None)
POLICY_SETTINGS = settings(max_examples=100, deadline=None)  # whole policies: slower to build

STAGES = ("input", "tool_call", "output")
ACTIONS = {
    "input": ("allow", "block", "require_approval", "redact"),
    "tool_call": ("allow", "block", "require_approval"),
    "output": ("allow", "block", "require_approval", "require_review", "redact"),
}
TOOLS = ("refund_order", "lookup_order", "delete_customer")
RISKS = ("read", "write", "destructive", "external")
KEYS = ("amount", "currency", "customer", "email", "items", "0", "sku", "vip")
PATHS = ("amount", "currency", "customer.email", "customer.vip", "items.0.sku", "items.1", "x")
WORDS = ("password", "secret", "refund", "@", "1", "Ünïcode")
REGEXES = ("pass(word)?", r"\d{3}", "^a", "x|y", r"[A-Z]{2}\d\d")

# Text built from PII and its near misses, so adjacent pieces interact: "a@b.co" + "4111...".
FRAGMENTS = (
    "jane@example.com", "a@b.co", "+1 (415) 555-2671", "415-555-2671", "+44 20 7946 0958",
    "4111 1111 1111 1111", "4111111111111111", "4111111111111112", "123-45-6789",
    "DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "10.0.0.7", "256.1.1.1",
    "sk-proj-4fJ9aK2mQ7xR1tW8zB3n", "AKIAIOSFODNN7EXAMPLE", "api_key=9f86d081884c7d659a2feaa0c55ad015",
    "Bearer eyJhbGciOiJIUzI1NiJ9", "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    " ", "-", ".", "@", "+", "(", ")", ":", "=", "_", '"', "1", "42", "555", "DE", "89", "com",
    "password", "KEY", "token", "[REDACTED:email]", "\n",
)  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000),
    st.floats(-1000, 1000, allow_nan=False),
    st.text(max_size=6),
    st.sampled_from(["USD", "EUR", "a", "m", "z", "jane@example.com"]),
)
json_values = st.recursive(
    st.one_of(scalars, st.floats(), st.integers()),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
fragments = st.sampled_from(FRAGMENTS)
pii_text = st.lists(fragments | fragments | st.text(max_size=4), max_size=10).map("".join)
texts = pii_text | st.text(max_size=40)

comparisons = st.one_of(
    st.builds(lambda v: {"eq": v}, scalars),
    st.builds(lambda v: {"ne": v}, scalars),
    scalars.filter(lambda v: not isinstance(v, dict)),  # the bare-scalar shorthand for eq
    st.builds(
        lambda op, v: {op: v},
        st.sampled_from(["gt", "gte", "lt", "lte"]),
        st.integers(-100, 100) | st.floats(-100, 100) | st.sampled_from(["a", "m", "z"]),
    ),
    st.builds(
        lambda op, vs: {op: vs}, st.sampled_from(["in", "not_in"]), st.lists(scalars, max_size=3)
    ),
    st.builds(lambda v: {"contains": v}, scalars),
    st.builds(lambda p: {"matches": p}, st.sampled_from(REGEXES)),
    st.builds(lambda b: {"exists": b}, st.booleans()),
)
numeric = st.builds(
    lambda op, v: {op: v}, st.sampled_from(["gt", "gte", "lt", "lte"]), st.floats(0, 1)
)


def one_or_many(values: tuple[str, ...]) -> st.SearchStrategy[Any]:
    return st.sampled_from(values) | st.lists(st.sampled_from(values), min_size=1, max_size=3)


leaves = st.one_of(
    st.builds(lambda v: {"tool": v}, one_or_many(TOOLS)),
    st.builds(lambda v: {"risk": v}, one_or_many(RISKS)),
    st.builds(lambda v: {"args": v}, st.dictionaries(st.sampled_from(PATHS), comparisons, min_size=1, max_size=2)),
    st.builds(lambda v: {"contains": v}, one_or_many(WORDS)),
    st.builds(lambda v: {"matches": v}, st.sampled_from(REGEXES)),
    st.builds(lambda v: {"pii": v}, st.booleans() | st.lists(st.sampled_from(PII_KINDS), min_size=1, max_size=2)),
    st.builds(lambda v: {"confidence": v}, numeric),
    st.builds(lambda v: {"risk_score": v}, numeric),
)  # fmt: skip
conditions = st.recursive(
    leaves | st.tuples(leaves, leaves).map(lambda pair: {**pair[1], **pair[0]}),
    lambda inner: st.one_of(
        st.builds(lambda v: {"all": v}, st.lists(inner, max_size=3)),
        st.builds(lambda v: {"any": v}, st.lists(inner, max_size=3)),
        st.builds(lambda v: {"not": v}, inner),
    ),
    max_leaves=6,
)


@st.composite
def rules(draw: st.DrawFn, name: str, stage: str | None = None) -> Rule:
    stage = stage or draw(st.sampled_from(STAGES))
    action = draw(st.sampled_from(ACTIONS[stage]))
    fields: dict[str, Any] = {
        "name": name,
        "stage": stage,
        "action": action,
        "mode": draw(st.sampled_from(["conditional"] * 4 + ["always", "never"])),
        "when": draw(conditions),
    }
    if action == "require_approval":
        fields["approvers"] = ["ops"]
    if action == "redact":
        fields["redact"] = draw(st.lists(st.sampled_from(PII_KINDS), max_size=2, unique=True))
    return Rule.model_validate(fields)


policies = st.integers(0, 6).flatmap(
    lambda n: st.tuples(*[rules(f"r{i}") for i in range(n)]).map(list)
)
contexts = st.builds(
    lambda stage, text, tool, risk, arguments, confidence, risk_score: EvalContext(
        stage=stage,
        text=text,
        tool=tool,
        risk=risk,
        arguments=arguments,
        confidence=confidence,
        risk_score=risk_score,
    ),
    st.sampled_from(STAGES),
    texts | st.just(""),
    st.none() | st.sampled_from(TOOLS),
    st.none() | st.sampled_from(RISKS),
    st.none()
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), json_values, max_size=5),
    st.none() | st.floats(0, 1) | st.floats(),
    st.none() | st.floats(0, 1),
)


def matches(rule: Rule, context: EvalContext) -> bool:
    return bool(evaluate([rule], context).matched)


def probe(when: Any, stage: str) -> Rule:
    return Rule.model_validate({"name": "probe", "stage": stage, "when": when, "action": "block"})


@POLICY_SETTINGS
@given(policies, contexts)
def test_evaluation_is_deterministic(policy: list[Rule], context: EvalContext) -> None:
    first = evaluate(policy, context)
    assert evaluate(policy, context) == first
    # The same policy after a trip through JSON (as recorded in history) decides the same.
    replayed = [Rule.model_validate_json(rule.model_dump_json()) for rule in policy]
    assert replayed == policy
    assert evaluate(replayed, context) == first


@SETTINGS
@given(
    policies,
    st.sampled_from(STAGES),
    st.text(),
    st.none() | json_values.filter(lambda v: isinstance(v, dict)),
)
def test_evaluation_never_raises(policy: list[Rule], stage: str, text: str, arguments: Any) -> None:
    context = EvalContext(stage=stage, text=text, arguments=arguments, confidence=float("nan"))
    assert evaluate(policy, context).action in SEVERITY
    assert evaluate(policy, context.model_copy(update={"text": ""})).action in SEVERITY


@SETTINGS
@given(conditions, contexts)
def test_not_inverts(when: Any, context: EvalContext) -> None:
    # A confidence that cannot be compared (inf, NaN) makes a confidence test unknown, which a
    # rule treats as matched either way round (fail closed): test_unknown_matches_both_ways.
    assume(context.confidence is None or math.isfinite(context.confidence))
    stage = context.stage
    assert matches(probe({"not": when}, stage), context) is not matches(probe(when, stage), context)


@SETTINGS
@given(conditions, conditions, contexts)
def test_all_is_and_and_any_is_or(first: Any, second: Any, context: EvalContext) -> None:
    stage = context.stage
    a, b = matches(probe(first, stage), context), matches(probe(second, stage), context)
    assert matches(probe({"all": [first, second]}, stage), context) is (a and b)
    assert matches(probe({"any": [first, second]}, stage), context) is (a or b)
    assert matches(probe({"all": [first]}, stage), context) is a
    assert matches(probe({"any": [first]}, stage), context) is a
    assert matches(probe({"all": []}, stage), context) is True
    assert matches(probe({"any": []}, stage), context) is False


@POLICY_SETTINGS
@given(policies, contexts, st.data())
def test_the_decision_is_the_most_severe_match_first_among_equals(
    policy: list[Rule], context: EvalContext, data: st.DataObject
) -> None:
    decision = evaluate(policy, context)
    matched = [rule for rule in policy if matches(rule, context)]
    assert decision.matched == [rule.name for rule in matched]
    if not matched:
        assert (decision.action, decision.rule) == ("allow", None)
        return
    strongest = max(SEVERITY[rule.action] for rule in matched)
    assert SEVERITY[decision.action] == strongest
    assert decision.rule == next(rule for rule in matched if SEVERITY[rule.action] == strongest)


@POLICY_SETTINGS
@given(policies, contexts, st.data())
def test_shuffling_the_rules_keeps_the_action(
    policy: list[Rule], context: EvalContext, data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(policy))
    before, after = evaluate(policy, context), evaluate(shuffled, context)
    assert after.action == before.action
    assert sorted(after.matched) == sorted(before.matched)
    assert after.redacted_text == before.redacted_text


@POLICY_SETTINGS
@given(policies, contexts, st.data())
def test_adding_a_rule_that_does_not_match_changes_nothing(
    policy: list[Rule], context: EvalContext, data: st.DataObject
) -> None:
    extra = data.draw(rules("extra"))
    if matches(extra, context):
        return
    position = data.draw(st.integers(0, len(policy)))
    assert evaluate([*policy[:position], extra, *policy[position:]], context) == evaluate(
        policy, context
    )


kind_choices = st.none() | st.lists(st.sampled_from(PII_KINDS), min_size=1, max_size=3, unique=True)


@SETTINGS
@given(texts, kind_choices)
def test_redaction_is_complete_and_idempotent(text: str, kinds: list[Any] | None) -> None:
    redacted, redactions = redact_text(text, kinds)
    assert find_pii(redacted, kinds) == []
    assert redact_text(redacted, kinds) == (redacted, [])
    assert len(redactions) >= len(find_pii(text, kinds))
    assert all(kind in (kinds or PII_KINDS) for kind in redactions)


@SETTINGS
@given(pii_text, kind_choices, st.sampled_from(["input", "output"]))
def test_a_redact_rule_redacts_like_redact_text(
    text: str, kinds: list[Any] | None, stage: str
) -> None:
    redact = Rule.model_validate(
        {"name": "r", "stage": stage, "mode": "always", "action": "redact", "redact": kinds or []}
    )
    decision = evaluate([redact], EvalContext(stage=stage, text=text))
    assert (decision.redacted_text, decision.redactions) == redact_text(text, kinds)


@pytest.mark.parametrize("confidence", [float("inf"), float("-inf"), float("nan")])
def test_unknown_matches_both_ways(confidence: float) -> None:
    context = EvalContext(stage="output", confidence=confidence)
    when = {"confidence": {"gt": 0.0}}
    assert matches(probe(when, "output"), context)
    assert matches(probe({"not": when}, "output"), context)
