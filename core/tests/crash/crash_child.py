"""The process the crash tests kill: runs one durable run to completion, or dies trying.

``python crash_child.py graph|plan --storage URL --home DIR --run-id ID --out FILE``

- ``graph``: the twenty-step agent (``twenty_steps/``) through :class:`AgentRunner`, which
  recovers the run by itself when an earlier process died in it.
- ``plan``: a twelve-step FUNCTION plan with dependencies through
  :class:`FlexibleGraphExecutor`, resumed by running the same ``run_id`` again. Every
  third step sends a receipt through ``ctx.effect``, like every fourth graph node.

Before running it prints ``loaded <seq> corrupt <seqs>`` — the checkpoint a resume would
load and every checkpoint that fails verification — then ``ready``; every
``CorruptCheckpointWarning`` is printed as a ``warning ...`` line the moment it is raised.
At the end it writes the result, the effects ledger and a final verification to ``--out``.
The logs the steps write are named by the ``CRASH_*`` environment variables (see
``twenty_steps/functions.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import anyio

# The graph agent's receipt service, so both modes log effects the same way.
from twenty_steps.functions import _send_receipt as send_receipt

from framework.graph import ActionSpec, ActionType, Plan, PlanStep
from framework.graph.checkpoint_manager import CheckpointManager
from framework.graph.flexible_executor import FlexibleGraphExecutor
from framework.graph.goal import Goal
from framework.graph.step_context import StepContext
from framework.runner import AgentRunner
from framework.storage import StorageBackend

AGENT = Path(__file__).parent / "twenty_steps"
GRAPH_INPUT = {"acc": "seed"}
# step -> the steps it depends on: a diamond-rich DAG of twelve steps.
PLAN_SHAPE: dict[str, list[str]] = {
    "s01": [],
    "s02": ["s01"],
    "s03": ["s01"],
    "s04": ["s02", "s03"],
    "s05": ["s04"],
    "s06": ["s04"],
    "s07": ["s05"],
    "s08": ["s06", "s07"],
    "s09": ["s03"],
    "s10": ["s08", "s09"],
    "s11": ["s10"],
    "s12": ["s11", "s02"],
}
PLAN_EFFECT_STEPS = ("s03", "s06", "s09", "s12")


def _append(variable: str, line: str) -> None:
    with open(os.environ[variable], "a", encoding="utf-8") as log:
        log.write(line + "\n")
        log.flush()
        os.fsync(log.fileno())


def _show_warning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    print(f"warning {category.__name__}: {message}", flush=True)


async def _report_loadable(storage: StorageBackend, run_id: str) -> None:
    if await storage.aget_run(run_id) is None:
        print("loaded none corrupt []", flush=True)
        return
    latest = await storage.aload_latest_checkpoint(run_id)
    corrupt = [c.seq for c in await storage.averify(run_id)]
    print(f"loaded {latest.seq if latest else 'none'} corrupt {corrupt}", flush=True)


async def _final_report(storage: StorageBackend, run_id: str) -> dict[str, Any]:
    latest = await storage.aload_latest_checkpoint(run_id)
    record = await storage.aget_run(run_id)
    return {
        "status": record.status if record else None,
        "final_kind": latest.kind if latest else None,
        "corrupt": [c.seq for c in await storage.averify(run_id)],
        "effects": [
            {"key": e.key, "status": e.status, "idempotency_key": e.idempotency_key}
            for e in await storage.alist_effects(run_id)
        ],
    }


async def _run_graph(args: argparse.Namespace) -> dict[str, Any]:
    runner = AgentRunner.load(AGENT, storage=args.storage, storage_path=args.home)
    async with runner:
        manager = runner.checkpoint_manager
        assert manager is not None
        await _report_loadable(manager.storage, args.run_id)
        print("ready", flush=True)
        result = await runner.run(dict(GRAPH_INPUT), run_id=args.run_id)
        report = await _final_report(manager.storage, args.run_id)
    return {"success": result.success, "error": result.error, "output": result.output, **report}


def crash_plan() -> Plan:
    steps = [
        PlanStep(
            id=step_id,
            description=f"plan step {step_id}",
            action=ActionSpec(
                action_type=ActionType.FUNCTION,
                function_name="work",
                function_args={"step": step_id, "parts": [f"${dep}.value" for dep in deps]},
            ),
            dependencies=deps,
            expected_outputs=["value"],
            max_retries=0,
        )
        for step_id, deps in PLAN_SHAPE.items()
    ]
    return Plan(id="crash-plan", goal_id="survive", steps=steps)


async def slow_receipt(step: str, value: str, *, idempotency_key: str) -> str:
    """The receipt service, whose reply takes a step's work time to come back: a kill in
    that time leaves an applied receipt in doubt, which the resume must not apply again."""
    receipt = send_receipt(step, value, idempotency_key=idempotency_key)
    await anyio.sleep(float(os.environ.get("CRASH_NODE_DELAY", "0.02")))
    return receipt


async def work(step: str, parts: list[str], ctx: StepContext) -> Any:
    _append("CRASH_NODE_LOG", f"start {step}")
    await anyio.sleep(float(os.environ.get("CRASH_NODE_DELAY", "0.02")))
    value = hashlib.sha256("/".join([step, *parts]).encode()).hexdigest()[:16]
    output: Any = value
    if step in PLAN_EFFECT_STEPS:
        receipt = await ctx.effect("receipt", slow_receipt, step, value)
        output = {"value": value, "receipt": receipt}
    _append("CRASH_NODE_LOG", f"done {step}")
    return output


async def _run_plan(args: argparse.Namespace) -> dict[str, Any]:
    goal = Goal(id="survive", name="Survive", description="Finish every step exactly once.")
    async with CheckpointManager(args.storage) as manager:
        await _report_loadable(manager.storage, args.run_id)
        print("ready", flush=True)
        executor = FlexibleGraphExecutor(None, functions={"work": work}, checkpoint_manager=manager)
        result = await executor.execute_plan(crash_plan(), goal, run_id=args.run_id)
        report = await _final_report(manager.storage, args.run_id)
    return {
        "success": result.status == "completed",
        "error": result.feedback,
        "output": result.results,
        **report,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["graph", "plan"])
    parser.add_argument("--storage", required=True)
    parser.add_argument("--home", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    warnings.simplefilter("always")
    warnings.showwarning = _show_warning
    report = anyio.run(_run_graph if args.mode == "graph" else _run_plan, args)
    Path(args.out).write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
