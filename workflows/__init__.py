"""Workflow definitions. Deterministic code only: see ``workflows/agent_run.py``.

``AgentRun`` is the run itself. From your own workflows, ``run_agent`` runs an agent as a child
``AgentRun`` and returns its ``RunResult``; ``start_agent`` starts one and returns the child's
handle (``workflows/_child.py``).
"""

from duragent.workflows._child import run_agent, start_agent
from duragent.workflows.agent_run import AgentRun

__all__ = ["AgentRun", "run_agent", "start_agent"]
