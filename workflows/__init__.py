"""Workflow definitions. Deterministic code only: see ``workflows/agent_run.py``.

``AgentRun`` is the run itself. From your own workflows, ``run_agent`` runs an agent as a child
``AgentRun`` and returns its ``RunResult``; ``start_agent`` starts one and returns the child's
handle (``workflows/_child.py``). ``EvalRun`` runs an evaluation dataset's cases as child
``AgentRun``s and scores them (``workflows/eval_run.py``, ``duragent eval``).
"""

from duragent.workflows._child import run_agent, start_agent
from duragent.workflows.agent_run import AgentRun
from duragent.workflows.eval_run import EvalRun

__all__ = ["AgentRun", "EvalRun", "run_agent", "start_agent"]
