"""Durable plan runs: what a plan checkpoint holds and how a plan run's ending is recorded.

A plan checkpoint is taken after each accepted step. Its ``context`` holds the plan with
every step's status, attempts, result and error (``"plan"``) and the plan's revision;
its memory is the plan's run context (the plan's context plus each completed step's
outputs under its id), its path the accepted steps in the order they were accepted, and
its next node the first step that can run. Resuming rebuilds all of it; steps that were
in progress or failed start afresh, completed ones never run again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from framework.errors import CheckpointDecodeError
from framework.graph.durable import DurableRun
from framework.graph.plan import ExecutionStatus, Plan, PlanExecutionResult, StepStatus
from framework.schemas.checkpoint import Checkpoint, ExecutorType
from framework.schemas.run import RunStatus

__all__ = ["RUN_STATUS", "PlanProgress", "record_plan_stop"]

# The run status each plan outcome leaves behind. Outcomes that wait for someone (an
# approval, a new plan, a human) pause the run; an approver's abort is final.
RUN_STATUS: dict[ExecutionStatus, RunStatus] = {
    ExecutionStatus.COMPLETED: RunStatus.COMPLETED,
    ExecutionStatus.REJECTED: RunStatus.COMPLETED,
    ExecutionStatus.AWAITING_APPROVAL: RunStatus.PAUSED,
    ExecutionStatus.NEEDS_REPLAN: RunStatus.PAUSED,
    ExecutionStatus.NEEDS_ESCALATION: RunStatus.PAUSED,
    ExecutionStatus.PAUSED: RunStatus.PAUSED,
    ExecutionStatus.FAILED: RunStatus.FAILED,
    ExecutionStatus.ABORTED: RunStatus.CANCELLED,
    ExecutionStatus.CANCELLED: RunStatus.CANCELLED,
}

_FINISHED = (StepStatus.COMPLETED, StepStatus.SKIPPED, StepStatus.REJECTED)


@dataclass
class PlanProgress:
    """Where a plan run stands: the plan with its step states, the context and the totals."""

    plan: Plan
    context: dict[str, Any]
    path: list[str] = field(default_factory=list)
    steps_executed: int = 0
    total_tokens: int = 0
    total_latency_ms: int = 0

    def to_checkpoint(self, run_id: str, last_step: str | None = None) -> Checkpoint:
        """An unnumbered FLEXIBLE checkpoint of this progress, taken after ``last_step``."""
        return Checkpoint(
            id="unnumbered",
            run_id=run_id,
            executor_type=ExecutorType.FLEXIBLE,
            current_step_id=last_step,
            next_node_id=_next_step(self.plan),
            memory_snapshot=dict(self.context),
            execution_path=list(self.path),
            step_number=self.steps_executed,
            total_tokens=self.total_tokens,
            total_latency_ms=self.total_latency_ms,
            context={"plan": _plan_state(self.plan), "revision": self.plan.revision},
        )

    @classmethod
    def from_checkpoint(cls, cp: Checkpoint) -> PlanProgress:
        """The progress a FLEXIBLE checkpoint holds; ``CheckpointDecodeError`` if it has none."""
        if cp.executor_type is not ExecutorType.FLEXIBLE or "plan" not in cp.context:
            raise CheckpointDecodeError(
                f"checkpoint {cp.id!r} of run {cp.run_id!r} holds no plan; it was not "
                "written by the flexible executor"
            )
        return cls(
            plan=Plan.model_validate(cp.context["plan"]),
            context=dict(cp.memory_snapshot),
            path=list(cp.execution_path),
            steps_executed=cp.step_number,
            total_tokens=cp.total_tokens,
            total_latency_ms=cp.total_latency_ms,
        )


async def record_plan_stop(
    durable: DurableRun, result: PlanExecutionResult, snapshot: Checkpoint
) -> None:
    """Record how a plan run stopped (``result.status``), with the state it stopped in."""
    status = RUN_STATUS[result.status]
    reason = result.feedback or str(result.status)
    if status is RunStatus.COMPLETED:
        await durable.complete(snapshot)
    elif status is RunStatus.PAUSED:
        await durable.pause(snapshot, reason)
    elif status is RunStatus.CANCELLED:
        await durable.cancel(snapshot, reason)
    else:
        await durable.fail(reason)


def _plan_state(plan: Plan) -> dict[str, Any]:
    """The plan as stored: every field as it is (the codec keeps results exact), with the
    enums as their values so the stored form needs no registered types."""
    data = plan.model_dump()
    for step in data["steps"]:
        step["status"] = str(step["status"])
        step["action"]["action_type"] = str(step["action"]["action_type"])
    return data


def _next_step(plan: Plan) -> str | None:
    """The first step a resume would run (unfinished, every dependency completed)."""
    done = {step.id for step in plan.steps if step.status is StepStatus.COMPLETED}
    for step in plan.steps:
        if step.status not in _FINISHED and all(dep in done for dep in step.dependencies):
            return step.id
    return None
