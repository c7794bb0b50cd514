"""Run the demo scenarios against a running worker and print what each run did.

python -m examples.customer_support.starter                       # every scenario, scripted
python -m examples.customer_support.starter "Where is my order 1003?"
python -m examples.customer_support.starter --model openai/gpt-4.1-mini
"""

from __future__ import annotations

import argparse
import asyncio

from duragent import ModelRef, RunConfig, RunRequest, RunResult
from duragent.client import start_run
from duragent.settings import Settings
from examples.customer_support.app import ENTRY_AGENT, SCENARIOS
from workers import connect


def describe(text: str, result: RunResult, url: str) -> str:
    """A few lines per run: the path it took, the tools it called, the answer and its cost."""
    tools = [step.tool for step in result.steps if step.kind == "tool"]
    return "\n".join(
        [
            f"> {text}",
            f"  {' -> '.join(result.agent_path)}"
            + (f"  tools: {', '.join(t for t in tools if t)}" if tools else ""),
            f"  [{result.status}] {result.output or result.error}",
            f"  {result.usage.total_tokens} tokens, ${result.cost_usd:.5f}, "
            f"{result.latency.total_ms:.0f} ms  {url}",
        ]
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="*", help="customer messages (default: the scenarios)")
    parser.add_argument("--model", help="run every agent on this model, e.g. openai/gpt-4.1-mini")
    args = parser.parse_args()
    settings = Settings.from_env()
    client = await connect(settings)
    config = RunConfig(model=ModelRef.model_validate(args.model) if args.model else None)
    for text in args.inputs or SCENARIOS:
        request = RunRequest(agent=ENTRY_AGENT, input=text, run_config=config)
        handle = await start_run(client, request, task_queue=settings.task_queue)
        result = await handle.result()
        print(describe(text, result, settings.run_url(result.workflow_id, result.run_id)), "\n")


if __name__ == "__main__":
    asyncio.run(main())
