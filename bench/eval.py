"""Evaluation throughput: cases per second through ``duragent eval`` against the same cases run
one by one with ``duragent run --wait``.

    .venv/bin/python -m bench.eval [--cases 200] [--concurrency 16] [--one-by-one 200]

The cases are the customer-support set's that end without a person (``run --wait`` would sit
at an approval), cycled to ``--cases`` with unique ids, on the scripted models, so the figure is
the runtime's, not a model's. One ``duragent worker`` process serves the support app on a
fresh dev server tuned as ``duragent dev`` starts it; every command is the CLI as a user types
it, timed from start to exit:

    eval C=16      duragent eval SET --concurrency 16: one EvalRun workflow, each case a child
                   AgentRun, scored as it lands, the report and its four files written
    eval C=1       the same with --concurrency 1: the workflow's own overhead, one case at a time
    run --wait     duragent run support INPUT --wait, once per case, one after the other (a
                   shell loop over a CSV; the first --one-by-one cases, the rate applies to all)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench._server import BenchServer
from duragent.eval import Case, EvalReport, load_dataset
from duragent.examples.customer_support import db

ROOT = Path(__file__).resolve().parents[1]
SUPPORT_SET = ROOT / "examples" / "customer_support" / "eval.yaml"
DURAGENT = str(Path(sys.executable).parent / "duragent")
QUEUE = "bench-eval"


def _ends_alone(case: Case) -> bool:
    """A case ``run --wait`` can run as it is: one message to the entry agent, no pause."""
    waits = any(str(getattr(s, "status", "")).startswith("awaiting_") for s in case.scorers)
    return isinstance(case.input, str) and case.agent is None and not waits


def cases(count: int) -> list[Case]:
    usable = [case for case in load_dataset(SUPPORT_SET).cases if _ends_alone(case)]
    return [
        usable[i % len(usable)].model_copy(update={"id": f"{usable[i % len(usable)].id}-{i}"})
        for i in range(count)
    ]


def write_set(path: Path, chosen: list[Case]) -> None:
    body = {
        "name": "bench",
        "agent": "support",
        "cases": [c.model_dump(mode="json", exclude_none=True) for c in chosen],
    }
    path.write_text(yaml.safe_dump(body, sort_keys=False))


def timed(command: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in ok:
        raise SystemExit(f"{' '.join(command[:3])} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")  # fmt: skip
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--one-by-one", type=int, default=200, help="cases run by run --wait")
    args = parser.parse_args()

    chosen = cases(args.cases)
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp, BenchServer() as server:
        home = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.update(DURAGENT_HOME=str(home), COLUMNS="160", NO_COLOR="1")
        env[db.ENV_VAR] = str(home / "support.db")
        write_set(home / "set.yaml", chosen)
        target = ["--address", server.address, "--task-queue", QUEUE]
        log = (home / "worker.log").open("w")
        worker = subprocess.Popen(
            [DURAGENT, "worker", "--address", server.address, "--task-queue", QUEUE],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while "worker serving" not in (home / "worker.log").read_text():
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit((home / "worker.log").read_text()[-2000:])
                time.sleep(0.1)
            evaluate = [DURAGENT, "eval", str(home / "set.yaml"), *target]
            print(f"{len(chosen)} cases of {SUPPORT_SET.name} (those ending without a person), "
                  f"scripted models, one worker, dev server {server.label}")  # fmt: skip
            timed([*evaluate, "--concurrency", "2", "--out", str(home / "warm")], env)  # warm-up
            figures: dict[str, float] = {}
            figures[f"eval C={args.concurrency}"] = len(chosen) / timed(
                [*evaluate, "--concurrency", str(args.concurrency), "--out", str(home / "c16")], env
            )
            figures["eval C=1"] = len(chosen) / timed(
                [*evaluate, "--concurrency", "1", "--out", str(home / "c1")], env
            )
            for out in ("c16", "c1"):
                report = EvalReport.model_validate_json((home / out / "report.json").read_text())
                if report.overall.correct != len(chosen):
                    raise SystemExit(f"{out}: {report.overall.correct} of {len(chosen)} correct")
            each = []
            for case in chosen[: args.one_by_one]:
                # run exits 1 for a run that did not complete: the injection cases end rejected
                run = [DURAGENT, "run", "support", str(case.input), "--wait", *target]
                each.append(timed(run, env, ok=(0, 1)))  # fmt: skip
            figures["run --wait, one by one"] = len(each) / sum(each)
        finally:
            worker.terminate()
            worker.wait(30)
            log.close()

    base = figures["run --wait, one by one"]
    print(f"\n{'mode':<26}{'cases/s':>10}{'vs run --wait':>16}")
    for mode, rate in figures.items():
        print(f"{mode:<26}{rate:>10.2f}{rate / base:>15.1f}x")
    median_ms = statistics.median(each) * 1000
    print(f"\nevery case correct in both evaluations; run --wait: {median_ms:.0f} ms median per")
    print(f"case (CLI start, connect, run, print) over {len(each)} cases")


if __name__ == "__main__":
    main()
