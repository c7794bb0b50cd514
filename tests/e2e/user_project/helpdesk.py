"""The project's agents: one ``support`` agent on the scripted model, and the tool it calls."""

from __future__ import annotations

from duragent import Agent, App, ScriptRule, tool

ORDERS = {"1001": "shipped", "1002": "being packed"}


@tool
def order_status(order_id: str) -> dict[str, str]:
    """Where an order is: shipped, being packed, or unknown."""
    return {"order_id": order_id, "status": ORDERS.get(order_id, "unknown")}


support = Agent(
    name="support",
    instructions="Answer questions about orders; look them up with order_status.",
    model="scripted/support",  # answers from `script`; "openai/gpt-4.1-mini" for a real model
    tools=["order_status"],
    script=[
        ScriptRule(
            on="user",
            when=r"order (?P<id>\d+)",
            call={"tool": "order_status", "arguments": {"order_id": "{id}"}},
        ),
        ScriptRule(on="tool", say="Order {result.order_id} is {result.status}."),
        ScriptRule(say="I can only help with orders."),
    ],
)

app = App(agents=[support], tools=[order_status], name="helpdesk")
