"""The flexible executor: runs a :class:`~framework.graph.plan.Plan` step by step.

Each ready step (its dependencies completed) is asked for approval if it needs it, run by
a :class:`~framework.graph.worker_node.WorkerNode`, and judged by a
:class:`~framework.graph.judge.HybridJudge`; the judgment decides whether the step is
done, runs again, or stops the plan for a new plan or a human. Up to
``max_parallel_steps`` steps run at once in one anyio task group, so no step outlives the
call and no error is lost. Given a checkpoint manager, a plan run is durable: checkpointed
after every accepted step and continued from there (see :meth:`execute_plan`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectSendStream
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from framework._callables import call_sync_or_async
from framework.durable import CheckpointManager, RunObserver, RunSpec, run_durably
from framework.errors import GraphValidationError, PlanExecutionError
from framework.graph.goal import Goal
from framework.graph.judge import HybridJudge
from framework.graph.plan import ActionSpec, Plan, PlanStep, StepStatus
from framework.graph.plan_run import (
    ExecutionStatus,
    PlanAdapter,
    PlanExecutionResult,
    PlanRun,
    PlanStop,
)
from framework.graph.review import (
    ApprovalDecision,
    ApprovalRequest,
    ApprovalResult,
    Judgment,
    JudgmentAction,
)
from framework.graph.worker_node import StepExecutionResult, SubGraph, WorkerNode
from framework.llm.provider import LLMProvider, Tool, ToolCall
from framework.runtime.recorder import RunRecorder
from framework.schemas.checkpoint import ExecutorType
from framework.schemas.run import RunBudget, RunStatus

__all__ = ["ApprovalCallback", "ExecutorConfig", "FlexibleGraphExecutor"]

ApprovalCallback = Callable[[ApprovalRequest], ApprovalResult | Awaitable[ApprovalResult]]

_STOP_FOR = {
    JudgmentAction.RETRY: ExecutionStatus.FAILED,
    JudgmentAction.REPLAN: ExecutionStatus.NEEDS_REPLAN,
    JudgmentAction.ESCALATE: ExecutionStatus.NEEDS_ESCALATION,
}


class ExecutorConfig(BaseModel):
    """How the flexible executor schedules steps."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    max_parallel_steps: int = Field(default=1, ge=1)
    """How many ready steps run at once."""
    max_retries_per_step: int = Field(default=3, ge=0)
    """Caps retries whatever the judge says (it protects against a judge that asks for
    retries forever); a step that reaches it while the judge still wants a retry ends the
    plan as ``failed``."""
    retry_delay: float = Field(default=0.0, ge=0.0)
    """Seconds waited before each retry."""


@dataclass
class _Outcome:
    """A step's last attempt and its judgment, sent from the step's task to the loop."""

    step: PlanStep
    result: StepExecutionResult
    judgment: Judgment


