"""A coordinator with two delegates, for the delegation tests: ``researcher`` answers at once,
``refunder`` pauses for a lead's approval (a refund over 100) before it answers."""

from __future__ import annotations

from typing import Any

from duragent import Agent, App, tool


@tool(risk="read", timeout=10)
def lookup(topic: str) -> dict[str, Any]:
    """Look a topic up."""
    return {"topic": topic, "fact": f"{topic} ships in 3 days"}


@tool(risk="write", idempotent=False, timeout=10)
def refund_order(order_id: str, amount: int) -> dict[str, Any]:
    """Refund an order."""
    return {"order_id": order_id, "refunded": amount}


coordinator = Agent(
    name="coordinator",
    instructions="Split the work between your delegates and combine their answers.",
    model="scripted/coordinator",
    delegates=["researcher", "refunder"],
    script=[
        {
            "on": "user",
            "when": r"order (\d+)",
            "calls": [
                {"tool": "delegate_to_researcher", "arguments": {"task": "shipping of {1}"}},
                {"tool": "delegate_to_refunder", "arguments": {"task": "refund 150 for order {1}"}},
            ],
        },
        {
            "on": "tool",
            "say": "Research: {results.delegate_to_researcher} | Refund: "
            "{results.delegate_to_refunder}",
        },
    ],
)
researcher = Agent(
    name="researcher",
    instructions="Look things up.",
    model="scripted/researcher",
    tools=["lookup"],
    script=[
        {"on": "user", "call": {"tool": "lookup", "arguments": {"topic": "{input}"}}},
        {"on": "tool", "say": "{result.fact}"},
    ],
)
refunder = Agent(
    name="refunder",
    instructions="Refund orders.",
    model="scripted/refunder",
    tools=["refund_order"],
    guardrails=[
        {
            "name": "refund_over_100",
            "stage": "tool_call",
            "when": {"tool": "refund_order", "args": {"amount": {"gt": 100}}},
            "action": "require_approval",
            "approvers": ["alice"],
            "timeout_s": 600,
        }
    ],
    script=[
        {
            "on": "user",
            "when": r"refund (\d+) for order (\d+)",
            "call": {"tool": "refund_order", "arguments": {"order_id": "{2}", "amount": "{1}"}},
        },
        {"on": "tool", "when": "not approved", "say": "The refund was not approved."},
        {"on": "tool", "say": "refunded {result.refunded} for order {result.order_id}"},
    ],
)

app = App(agents=[coordinator, researcher, refunder], tools=[lookup, refund_order])


# Hostile shapes: an agent that always delegates to itself, and one that asks for ten at once.
looper = Agent(
    name="looper",
    instructions="Delegate everything to yourself.",
    model="scripted/looper",
    delegates=["looper"],
    script=[
        {"on": "user", "call": {"tool": "delegate_to_looper", "arguments": {"task": "{input}"}}},
        {"on": "tool", "say": "done"},
    ],
)
fanout = Agent(
    name="fanout",
    instructions="Ask the researcher about everything at once.",
    model="scripted/fanout",
    delegates=["researcher"],
    script=[
        {
            "on": "user",
            "calls": [
                {"tool": "delegate_to_researcher", "arguments": {"task": f"topic {i}"}}
                for i in range(10)
            ],
        },
        {"on": "tool", "say": "collected"},
    ],
)
hostile_app = App(agents=[looper, fanout, researcher], tools=[lookup])
