"""Workflow definitions. Deterministic code only: see ``workflows/agent_run.py``."""

from duragent.workflows.agent_run import AgentRun

__all__ = ["AgentRun"]
