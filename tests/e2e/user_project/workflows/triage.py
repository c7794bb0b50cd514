"""Triage: ask the support agent (a child ``AgentRun``), then file a ticket with its answer."""

from __future__ import annotations

from datetime import timedelta

from duragent import RunRequest
from duragent.workflows import run_agent
from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.tickets import open_ticket


class Triaged(BaseModel):
    answer: str
    agent_run_id: str  # the child AgentRun's workflow id: its own history in the Web UI
    ticket: str


@workflow.defn(name="Triage")
class Triage:
    @workflow.run
    async def run(self, question: str) -> Triaged:
        result = await run_agent(RunRequest(agent="support", input=question))
        answer = result.output or ""
        ticket = await workflow.execute_activity(
            open_ticket, answer, start_to_close_timeout=timedelta(seconds=10)
        )
        return Triaged(answer=answer, agent_run_id=result.workflow_id, ticket=ticket)