class FlexibleGraphExecutor:
    """Executes plans; see :meth:`execute_plan` for the rules.

    ``functions`` and ``graphs`` are what FUNCTION and SUB_GRAPH steps may use (see
    :class:`WorkerNode`). The default judge has no LLM (rules and defaults only), so a plan
    costs no LLM calls beyond its own LLM_CALL steps; pass ``HybridJudge(llm=...)`` to have
    results reviewed by a model. ``approval_callback(ApprovalRequest) -> ApprovalResult``
    may be sync (run in a worker thread) or async. ``runtime`` (may be None) receives a
    decision and an outcome per step attempt, and one per approval. ``checkpoint_manager``
    makes plan runs durable (see :meth:`execute_plan`); without one nothing is written.
    """

    def __init__(
        self,
        runtime: RunRecorder | None,
        llm: LLMProvider | None = None,
        tools: list[Tool] | None = None,
        tool_executor: Callable[[ToolCall], Any] | None = None,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        judge: HybridJudge | None = None,
        config: ExecutorConfig | None = None,
        approval_callback: ApprovalCallback | None = None,
        *,
        graphs: Mapping[str, SubGraph] | None = None,
        checkpoint_manager: CheckpointManager | None = None,
    ) -> None:
        self.runtime = runtime
        self.checkpoint_manager = checkpoint_manager
        self.worker = WorkerNode(llm, tools, tool_executor, functions, graphs, runtime)
        self.judge = judge if judge is not None else HybridJudge()
        self.config = config if config is not None else ExecutorConfig()
        self.approval_callback = approval_callback

    async def execute_plan(
        self,
        plan: Plan,
        goal: Goal,
        context: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        force: bool = False,
        max_tokens: int | None = None,
        agent_id: str | None = None,
        force_restart: bool = False,
    ) -> PlanExecutionResult:
        """Run ``plan`` until every step is done or something stops it.

        The plan is copied, never changed in place; the result carries the updated copy.
        Steps already completed keep their results and do not run again, so passing
        ``result.plan`` back continues a plan (after an approval was given, say); steps
        left failed, in progress or awaiting approval start afresh. The run context is
        ``plan.context`` updated by ``context``, plus each completed step's outputs under
        its id.

        A ready step that requires approval is first put to ``approval_callback``:
        approve runs it; modify changes its inputs / action and runs it; reject marks it
        rejected and skips every step that depends on it, and the rest continues; abort
        stops the plan (``aborted``). Without a callback the step waits and the plan ends
        ``awaiting_approval`` once nothing else can run. A callback that raises or answers
        with something invalid ends the plan ``failed``.

        Every attempt is judged: accept completes the step; retry runs it again (up to
        ``max_retries_per_step``, else ``failed``); replan ends ``needs_replan`` and
        escalate ``needs_escalation``, with the judge's feedback. When the plan stops,
        steps already running finish and are judged, and no new step starts. Otherwise the
        plan ends ``completed``, or ``rejected`` if any step was rejected.

        ``max_tokens``: once the plan's steps and judgments used that many tokens, no new
        step starts and the plan ends ``paused`` (feedback ``budget_exhausted``).

        With a checkpoint manager the plan run is durable under ``run_id`` (generated if
        not given): a checkpoint after each accepted step (the plan with its step
        statuses, attempts and results, the run context, the revision). Calling again
        with the run id of an unfinished run continues it from its latest checkpoint
        (the ``plan`` given must be the same plan, else ``GraphChangedError`` unless
        ``force``; ``context`` must be the same or ``None``, else ``RunConflictError``);
        a completed run returns its stored result. Pause and cancel requests are honoured
        before a new step starts (``paused`` / ``cancelled``). ``result.run_status`` says
        what the run is left as: outcomes that wait for someone (approval, replanning,
        escalation) leave it paused, an abort cancels it. Step functions reach the run's
        effects ledger through ``ctx.effect`` (:mod:`framework.graph.step_context`); a step
        whose in-doubt effect was refused (``in_doubt_effects="raise"``) fails the plan.

        Raises GraphValidationError for an invalid plan and PlanExecutionError when a
        context key has the name of a step. A run whose record says it progressed but whose
        checkpoints are all damaged or gone raises ``CheckpointsLostError``;
        ``force_restart=True`` starts an existing run over from ``context`` instead.
        """
        if problems := plan.validate():
            raise GraphValidationError(problems, subject="plan")
        adapter = PlanAdapter(plan, goal, context)
        spec = RunSpec(
            # Without storage a plan run is named by its runtime, never by the caller.
            run_id=run_id if self.checkpoint_manager is not None else None,
            executor_type=ExecutorType.FLEXIBLE,
            graph_id=plan.id,
            fingerprint=plan.fingerprint(),
            input_data=context,
            force=force,
            agent_id=agent_id,
            budget=RunBudget(max_tokens=max_tokens),
            force_restart=force_restart,
        )
        return await run_durably(adapter, self.checkpoint_manager, spec, self._walk)

    async def _walk(self, run: PlanRun, observer: RunObserver[PlanRun]) -> PlanExecutionResult:
        """Run the steps of a prepared plan run until it is done or stops."""
        if self.runtime is not None:
            # A stored run keeps its id in the decision log too; another run takes the log's.
            reopen = {"run_id": run.run_id} if run.run_id else {}
            started = await call_sync_or_async(
                self.runtime.start_run,
                run.goal.id,
                run.goal.description,
                input_data=dict(run.context),
                **reopen,
            )
            run.run_id = run.run_id or started
        async with anyio.create_task_group() as task_group:
            send, receive = anyio.create_memory_object_stream[_Outcome](
                self.config.max_parallel_steps
            )
            async with send, receive:
                running: set[str] = set()
                while True:
                    if run.stop is None:
                        await run.check_stop()
                    if run.stop is None:
                        await self._launch_ready(run, task_group, send, running)
                    if not running:
                        break
                    outcome = await receive.receive()
                    running.discard(outcome.step.id)
                    self._settle(run, outcome)
                    if outcome.step.status is StepStatus.COMPLETED:
                        await observer.node_done(
                            run,
                            run.last_step,
                            step=len(run.path),
                            stopping=not running and run.plan.is_complete(),
                        )
        return await self._finish(run)

    async def _launch_ready(
        self,
        run: PlanRun,
        task_group: TaskGroup,
        send: MemoryObjectSendStream[_Outcome],
        running: set[str],
    ) -> None:
        for step in run.plan.get_ready_steps():
            if len(running) >= self.config.max_parallel_steps:
                return
            if step.requires_approval and not await self._approve(run, step):
                if run.stop is not None:
                    return
                continue
            step.status = StepStatus.IN_PROGRESS
            running.add(step.id)
            task_group.start_soon(self._run_step, run, step, send)

    async def _approve(self, run: PlanRun, step: PlanStep) -> bool:
        """Ask for approval; True when the step may run now."""
        request = ApprovalRequest(
            step_id=step.id,
            description=step.description,
            action=step.action,
            inputs=step.inputs,
            message=step.approval_message or f"Approve step '{step.id}': {step.description}",
        )
        if self.approval_callback is None:
            step.status = StepStatus.AWAITING_APPROVAL
            run.pending_approvals.append(request)
            return False
        try:
            answer = await call_sync_or_async(self.approval_callback, request)
            if not isinstance(answer, ApprovalResult):
                raise PlanExecutionError(
                    f"approval_callback must return an ApprovalResult, not {type(answer).__name__}"
                )
            if answer.decision is ApprovalDecision.MODIFY:
                _modify(step, answer.modifications)
        except Exception as exc:
            # A broken approval channel must not run the step, nor crash the steps in flight.
            run.stop = PlanStop(
                ExecutionStatus.FAILED,
                f"approval of step '{step.id}' failed: {type(exc).__name__}: {exc}",
                step.id,
            )
            return False
        await self._log_approval(run, step, answer)
        if answer.decision is ApprovalDecision.ABORT:
            run.stop = PlanStop(ExecutionStatus.ABORTED, answer.reason or "aborted by the approver")
            return False
        if answer.decision is ApprovalDecision.REJECT:
            step.status = StepStatus.REJECTED
            step.error = f"rejected: {answer.reason}" if answer.reason else "rejected"
            for dependent in run.plan.dependents(step.id):
                dependent.status = StepStatus.SKIPPED
            return False
        return True

    async def _run_step(
        self, run: PlanRun, step: PlanStep, send: MemoryObjectSendStream[_Outcome]
    ) -> None:
        """Attempt ``step`` until the judge stops asking for retries (or the cap is hit)."""
        while True:
            step.attempts += 1
            decision_id = await self._log_attempt(run, step)
            result = await self.worker.execute(
                step, run.context, step_context=run.step_context(step)
            )
            judgment = await self.judge.evaluate(step, result, run.goal, run.context)
            run.steps_executed += 1
            run.total_tokens += result.tokens_used + judgment.tokens_used
            run.total_cost += result.cost + judgment.cost
            run.total_latency_ms += result.latency_ms
            await self._log_outcome(run, decision_id, result, judgment)
            retry = judgment.action is JudgmentAction.RETRY and not run.effect_refused(step)
            if retry and step.attempts <= self.config.max_retries_per_step:
                await anyio.sleep(self.config.retry_delay)
                continue
            await send.send(_Outcome(step, result, judgment))
            return

    def _settle(self, run: PlanRun, outcome: _Outcome) -> None:
        step, result, judgment = outcome.step, outcome.result, outcome.judgment
        if judgment.action is JudgmentAction.ACCEPT:
            step.status = StepStatus.COMPLETED
            step.result = dict(result.outputs)
            step.error = None
            run.context[step.id] = step.result
            run.path.append(step.id)
            return
        step.status = StepStatus.FAILED
        step.error = result.error or judgment.feedback or judgment.reasoning
        if run.stop is not None:
            return
        if run.effect_refused(step):  # as a graph node's, a refused in-doubt effect is final
            run.stop = PlanStop(ExecutionStatus.FAILED, step.error, step.id)
            return
        feedback = judgment.feedback or judgment.reasoning
        if judgment.action is JudgmentAction.RETRY:
            feedback = (
                f"step '{step.id}' still failing after {step.attempts} attempts "
                f"(max_retries_per_step={self.config.max_retries_per_step}): {step.error}"
            )
        run.stop = PlanStop(_STOP_FOR[judgment.action], feedback, step.id)

    async def _finish(self, run: PlanRun) -> PlanExecutionResult:
        result = run.result()
        reason = result.feedback or str(result.status)
        await run.observer.stopped(
            run, run.last_step, result.run_status or RunStatus.FAILED, reason
        )
        await self._record(
            run,
            "end_run",
            success=result.status is ExecutionStatus.COMPLETED,
            narrative=f"plan '{run.plan.id}' {result.status}"
            + (f": {result.feedback}" if result.feedback else ""),
            output_data=result.results,
            status=result.run_status,
        )
        return result

    # --- decision log -------------------------------------------------------------------

    async def _record(self, run: PlanRun, method: str, /, *args: Any, **kwargs: Any) -> Any:
        """Call ``method`` of the runtime (sync or async) for this run, if it is logged."""
        if self.runtime is None or run.run_id is None:
            return None
        return await call_sync_or_async(getattr(self.runtime, method), run.run_id, *args, **kwargs)

    async def _log_attempt(self, run: PlanRun, step: PlanStep) -> Any:
        return await self._record(
            run,
            "decide",
            node_id=step.id,
            intent=step.description or f"run step '{step.id}'",
            options=[str(step.action.action_type)],
            chosen=str(step.action.action_type),
            reasoning=f"attempt {step.attempts} of at most {step.max_retries + 1}",
        )

    async def _log_outcome(
        self, run: PlanRun, decision_id: Any, result: StepExecutionResult, judgment: Judgment
    ) -> None:
        await self._record(
            run,
            "record_outcome",
            decision_id,
            success=result.success,
            result=result.outputs if result.success else result.error,
            summary=f"judged {judgment.action}: {judgment.reasoning}",
            tokens_used=result.tokens_used + judgment.tokens_used,
            latency_ms=result.latency_ms,
        )

    async def _log_approval(self, run: PlanRun, step: PlanStep, answer: ApprovalResult) -> None:
        await self._record(
            run,
            "decide",
            node_id=step.id,
            intent=f"approve step '{step.id}'",
            options=[str(decision) for decision in ApprovalDecision],
            chosen=str(answer.decision),
            reasoning=answer.reason,
        )


def _modify(step: PlanStep, modifications: dict[str, dict[str, Any]]) -> None:
    try:
        action = ActionSpec.model_validate(
            {**step.action.model_dump(), **modifications.get("action", {})}
        )
    except ValidationError as exc:
        raise PlanExecutionError(f"modified action of step '{step.id}' is invalid: {exc}") from None
    step.action = action
    step.inputs = {**step.inputs, **modifications.get("inputs", {})}
