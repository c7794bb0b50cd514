"""The customer-support app: ``duragent worker --app examples.customer_support.app:app``.

Four agents (``agents.yaml``) and three tools over a local SQLite database (``tools.py``,
``db.py``). The entry agent is ``support``.
"""

from __future__ import annotations

from pathlib import Path

from duragent import App
from examples.customer_support.tools import TOOLS

HERE = Path(__file__).parent

app = App(agents=[HERE / "agents.yaml"], tools=TOOLS, name="customer_support")

ENTRY_AGENT = "support"

SCENARIOS = [
    "Where is my order 1001?",
    "Can you check order 9999? It never arrived.",
    "I can't log in, my email is alex@example.com",
    "The app keeps crashing on startup and it still fails after reinstalling.",
    "This is unacceptable, I want to talk to a manager about my delayed order 1005.",
]
"""Demo inputs, one per path: info (found, then not found), tech (account check, then a
ticket) and human escalation."""
