"""The state of one ``execute_plan`` call: how it starts, resumes, stops and reports.

:class:`PlanRun` is what the flexible executor keeps while a plan runs: the plan copy with
its step states, the run context, totals, the accepted steps in order, and — for a
durable run — the :class:`~framework.graph.durable.DurableRun` it reports to.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from framework.errors import PlanExecutionError
from framework.graph.durable import DurableRun
from framework.graph.durable_open import BUDGET_EXHAUSTED, Budget
from framework.graph.durable_plan import RUN_STATUS, PlanProgress
from framework.graph.goal import Goal
from framework.graph.plan import (
    ApprovalRequest,
    ExecutionStatus,
    Plan,
    PlanExecutionResult,
    PlanStep,
    StepStatus,
)
from framework.graph.step_context import StepContext
from framework.schemas.checkpoint import Checkpoint
from framework.schemas.control import ControlAction

__all__ = ["PlanRun", "PlanStop"]


@dataclass
class PlanStop:
    """Why a plan stops starting steps, and which step made it stop (if one did)."""

    status: ExecutionStatus
    feedback: str
    failed_step: str | None = None


@dataclass
class PlanRun:
    """The state of one ``execute_plan`` call."""

    plan: Plan
    goal: Goal
    context: dict[str, Any]
    run_id: str | None = None
    stop: PlanStop | None = None
    pending_approvals: list[ApprovalRequest] = field(default_factory=list)
    steps_executed: int = 0
    total_tokens: int = 0
    total_latency_ms: int = 0
    path: list[str] = field(default_factory=list)
    budget: Budget = field(default_factory=Budget)
    durable: DurableRun | None = None
    # Names a run that has no id (no manager, no runtime) in its steps' idempotency keys.
    local_id: str = field(default_factory=lambda: f"plan-{uuid.uuid4().hex}", repr=False)

    @classmethod
    def new(
        cls, plan: Plan, goal: Goal, context: Mapping[str, Any] | None, budget: Budget
    ) -> PlanRun:
        """A run of a copy of ``plan`` whose context is the plan's updated by ``context``."""
        run = cls(plan.model_copy(deep=True), goal, {**plan.context, **(context or {})})
        clashes = sorted(set(run.context) & {step.id for step in run.plan.steps})
        if clashes:
            raise PlanExecutionError(
                f"context keys {clashes} have the names of plan steps; rename them"
            )
        run.budget = budget
        return run

    @classmethod
    def restored(cls, durable: DurableRun, goal: Goal) -> PlanRun:
        """The plan run as the latest checkpoint of ``durable`` left it."""
        if durable.checkpoint is None:
            raise PlanExecutionError(f"run {durable.run_id!r} has no checkpoint to continue from")
        progress = PlanProgress.from_checkpoint(durable.checkpoint)
        return cls(
            progress.plan,
            goal,
            progress.context,
            run_id=durable.run_id,
            steps_executed=progress.steps_executed,
            total_tokens=progress.total_tokens,
            total_latency_ms=progress.total_latency_ms,
            path=progress.path,
            budget=durable.budget,
            durable=durable,
        )

    def prepare(self) -> None:
        """Make a plan from an earlier call runnable again and rebuild its context."""
        for step in self.plan.steps:
            if step.status is StepStatus.COMPLETED:
                self.context[step.id] = step.result or {}
            elif step.status in (StepStatus.AWAITING_APPROVAL, StepStatus.IN_PROGRESS):
                step.status = StepStatus.PENDING
            elif step.status is StepStatus.FAILED:
                step.status, step.attempts, step.error = StepStatus.PENDING, 0, None
        for step in self.plan.steps:
            if step.status in (StepStatus.REJECTED, StepStatus.SKIPPED):
                for dependent in self.plan.dependents(step.id):
                    if dependent.status is StepStatus.PENDING:
                        dependent.status = StepStatus.SKIPPED

    def step_context(self, step: PlanStep) -> StepContext:
        """What ``step``'s current attempt sees as ``ctx``: the run, and its effects ledger
        when the run is durable."""
        effects = self.durable.effects if self.durable is not None else None
        return StepContext(self.run_id or self.local_id, step.id, step.attempts, effects)

    def effect_refused(self, step: PlanStep) -> bool:
        """Whether ``step`` hit an in-doubt effect that the ledger refused to call again,
        so running it again is futile until someone resolves that effect."""
        return self.durable is not None and self.durable.effects.refused(step.id)

    async def check_stop(self) -> None:
        """Stop starting steps when a pause or cancel was requested or the budget is spent."""
        if self.durable is not None and (stop := await self.durable.check_control()):
            cancel = stop.action is ControlAction.CANCEL
            status = ExecutionStatus.CANCELLED if cancel else ExecutionStatus.PAUSED
            self.stop = PlanStop(status, stop.reason)
        elif self.budget.exhausted(self.total_tokens, 0.0):
            self.stop = PlanStop(ExecutionStatus.PAUSED, BUDGET_EXHAUSTED)

    def snapshot(self) -> Checkpoint:
        """The run as an unnumbered checkpoint taken after its latest accepted step."""
        progress = PlanProgress(
            self.plan,
            self.context,
            self.path,
            self.steps_executed,
            self.total_tokens,
            self.total_latency_ms,
        )
        return progress.to_checkpoint(self.run_id or "", self.path[-1] if self.path else None)

    def result(self) -> PlanExecutionResult:
        """The outcome of the run as it stands."""
        steps = self.plan.steps
        if self.stop is not None:
            status, feedback = self.stop.status, self.stop.feedback
        elif self.pending_approvals:
            status = ExecutionStatus.AWAITING_APPROVAL
            feedback = "waiting for approval of " + ", ".join(
                f"'{request.step_id}'" for request in self.pending_approvals
            )
        elif any(step.status is StepStatus.REJECTED for step in steps):
            status, feedback = ExecutionStatus.REJECTED, "some steps were rejected"
        else:
            status, feedback = ExecutionStatus.COMPLETED, ""
        return PlanExecutionResult(
            status=status,
            results={s.id: s.result or {} for s in steps if s.status is StepStatus.COMPLETED},
            errors={s.id: s.error for s in steps if s.error is not None},
            steps_executed=self.steps_executed,
            total_tokens=self.total_tokens,
            total_latency_ms=self.total_latency_ms,
            feedback=feedback,
            failed_step=self.stop.failed_step if self.stop else None,
            completed_steps=[s.id for s in steps if s.status is StepStatus.COMPLETED],
            skipped_steps=[s.id for s in steps if s.status is StepStatus.SKIPPED],
            pending_approvals=self.pending_approvals,
            run_id=self.run_id,
            plan=self.plan,
            run_status=RUN_STATUS[status],
        )
