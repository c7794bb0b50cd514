"""One value: no tool ever runs on a value its rules did not see (property tests).

The pipeline under test is the one a run uses, without Temporal around it: the workflow settles
the model's arguments (``validate_arguments``), the rules evaluate the settled arguments, and
the tool parses them (``Tool.parse_arguments``, with pydantic). Hypothesis writes over-limit
amounts in every spelling pydantic accepts (digit separators, padding, signs, exponents,
fractions of integers, infinities, NaN); whatever the spelling, either the call is refused
before any rule or tool, or the rule sees the number the tool would get and asks for approval.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from duragent import tool
from duragent._coerce import ArgumentsInvalid, validate_arguments
from duragent._guardrails import EvalContext, Rule, evaluate
from duragent._tool import ToolArgumentsError

LIMIT = 100


@tool(risk="write")
def refund_int(order_id: str, amount: int) -> str:
    """Refund a whole number of dollars."""
    return "ok"


@tool(risk="write")
def refund_float(order_id: str, amount: float) -> str:
    """Refund dollars."""
    return "ok"


@tool(risk="write")
def refund_decimal(order_id: str, amount: Decimal) -> str:
    """Refund dollars exactly."""
    return "ok"


@tool(risk="write")
def refund_optional(order_id: str, amount: float | None = None) -> str:
    """Refund dollars, or the whole order."""
    return "ok"


TOOLS = [refund_int, refund_float, refund_decimal, refund_optional]
RULES = [
    Rule.model_validate(
        {
            "name": f"over_limit_{t.name}",
            "stage": "tool_call",
            "when": {"tool": t.name, "args": {"amount": {"gt": LIMIT}}},
            "action": "require_approval",
            "approvers": ["lee"],
        }
    )
    for t in TOOLS
]


def spellings(value: int | float) -> st.SearchStrategy[Any]:
    """Ways to write ``value`` that pydantic may accept."""
    digits = str(int(value)) if float(value).is_integer() else repr(float(value))
    underscored = st.integers(1, max(1, len(digits) - 1)).map(
        lambda i: digits[:i] + "_" + digits[i:]
    )
    return st.one_of(
        st.just(value),
        st.just(float(value)),
        st.just(digits),
        underscored,
        st.sampled_from([" ", "\t", "\n", ""]).map(lambda pad: pad + digits + pad),
        st.just("+" + digits),
        st.just("0" + digits),
        st.just(digits + ".0"),
        st.just(digits + ".00"),
        st.just(f"{float(value):e}"),
        st.just(f"{float(value):E}"),
        st.just(str(Decimal(str(value)).normalize())),
    )


NON_FINITE = st.sampled_from(
    ["inf", "Infinity", "-inf", "nan", "NaN", " inf", "+inf", float("inf"), float("nan")]
)
FUZZ = st.text(alphabet="0123456789_+-. eEinfatyINFA\t", min_size=1, max_size=12)


def _tool_value(t: Any, arguments: dict[str, Any]) -> Any:
    try:
        return t.parse_arguments(arguments)["amount"]
    except ToolArgumentsError:
        return ToolArgumentsError


def _pydantic_value(t: Any, arguments: dict[str, Any]) -> Any:
    try:
        return t.arguments_model.model_validate(arguments).amount
    except Exception:
        return None


def check_pipeline(t: Any, sent: Any) -> None:
    """The invariant, for one spelling of one amount."""
    arguments = {"order_id": "1006", "amount": sent}
    try:
        settled = validate_arguments(t.spec.parameters, arguments)
    except ArgumentsInvalid:
        return  # refused before any rule or tool: nothing runs
    decision = evaluate(
        RULES,
        EvalContext(stage="tool_call", tool=t.name, risk="write", arguments=settled),
    )
    ran_on = _tool_value(t, settled)
    if ran_on is ToolArgumentsError:
        return  # the tool refused what its validation would have read differently
    seen = settled["amount"]
    # The rule saw exactly the value the tool runs on...
    if ran_on is None or seen is None:
        assert ran_on is None and seen is None, (sent, seen, ran_on)
        return
    assert isinstance(seen, int | float) and not isinstance(seen, bool), (sent, seen)
    assert math.isfinite(seen), (sent, seen)
    assert Decimal(str(ran_on)) == Decimal(repr(seen)), (sent, seen, ran_on)
    # ...so an over-limit amount waits for a human, however it was spelled.
    if Decimal(str(ran_on)) > LIMIT:
        assert decision.action == "require_approval", (sent, seen, decision.reason)


@pytest.mark.parametrize("t", TOOLS, ids=lambda t: t.name)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_an_over_limit_amount_in_any_spelling_needs_approval_or_is_refused(
    t: Any, data: st.DataObject
) -> None:
    value = data.draw(
        st.one_of(
            st.integers(LIMIT + 1, 10**12),
            st.floats(LIMIT + 0.01, 1e12, allow_nan=False, allow_infinity=False),
        )
    )
    if t is refund_int and not float(value).is_integer():
        value = math.ceil(value)
    sent = data.draw(spellings(value))
    if _pydantic_value(t, {"order_id": "1006", "amount": sent}) is None:
        return  # pydantic refuses this spelling anyway
    check_pipeline(t, sent)


@pytest.mark.parametrize("t", TOOLS, ids=lambda t: t.name)
@settings(max_examples=300, deadline=None)
@given(sent=st.one_of(NON_FINITE, FUZZ))
def test_fuzzed_spellings_never_split_the_rule_from_the_tool(t: Any, sent: Any) -> None:
    check_pipeline(t, sent)


def test_the_repro_spellings_are_each_settled_or_refused() -> None:
    # The spellings the issue names, one by one, with what becomes of each.
    refused = [
        (refund_float, "1_000"),
        (refund_float, "1_50"),
        (refund_float, "inf"),
        (refund_int, "1_000"),
        (refund_decimal, "1_50"),
        (refund_decimal, "NaN"),
        (refund_float, float("nan")),
    ]
    for t, sent in refused:
        with pytest.raises(ArgumentsInvalid):
            validate_arguments(t.spec.parameters, {"order_id": "1006", "amount": sent})
    settled = validate_arguments(refund_int.spec.parameters, {"order_id": "1", "amount": "2500.0"})
    assert settled["amount"] == 2500 and isinstance(settled["amount"], int)
    settled = validate_arguments(refund_decimal.spec.parameters, {"order_id": "1", "amount": "150"})
    assert settled["amount"] == 150


def test_a_nan_that_reaches_a_rule_still_matches_it() -> None:
    # Defence in depth: even arguments that skipped settling cannot slip past with a NaN.
    decision = evaluate(
        RULES,
        EvalContext(
            stage="tool_call",
            tool="refund_float",
            risk="write",
            arguments={"order_id": "1", "amount": float("nan")},
        ),
    )
    assert decision.action == "require_approval"


@tool(risk="write")
def refund_default(order_id: str, amount: float = 500.0) -> str:
    """Refund dollars; the whole order by default."""
    return "ok"


def test_a_default_the_model_left_out_is_what_the_rule_sees() -> None:
    settled = validate_arguments(refund_default.spec.parameters, {"order_id": "1"})
    assert settled == {"order_id": "1", "amount": 500.0}
    rule = Rule.model_validate(
        {
            "name": "limit",
            "stage": "tool_call",
            "when": {"args": {"amount": {"gt": LIMIT}}},
            "action": "require_approval",
            "approvers": ["lee"],
        }
    )
    context = EvalContext(stage="tool_call", tool="refund_default", arguments=settled)
    assert evaluate([rule], context).action == "require_approval"


class Line(BaseModel):
    sku: str
    amount: float = Field(default_factory=lambda: 900.0)


@tool(risk="write")
def refund_lines(
    order_id: str, lines: list[Line], fee: float = Field(default_factory=lambda: 900.0)
) -> str:
    """Refund some lines of an order, less a fee."""
    return "ok"


def test_a_default_computed_by_a_factory_is_seen_by_the_rule() -> None:
    # Found by the red team: pydantic's schema leaves default_factory values out, so rules saw
    # no amount while the tool ran with 900.
    settled = validate_arguments(
        refund_lines.spec.parameters, {"order_id": "1", "lines": [{"sku": "a"}]}
    )
    assert settled["fee"] == 900.0 and settled["lines"] == [{"sku": "a", "amount": 900.0}]
    rule = Rule.model_validate(
        {"name": "limit", "stage": "tool_call", "when": {"args": {"lines.0.amount": {"gt": LIMIT}}},
         "action": "require_approval", "approvers": ["lee"]}
    )  # fmt: skip
    context = EvalContext(stage="tool_call", tool="refund_lines", arguments=settled)
    assert evaluate([rule], context).action == "require_approval"
    assert refund_lines.parse_arguments(settled)["fee"] == 900.0
    # Called without the settled defaults, the tool refuses instead of computing them unseen.
    with pytest.raises(ToolArgumentsError, match="computed when the tool runs"):
        refund_lines.parse_arguments({"order_id": "1", "lines": [{"sku": "a", "amount": 1}]})
    with pytest.raises(ToolArgumentsError):
        refund_lines.parse_arguments({"order_id": "1", "lines": [{"sku": "a"}], "fee": 1})


@tool(risk="write")
def refund_aliased(order_id: str, amount: Annotated[float, Field(alias="total")]) -> str:
    """Refund an order; the amount is called total."""
    return "ok"


def test_an_aliased_argument_is_compared_under_its_alias() -> None:
    with pytest.raises(ToolArgumentsError, match="would be read as"):
        refund_aliased.parse_arguments({"order_id": "1", "total": "1_50"})
    assert refund_aliased.parse_arguments({"order_id": "1", "total": 150})["amount"] == 150
