"""GraphExecutor: walks a graph node by node, from its entry node to completion or a pause.

One step of a run: resolve the node's inputs, run it (retrying failed attempts with
backoff), write its output to shared memory, decide the next node, then continue. The run
between two nodes is fully described by a :class:`RunState`. Subclasses may plug in at two
hooks: :meth:`GraphExecutor.before_node` (between nodes) and :meth:`GraphExecutor.after_node`
(after a node finished and the next node was decided). Every run goes through
:func:`~framework.durable.run_durably`: the walk reports to a run observer between nodes,
which, given a checkpoint manager, checkpoints at those same two points under a lease and
honours pause and cancel requests; without one it writes nothing.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import anyio

from framework.durable import (
    BUDGET_EXHAUSTED,
    CheckpointManager,
    EffectLedger,
    RunObserver,
    RunSpec,
    run_durably,
)
from framework.errors import GraphValidationError
from framework.graph._edges import EdgeCondition
from framework.graph._implementations import NodeImplementations
from framework.graph._node_inputs import human_answer, resolve_inputs
from framework.graph._spend import count_interrupted_spend, journaled
from framework.graph.goal import Goal
from framework.graph.graph_run import (
    ExecutionResult,
    GraphAdapter,
    NodeOutcome,
    RunState,
    conclude,
)
from framework.graph.node import (
    NodeContext,
    NodeProtocol,
    NodeResult,
    NodeSpec,
    NodeType,
)
from framework.graph.retry import RetryPolicy, announce_retry, is_retryable
from framework.graph.shared_memory import SharedMemory
from framework.graph.spec import GraphSpec, PreparedGraph
from framework.llm.provider import LLMProvider, Tool
from framework.runtime.recorder import DecisionLog, RunRecorder
from framework.schemas.checkpoint import ExecutorType
from framework.schemas.control import ControlAction
from framework.schemas.run import RunBudget, RunStatus

__all__ = [
    "ApprovalCallback",
    "ExecutionResult",
    "GraphExecutor",
    "NodeOutcome",
    "RetryPolicy",
    "RunRecorder",
    "RunState",
]

ApprovalCallback = Callable[[NodeSpec, dict[str, Any]], Any]
"""``callback(node_spec, inputs) -> dict | None`` (sync or async) for human_input nodes."""


class GraphExecutor:
    """Runs graphs; one executor may run many graphs, one after another or concurrently.

    Semantics of a run:

    - Function nodes (and function routers) run the callable registered with
      :meth:`register_function` under their ``spec.function`` name when they name one
      (never one that merely has the node's id), else under their node id;
      :meth:`register_node` (or ``node_registry``) replaces a node's implementation.
    - A node's inputs are its ``input_keys`` taken from the input its incoming edge mapped,
      else from memory (all of memory when it declares none). It sees memory through a view
      that reads its input keys and writes its output keys (any key when none declared).
    - A failed attempt (a failed NodeResult or an exception) is retried up to
      ``spec.max_retries`` times with the retry policy's backoff, if ``spec.retry_on``
      allows. Tokens, cost and latency of every attempt count in the totals.
    - On success the output (only declared output keys, if any) is written to memory and
      the node is appended to the path. On final failure memory gets ``last_error =
      {"node_id", "error", "attempts"}`` and an ``on_failure`` edge, if any, is followed
      (its input mapping reads that dict as the node's output); without one the run fails
      and the node is not in the path.
    - A human_input node's output is the human's input: from ``approval_callback`` if it
      returns a dict, else from this call's ``input_data`` if that holds every output key
      (a node without output keys takes all of ``input_data`` when the call resumes at
      it); else the run pauses there and resumes at the same node.
    - After a node in ``graph.pause_nodes`` completes and its next node is decided, the
      run pauses and resumes at that next node; a resumed run ends exactly as an
      uninterrupted one would.
    - A budget (``max_tokens`` / ``max_cost`` of :meth:`execute`) that is reached pauses
      the run before its next node with reason ``budget_exhausted``.
    - With a ``checkpoint_manager`` every run is durable: see :meth:`execute`. Without one
      nothing is written anywhere.
    """

    def __init__(
        self,
        runtime: RunRecorder | None = None,
        llm: LLMProvider | None = None,
        tools: list[Tool] | None = None,
        tool_executor: Callable[..., Any] | None = None,
        node_registry: Mapping[str, NodeProtocol] | None = None,
        approval_callback: ApprovalCallback | None = None,
        *,
        retry_policy: RetryPolicy | None = None,
        checkpoint_manager: CheckpointManager | None = None,
    ) -> None:
        self.runtime = runtime
        self.checkpoint_manager = checkpoint_manager
        self.llm = llm
        self.tools = list(tools or [])
        self.tool_executor = tool_executor
        self.approval_callback = approval_callback
        self.retry_policy = retry_policy or RetryPolicy()
        self._log = DecisionLog(runtime)
        self._impls = NodeImplementations(node_registry)

    def register_function(self, key: str, func: Callable[..., Any]) -> None:
        """Register ``func`` under a ``spec.function`` name, or the id of a node naming none."""
        self._impls.register_function(key, func)

    def register_node(self, node_id: str, impl: NodeProtocol) -> None:
        """Carry out node ``node_id`` with ``impl`` instead of the built-in implementation."""
        self._impls.register_node(node_id, impl)

    def validate(self, graph: GraphSpec) -> list[str]:
        """Every problem that stops this executor from running ``graph``; empty if none."""
        problems = graph.validate()
        for node in graph.nodes:
            problems.extend(self._impls.problems(node, self.llm))
        problems.extend(
            f"edge '{edge.id}' is llm_decide but no LLM is configured; pass llm=..."
            for edge in graph.edges
            if edge.condition is EdgeCondition.LLM_DECIDE and self.llm is None
        )
        return problems

    def prepare(self, graph: GraphSpec) -> PreparedGraph:
        """``graph`` validated for this executor and fingerprinted, to run many times.

        Raises :class:`GraphValidationError` listing every problem. Pass the result to
        :meth:`execute` instead of the graph: each run then skips the checks, whose cost
        grows with the graph. It keeps a copy of ``graph``, so later edits of ``graph`` do
        not reach it; prepare again after changing the graph or this executor's functions.
        """
        if problems := self.validate(graph):
            raise GraphValidationError(problems)
        return PreparedGraph.of(graph.model_copy(deep=True))

    async def execute(
        self,
        graph: GraphSpec | PreparedGraph,
        goal: Goal | None = None,
        input_data: Mapping[str, Any] | None = None,
        session_state: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        resume_input: Mapping[str, Any] | None = None,
        force: bool = False,
        max_tokens: int | None = None,
        max_cost: float | None = None,
        agent_id: str | None = None,
        force_restart: bool = False,
    ) -> ExecutionResult:
        """Run ``graph`` from its entry node, or continue a paused run from ``session_state``.

        Memory starts as the session state's memory (or empty) with ``input_data`` and then
        ``resume_input`` (a human's answer to a paused run) merged over it. Raises
        :class:`GraphValidationError` listing every problem (of the graph, and of the
        goal's criteria) before anything runs; every other failure is reported in the
        result, never as success. Once every node is done, the goal's success criteria
        that have an expression are checked on the final memory: the result lists each,
        and one not met fails the run, naming it. A resumed run keeps its
        session state's ``run_id`` (the runtime is asked to reopen it); a new run gets
        ``run_id``, else its id from the runtime, else a random one.

        With a checkpoint manager the run is durable, and ``run_id`` names it in storage:
        a new id starts a run, an unfinished one continues from its latest valid
        checkpoint, a completed one returns its stored result without running anything.
        It raises ``RunConflictError`` (``input_data`` differs from the run's input),
        ``RunCancelledError``, ``GraphChangedError`` (the graph changed; ``force=True``
        continues anyway), ``LeaseHeldError`` (another live process runs it) and
        ``FencedOutError`` (another process took the run over mid-way; this call stopped
        writing). See :mod:`framework.durable._driver` for what each ending records.
        A run whose record says it progressed but whose checkpoints are all damaged or gone
        raises ``CheckpointsLostError``; ``force_restart=True`` starts an existing run over
        from ``input_data`` instead (see :mod:`framework.durable._opening`).
        """
        prepared: PreparedGraph | None = None
        if isinstance(graph, PreparedGraph):
            prepared, problems = graph, []
        else:
            problems = self.validate(graph)
            prepared = None if problems else PreparedGraph.of(graph)
        if problems := [*problems, *(goal.problems() if goal else [])]:
            raise GraphValidationError(problems)
        assert prepared is not None
        adapter = GraphAdapter(prepared.graph, session_state, resume_input, goal)
        spec = RunSpec(
            run_id=run_id,
            executor_type=ExecutorType.GRAPH,
            graph_id=prepared.graph.id,
            fingerprint=prepared.fingerprint,
            input_data=input_data,
            force=force,
            agent_id=agent_id,
            budget=RunBudget(max_tokens=max_tokens, max_cost=max_cost),
            force_restart=force_restart,
        )
        walk = functools.partial(self._walk, prepared, goal, adapter)
        return await run_durably(adapter, self.checkpoint_manager, spec, walk)

    async def _walk(
        self,
        prepared: PreparedGraph,
        goal: Goal | None,
        adapter: GraphAdapter,
        state: RunState,
        run: RunObserver[RunState],
    ) -> ExecutionResult:
        """Run from ``state`` to a stop, reporting it to the runtime and to ``run``.

        A run that storage does not name takes the runtime's id (or a random one).
        """
        graph = prepared.graph
        goal_id = goal.id if goal else graph.goal_id or graph.id
        description = goal.description if goal else graph.description
        human_input = adapter.human_input
        started = await self._log.start_run(goal_id, description, human_input, state.run_id)
        if run.run_id is None:
            state.run_id = started or state.run_id or uuid.uuid4().hex
        result = await self._run(prepared, goal, state, human_input, adapter.resumed_at, run)
        await run.stopped(state, state.last_node, *_ending(result))
        if result.paused_at:
            narrative = f"paused at '{result.paused_at}': {result.pause_reason}"
        else:
            narrative = result.error or f"completed after {result.steps_executed} steps"
        await self._log.end_run(
            state.run_id,
            success=result.success,
            narrative=narrative,
            output_data=result.output,
            status=result.run_status,
        )
        return result

    async def before_node(self, graph: GraphSpec, state: RunState) -> str | None:
        """Hook called between nodes, before ``state.current_node`` runs.

        Return a reason to pause the run there (it resumes at that node), or ``None`` to go
        on; it must not change ``state``. The default always goes on.
        """
        return None

    async def after_node(self, graph: GraphSpec, state: RunState, outcome: NodeOutcome) -> None:
        """Hook called after a node finished and the next node was decided.

        ``state`` is then complete: ``current_node`` is the next node (``None`` once the
        run is complete) with its ``pending_input``, and continuing from it gives the same
        result as not stopping. Not called when the node's failure fails the run. The
        default does nothing.
        """

    async def _run(
        self,
        prepared: PreparedGraph,
        goal: Goal | None,
        state: RunState,
        input_data: dict[str, Any],
        resumed_at: str | None,
        run: RunObserver[RunState],
    ) -> ExecutionResult:
        memory = SharedMemory(state.memory)
        graph, routes = prepared.graph, prepared.routes
        nodes = routes.nodes
        arrival = f"resumed at '{resumed_at}'" if resumed_at else "entry node"
        budget, effects = run.budget, run.effects
        if effects is not None and run.counted_until is not None:
            await count_interrupted_spend(effects, run.counted_until, state)
        # After the first node, node_done records each boundary itself.
        run.boundary(state, state.last_node)
        while state.current_node is not None:
            node_id = state.current_node
            if reason := await self.before_node(graph, state):
                return ExecutionResult.paused(state, node_id, reason)
            if stop := await run.check_control():
                if stop.action is ControlAction.CANCEL:
                    return ExecutionResult.cancelled(state, stop.reason)
                return ExecutionResult.paused(state, node_id, stop.reason)
            if budget.exhausted(state.total_tokens, state.total_cost):
                detail = budget.describe(state.total_tokens, state.total_cost)
                await self._log.report_problem(state.run_id, node_id, detail, severity="warning")
                return ExecutionResult.paused(state, node_id, BUDGET_EXHAUSTED)
            if state.steps_executed >= graph.max_steps:
                limit = f"max_steps ({graph.max_steps}) exceeded at node '{node_id}'"
                return ExecutionResult.failed(state, limit)
            spec = nodes[node_id]
            inputs = resolve_inputs(spec, state.pending_input, state.memory)
            answer = None
            if spec.node_type is NodeType.HUMAN_INPUT:
                try:
                    answer = await human_answer(
                        self.approval_callback, spec, inputs, input_data, resumed_at
                    )
                except Exception as exc:
                    problem = f"approval_callback failed at node '{node_id}': {_describe(exc)}"
                    return ExecutionResult.failed(state, problem)
                if answer is None:
                    reason = f"node '{node_id}' waits for human input"
                    return ExecutionResult.paused(state, node_id, reason)
            state.steps_executed += 1
            state.visit_counts[node_id] = state.visit_counts.get(node_id, 0) + 1
            decision = await self._log.decide(state.run_id, node_id, arrival)
            if answer is not None:
                outcome = NodeOutcome(node_id, NodeResult(success=True, output=answer))
            else:
                outcome = await self._attempt(spec, state, memory, inputs, goal, effects)
            error = await conclude(routes, spec, outcome, state, memory, self.llm)
            result = outcome.result
            await self._log.record_outcome(
                state.run_id,
                decision,
                success=result.success,
                result=result.output,
                summary=result.error or outcome.transition.reason,
                tokens_used=result.tokens_used,
                latency_ms=result.latency_ms,
            )
            if error is not None:
                await self._log.report_problem(state.run_id, node_id, error, severity="error")
                return ExecutionResult.failed(state, error)
            await self.after_node(graph, state, outcome)
            arrival = outcome.transition.reason
            pausing = result.success and node_id in graph.pause_nodes and state.current_node
            await run.node_done(
                state,
                node_id,
                step=state.steps_executed,
                requests=outcome.checkpoint_requests,
                stopping=bool(pausing) or state.current_node is None,
            )
            if pausing:
                reason = f"pause node '{node_id}' completed"
                return ExecutionResult.paused(state, node_id, reason)
        return ExecutionResult.completed(state, goal)

    async def _attempt(
        self,
        spec: NodeSpec,
        state: RunState,
        memory: SharedMemory,
        inputs: dict[str, Any],
        goal: Goal | None,
        effects: EffectLedger | None,
    ) -> NodeOutcome:
        """Run a node, retrying failed attempts as its spec and the retry policy allow."""
        impl = self._impls.for_node(spec, self.checkpoint_manager)
        tokens, cost, latency = 0, 0.0, 0
        attempt = 0
        while True:
            attempt += 1
            # A fresh context per attempt: a failed attempt's checkpoint requests are dropped.
            context = self._context(spec, state, memory, dict(inputs), goal, attempt, effects)
            started = time.perf_counter()
            exception_type: str | None = None
            try:
                result = await impl.execute(context)
                if not isinstance(result, NodeResult):
                    raise TypeError(f"execute() returned {type(result).__name__}, not NodeResult")
            except Exception as exc:
                exception_type = type(exc).__name__
                result = NodeResult(success=False, error=_describe(exc))
            tokens += result.tokens_used
            cost += result.cost
            latency += result.latency_ms or int((time.perf_counter() - started) * 1000)
            error = result.error or "failed without an error message"
            if result.success or attempt > spec.max_retries:
                break
            if not is_retryable(spec, error, exception_type):
                break
            if effects is not None and effects.refused(spec.id):
                break  # an in-doubt effect was refused; another attempt is refused too
            state.retry_counts[spec.id] = state.retry_counts.get(spec.id, 0) + 1
            description = f"attempt {attempt} of node '{spec.id}' failed: {error}"
            await self._log.report_problem(state.run_id, spec.id, description, severity="warning")
            delay = self.retry_policy.delay(attempt)
            announce_retry(spec, attempt, delay, error)
            await anyio.sleep(delay)
        totals = {"tokens_used": tokens, "cost": cost, "latency_ms": latency}
        final = result.model_copy(update={**totals, "error": None if result.success else error})
        return NodeOutcome(spec.id, final, attempt, checkpoint_requests=context.checkpoint_requests)

    def _context(
        self,
        spec: NodeSpec,
        state: RunState,
        memory: SharedMemory,
        inputs: dict[str, Any],
        goal: Goal | None,
        attempt: int,
        effects: EffectLedger | None,
    ) -> NodeContext:
        view = memory.with_permissions(
            read_keys=spec.input_keys or None, write_keys=spec.output_keys or None
        )
        return NodeContext(
            run_id=state.run_id,
            node_id=spec.id,
            node_spec=spec,
            memory=view,
            inputs=inputs,
            llm=journaled(self.llm, effects, spec.id),
            tools=self.tools,
            tool_executor=self.tool_executor,
            goal=goal,
            attempt=attempt,
            effects=effects,
            visit=state.visit_counts.get(spec.id, 1),
        )


def _ending(result: ExecutionResult) -> tuple[RunStatus, str]:
    """The run status a result leaves behind, and why (for the run record)."""
    status = result.run_status or RunStatus.FAILED
    if status is RunStatus.PAUSED:
        return status, result.pause_reason or "paused"
    if status is RunStatus.CANCELLED:
        return status, result.error or "cancelled"
    if status is RunStatus.FAILED:
        return status, result.error or "failed without an error message"
    return status, ""


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
