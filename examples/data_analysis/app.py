"""The data-analysis app: ``duragent worker --app duragent.examples.data_analysis.app:app``.

Four agents (``agents.yaml``) and three tools (``tools.py``) over a bundled SQLite sales
database (``db.py``). The entry agent is ``analyst``; a question goes to ``query`` (read-only
SQL), ``processing`` (pandas) and ``visualization`` (matplotlib), the last two in the sandbox:
``duragent dev`` and ``duragent demo`` start a sandbox worker next to the main one, because
the app has sandboxed tools. The chart comes back as the run's artifact; ``duragent run
--wait``, ``duragent show`` and the demo save it under ``$DURAGENT_HOME/artifacts/``.
"""

from __future__ import annotations

from pathlib import Path

from duragent import App
from duragent.examples.data_analysis.tools import TOOLS

HERE = Path(__file__).parent

app = App(agents=[HERE / "agents.yaml"], tools=TOOLS, name="data_analysis")

ENTRY_AGENT = "analyst"

SCENARIOS = [
    "Analyze and visualize Q1 sales",
    "Analyze and visualize Q2 2026 sales",
    "How did sales go in Q3?",
    "Compare Q1 and Q2 sales",
]
"""Demo inputs: two quarters through all four agents, each ending with a chart; a quarter the
database does not cover, answered by ``query`` without going further; and a comparison, which
``analyst`` coordinates by delegating both quarters to ``query`` as parallel child runs."""
