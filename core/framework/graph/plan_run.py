"""The state of one ``execute_plan`` call: how it starts, resumes, stops, reports and is
checkpointed.

:class:`PlanRun` is what the flexible executor keeps while a plan runs: the plan copy with
its step states, the run context, totals, the accepted steps in order, and the
:class:`~framework.durable.RunObserver` it reports to (a durable run, or one that writes
nothing). :class:`PlanAdapter` says what a plan checkpoint holds: the plan with every
step's status, attempts, result and error (its ``plan_state``), the run context as its
memory (the plan's context plus each completed step's outputs under its id), the accepted
steps as its path, and the first step that can run as its next node. Resuming rebuilds all
of it; steps that were in progress or failed start afresh, completed ones never run again.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from framework.durable import BUDGET_EXHAUSTED, NullRun, RunObserver
from framework.errors import CheckpointDecodeError, PlanExecutionError
from framework.graph.goal import Goal
from framework.graph.plan import Plan, PlanStep, StepStatus
from framework.graph.review import ApprovalRequest
from framework.graph.step_context import StepContext
from framework.schemas.checkpoint import Checkpoint, ExecutorType, PlanState
from framework.schemas.control import ControlAction
from framework.schemas.run import RunStatus

__all__ = ["RUN_STATUS", "ExecutionStatus", "PlanAdapter", "PlanExecutionResult", "PlanRun"]


class ExecutionStatus(StrEnum):
    """How one ``execute_plan`` call ended."""

    COMPLETED = "completed"
    """Every step completed (or was skipped)."""
    AWAITING_APPROVAL = "awaiting_approval"
    """Steps wait for an approval that no callback gave."""
    NEEDS_REPLAN = "needs_replan"
    """The judge asked for a new plan."""
    NEEDS_ESCALATION = "needs_escalation"
    """The judge asked for a human."""
    REJECTED = "rejected"
    """Done, but some steps were rejected by the approver (and their dependents skipped)."""
    ABORTED = "aborted"
    """The approver aborted the plan."""
    FAILED = "failed"
    """A step failed for good, or an approval could not be asked."""
    PAUSED = "paused"
    """Stopped resumably: a pause request, or the budget ran out."""
    CANCELLED = "cancelled"
    """Stopped for good by a cancel request."""


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


class PlanExecutionResult(BaseModel):
    """The outcome of one ``execute_plan`` call.

    The counters and totals of a stored run cover its earlier calls too; a plan passed back
    without storage starts them afresh.
    """

    model_config = ConfigDict(use_attribute_docstrings=True)

    status: ExecutionStatus
    """How the call ended."""
    results: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """The outputs of every completed step by step id, including steps completed by an
    earlier call on the same plan."""
    errors: dict[str, str] = Field(default_factory=dict)
    """The last error of each failed or rejected step."""
    steps_executed: int = 0
    """Step attempts made."""
    total_tokens: int = 0
    """Tokens spent by the steps and by the judge."""
    total_cost: float = 0.0
    """What they cost, in US dollars, as far as it is known."""
    total_latency_ms: int = 0
    """Time spent in steps."""
    feedback: str = ""
    """Why the plan did not simply complete: the judge's feedback, the approver's reason,
    a pause or cancel reason, ``budget_exhausted``, or which steps wait for approval;
    empty when it completed."""
    failed_step: str | None = None
    """The step that stopped the plan, if one did."""
    completed_steps: list[str] = Field(default_factory=list)
    """The completed steps, in plan order."""
    skipped_steps: list[str] = Field(default_factory=list)
    """The skipped steps, in plan order."""
    pending_approvals: list[ApprovalRequest] = Field(default_factory=list)
    """What must be answered when the status is ``awaiting_approval``."""
    run_id: str | None = None
    """The run's id; ``None`` when the run is neither stored nor logged."""
    plan: Plan
    """The plan with every step's status, attempts and result; pass it back to
    ``execute_plan`` to continue."""
    run_status: RunStatus | None = None
    """The status of the run this call leaves behind (``paused``: it can be continued)."""


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
    observer: RunObserver[PlanRun] = field(default_factory=NullRun)
    run_id: str | None = None
    stop: PlanStop | None = None
    pending_approvals: list[ApprovalRequest] = field(default_factory=list)
    steps_executed: int = 0
    total_tokens: int = 0
    total_cost: float = 0.0
    total_latency_ms: int = 0
    path: list[str] = field(default_factory=list)
    # Names a run that has no id (no manager, no runtime) in its steps' idempotency keys.
    local_id: str = field(default_factory=lambda: f"plan-{uuid.uuid4().hex}", repr=False)

    @classmethod
    def new(
        cls,
        plan: Plan,
        goal: Goal,
        context: Mapping[str, Any] | None,
        observer: RunObserver[PlanRun] | None = None,
    ) -> PlanRun:
        """A run of a copy of ``plan`` whose context is the plan's updated by ``context``."""
        run = cls(plan.model_copy(deep=True), goal, {**plan.context, **(context or {})})
        clashes = sorted(set(run.context) & {step.id for step in run.plan.steps})
        if clashes:
            raise PlanExecutionError(
                f"context keys {clashes} have the names of plan steps; rename them"
            )
        if observer is not None:
            run.observer, run.run_id = observer, observer.run_id
        return run

    @classmethod
    def restored(
        cls, cp: Checkpoint, goal: Goal, observer: RunObserver[PlanRun] | None = None
    ) -> PlanRun:
        """The plan run as checkpoint ``cp`` left it; ``CheckpointDecodeError`` if it holds
        no plan."""
        if cp.executor_type is not ExecutorType.FLEXIBLE or cp.plan_state is None:
            raise CheckpointDecodeError(
                f"checkpoint {cp.id!r} of run {cp.run_id!r} holds no plan; it was not "
                "written by the flexible executor"
            )
        return cls(
            Plan.model_validate(cp.plan_state.plan),
            goal,
            dict(cp.memory_snapshot),
            observer=observer if observer is not None else NullRun(cp.run_id),
            run_id=cp.run_id,
            steps_executed=cp.step_number,
            total_tokens=cp.total_tokens,
            total_cost=cp.total_cost,
            total_latency_ms=cp.total_latency_ms,
            path=list(cp.execution_path),
        )

    def prepare(self) -> PlanRun:
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
        return self

    def step_context(self, step: PlanStep) -> StepContext:
        """What ``step``'s current attempt sees as ``ctx``: the run, and its effects ledger
        when the run is durable."""
        return StepContext(
            self.run_id or self.local_id, step.id, step.attempts, self.observer.effects
        )

    def effect_refused(self, step: PlanStep) -> bool:
        """Whether ``step`` hit an in-doubt effect that the ledger refused to call again,
        so running it again is futile until someone resolves that effect."""
        effects = self.observer.effects
        return effects is not None and effects.refused(step.id)

    async def check_stop(self) -> None:
        """Stop starting steps when a pause or cancel was requested or the budget is spent."""
        if stop := await self.observer.check_control():
            cancel = stop.action is ControlAction.CANCEL
            status = ExecutionStatus.CANCELLED if cancel else ExecutionStatus.PAUSED
            self.stop = PlanStop(status, stop.reason)
        elif self.observer.budget.exhausted(self.total_tokens, self.total_cost):
            self.stop = PlanStop(ExecutionStatus.PAUSED, BUDGET_EXHAUSTED)

    @property
    def last_step(self) -> str | None:
        """The step accepted last, if any."""
        return self.path[-1] if self.path else None

    def snapshot(self) -> Checkpoint:
        """The run as an unnumbered checkpoint taken after its latest accepted step."""
        return Checkpoint(
            id="unnumbered",
            run_id=self.run_id or "",
            executor_type=ExecutorType.FLEXIBLE,
            current_step_id=self.last_step,
            next_node_id=_next_step(self.plan),
            memory_snapshot=dict(self.context),
            execution_path=list(self.path),
            step_number=self.steps_executed,
            total_tokens=self.total_tokens,
            total_cost=self.total_cost,
            total_latency_ms=self.total_latency_ms,
            plan_state=PlanState(plan=_stored_plan(self.plan), revision=self.plan.revision),
        )

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
            total_cost=self.total_cost,
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


class PlanAdapter:
    """What a plan checkpoint holds (see the module docs), for ``run_durably``.

    Built before anything is stored, so context keys clashing with step names fail first.
    """

    def __init__(self, plan: Plan, goal: Goal, context: Mapping[str, Any] | None) -> None:
        self.plan = plan
        self.goal = goal
        PlanRun.new(plan, goal, context)

    def start(self, input_data: dict[str, Any], run: RunObserver[PlanRun]) -> PlanRun:
        return PlanRun.new(self.plan, self.goal, input_data, run).prepare()

    def resume(self, checkpoint: Checkpoint, run: RunObserver[PlanRun]) -> PlanRun:
        return PlanRun.restored(checkpoint, self.goal, run).prepare()

    def finished(self, checkpoint: Checkpoint) -> PlanExecutionResult:
        return PlanRun.restored(checkpoint, self.goal).result()

    def snapshot(self, state: PlanRun, after: str | None) -> Checkpoint:
        return state.snapshot()


def _stored_plan(plan: Plan) -> dict[str, Any]:
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
