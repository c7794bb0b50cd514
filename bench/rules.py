"""Time of one guardrail evaluation against a realistic 20-rule policy.

    .venv/bin/python -m bench.rules [--samples 20000]

Guardrails run inside the workflow, on every input, tool call and output, so an evaluation
must stay far below a workflow task's cost: the budget is 50 microseconds (median) for a
20-rule policy. Each sample times one ``evaluate`` call with ``timeit`` (number=1); the table
shows the median and the 99th percentile over all samples. The "+ context" rows also build the
``EvalContext`` (pydantic validation), as the workflow does for each event.
"""

from __future__ import annotations

import argparse
import statistics
import timeit
from typing import Any

from duragent._guardrails import Decision, EvalContext, Rule, evaluate

BUDGET_US = 50.0

POLICY: list[dict[str, Any]] = [
    # input: 6 rules
    {"name": "secrets_in_input", "stage": "input", "when": {"contains": ["password", "secret"]},
     "action": "require_approval", "approver_roles": ["security"]},
    {"name": "prompt_injection", "stage": "input",
     "when": {"matches": r"ignore (all )?(previous|prior) instructions|system prompt"},
     "action": "block"},
    {"name": "jailbreak_words", "stage": "input",
     "when": {"contains": ["jailbreak", "dan mode", "developer mode"]}, "action": "block"},
    {"name": "cards_in_input", "stage": "input", "when": {"pii": ["credit_card", "ssn"]},
     "action": "redact", "redact": ["credit_card", "ssn"]},
    {"name": "keys_in_input", "stage": "input", "when": {"pii": ["api_key"]}, "action": "redact",
     "redact": ["api_key"]},
    {"name": "bulk_export", "stage": "input",
     "when": {"all": [{"contains": "export"}, {"contains": ["all customers", "every customer"]}]},
     "action": "require_approval", "approvers": ["data-protection"]},
    # tool_call: 9 rules
    {"name": "refund_over_100", "stage": "tool_call",
     "when": {"tool": "refund_order", "args": {"amount": {"gt": 100}}},
     "action": "require_approval", "approvers": ["alice"], "approver_roles": ["support-lead"],
     "timeout": "30m", "on_timeout": "escalate", "escalate_to": ["finance"]},
    {"name": "refund_currency", "stage": "tool_call",
     "when": {"tool": "refund_order", "args": {"currency": {"not_in": ["USD", "EUR", "GBP"]}}},
     "action": "block", "on_block": "tell_model", "message": "refunds only in USD, EUR or GBP"},
    {"name": "destructive_tools", "stage": "tool_call", "when": {"risk": "destructive"},
     "action": "block", "on_block": "tell_model"},
    {"name": "external_mail", "stage": "tool_call",
     "when": {"tool": "send_email",
              "not": {"args": {"to": {"matches": r"@example\.com$"}}}},
     "action": "require_approval", "approver_roles": ["support-lead"]},
    {"name": "secrets_in_calls", "stage": "tool_call", "when": {"contains": ["password", "secret"]},
     "action": "block", "on_block": "tell_model"},
    {"name": "bulk_quantity", "stage": "tool_call",
     "when": {"tool": ["create_order", "update_order"], "args": {"items.0.quantity": {"gt": 50}}},
     "action": "require_approval", "approvers": ["ops"]},
    {"name": "high_risk_score", "stage": "tool_call", "when": {"risk_score": {"gte": 0.8}},
     "action": "require_approval", "approver_roles": ["security"]},
    {"name": "status_change", "stage": "tool_call",
     "when": {"tool": "update_order",
              "any": [{"args": {"status": {"in": ["cancelled", "refunded"]}}},
                      {"args": {"customer.vip": True}}]},
     "action": "require_approval", "approvers": ["ops"]},
    {"name": "card_in_arguments", "stage": "tool_call", "when": {"pii": ["credit_card"]},
     "action": "block", "on_block": "tell_model"},
    # output: 5 rules
    {"name": "low_confidence", "stage": "output", "when": {"confidence": {"lt": 0.8}},
     "action": "require_review", "approver_roles": ["reviewer"]},
    {"name": "pii_in_output", "stage": "output", "when": {"pii": True}, "action": "redact"},
    {"name": "internal_only", "stage": "output", "when": {"contains": "internal use only"},
     "action": "block", "on_block": "tell_model"},
    {"name": "risky_and_unsure", "stage": "output",
     "when": {"risk_score": {"gt": 0.5}, "confidence": {"lt": 0.9}},
     "action": "require_review"},
    {"name": "keys_in_output", "stage": "output", "when": {"pii": ["api_key"]}, "action": "block"},
]  # fmt: skip

CONTEXTS: dict[str, dict[str, Any]] = {
    "tool_call refund_order": {
        "stage": "tool_call",
        "tool": "refund_order",
        "risk": "write",
        "arguments": {
            "order_id": "1001",
            "amount": 250,
            "currency": "USD",
            "reason": "item arrived damaged, customer asked for a full refund",
            "customer": {"id": "c-42", "email": "jane.doe@example.com", "vip": False},
        },
    },
    "input (220 chars)": {
        "stage": "input",
        "text": (
            "Hi, I ordered a blue kettle last week (order 1001) and it arrived with a cracked "
            "lid. Could you refund it or send a replacement? My account is under the same "
            "name as always. Thanks a lot for your help!"
        ),
    },
    "output (410 chars, PII)": {
        "stage": "output",
        "confidence": 0.72,
        "text": (
            "I'm sorry your kettle arrived damaged. I have issued a refund of $250.00 for "
            "order 1001 to the card on file; it should appear within 5-7 business days. A "
            "confirmation was sent to jane.doe@example.com. If you prefer a replacement "
            "instead, reply to this message or call us on +1 (415) 555-2671 between 9am and "
            "5pm PT, and we will ship a new kettle at no cost. Is there anything else I can "
            "help you with today?"
        ),
    },
}


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(samples: int) -> None:
    policy = [Rule.model_validate(rule) for rule in POLICY]
    assert len(policy) == 20
    print(f"policy: {len(policy)} rules; {samples} samples per row; budget {BUDGET_US:.0f} µs\n")
    print("| case | rules at stage | decision | median µs | p99 µs |")
    print("|---|---:|---|---:|---:|")
    medians: list[float] = []
    for label, raw in CONTEXTS.items():
        context = EvalContext.model_validate(raw)
        decision: Decision = evaluate(policy, context)
        at_stage = sum(rule.stage == context.stage for rule in policy)
        shown = decision.action + (f" ({decision.rule.name})" if decision.rule else "")
        for suffix, run in (
            ("", lambda c=context: evaluate(policy, c)),
            (" + context", lambda r=raw: evaluate(policy, EvalContext.model_validate(r))),
        ):
            timer = timeit.Timer(run)
            timer.timeit(number=500)  # warm-up
            times = [t * 1e6 for t in timer.repeat(repeat=samples, number=1)]
            median = statistics.median(times)
            if not suffix:
                medians.append(median)
            print(
                f"| {label}{suffix} | {at_stage} | {shown} | {median:.1f} | "
                f"{_percentile(times, 0.99):.1f} |"
            )
    worst = max(medians)
    verdict = "met" if worst < BUDGET_US else "NOT met"
    print(
        f"\nbudget {BUDGET_US:.0f} µs per evaluation (median): {verdict} (worst median {worst:.1f} µs)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20_000)
    main(parser.parse_args().samples)
