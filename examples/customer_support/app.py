"""The customer-support app: ``duragent worker --app duragent.examples.customer_support.app:app``.

Four agents (``agents.yaml``) and five tools over a local SQLite database (``tools.py``,
``db.py``). The entry agent is ``support``. Two of the tools are governed: a refund over $100
and every password reset wait for a support lead's approval, and a low-confidence answer of
``info`` waits for a support lead's review (the rules are in ``agents.yaml``).
"""

from __future__ import annotations

from pathlib import Path

from duragent import App
from duragent.examples.customer_support.tools import TOOLS

HERE = Path(__file__).parent

APPROVERS = {"lee": ["support_lead"], "sam": ["support_agent"]}
"""Who may decide paused steps, by role: the rules of ``agents.yaml`` ask for a support_lead, so
lee may approve refunds, password resets and reviews, and sam may not."""

app = App(agents=[HERE / "agents.yaml"], tools=TOOLS, approvers=APPROVERS, name="customer_support")

ENTRY_AGENT = "support"

SCENARIOS = [
    "Where is my order 1001?",
    "Can you check order 9999? It never arrived.",
    "I can't log in, my email is alex@example.com",
    "The app keeps crashing on startup and it still fails after reinstalling.",
    "This is unacceptable, I want to talk to a manager about my delayed order 1005.",
]
"""Demo inputs, one per path: info (found, then not found), tech (account check, then a
ticket) and human escalation. Each completes without a human decision."""

APPROVAL_SCENARIO = "I want a refund of 150 for order 1006, the chair arrived damaged."
"""A refund over $100: the run pauses at ``refund_order`` until a support lead decides."""

DEMO_APPROVER = "lee"
"""The support lead who approves ``APPROVAL_SCENARIO`` in the demo."""

REVIEW_SCENARIO = "What is your refund policy?"
"""A general question ``info`` answers with confidence 0.5: the answer waits for a review."""

PASSWORD_RESET_SCENARIO = "Please reset the password for alex@example.com"
"""A password reset: always paused for a support lead, whoever asks."""
