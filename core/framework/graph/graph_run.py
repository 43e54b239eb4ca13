"""The state of a graph run at a node boundary, the result of a run, and what a graph
checkpoint holds.

:class:`RunState` is what the executor keeps between nodes and what a checkpoint stores.
It converts to and from the *session state* dict that a paused :class:`ExecutionResult`
hands back to the caller, so a run can be continued later (in another process) exactly
where it stopped. :class:`NodeOutcome` is what one node visit produced, and
:func:`conclude` records it in the state and moves the state on.
:class:`GraphAdapter` tells :func:`~framework.durable.run_durably` how a graph run starts,
resumes from a checkpoint and becomes one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from framework.durable import RunObserver
from framework.errors import GraphValidationError, InvalidArgumentError
from framework.graph._transitions import Transition, failure_transition, success_transition
from framework.graph.goal import CriterionResult, Goal, unmet
from framework.graph.node import NodeResult, NodeSpec, NodeType
from framework.graph.shared_memory import SharedMemory
from framework.graph.spec import GraphRoutes, GraphSpec
from framework.llm.provider import LLMProvider
from framework.schemas.checkpoint import (
    CHECKPOINT_SCHEMA_VERSION,
    Checkpoint,
    CheckpointKind,
    ExecutorType,
)
from framework.schemas.clock import utc_now
from framework.schemas.run import RunStatus

__all__ = [
    "SESSION_STATE_KEYS",
    "ExecutionResult",
    "GraphAdapter",
    "NodeOutcome",
    "RunState",
    "conclude",
]

SESSION_STATE_KEYS = (
    "run_id",
    "memory",
    "paused_at",
    "resume_from",
    "execution_path",
    "pending_input",
    "visit_counts",
    "retry_counts",
    "steps_executed",
    "total_tokens",
    "total_cost",
    "total_latency_ms",
)


class RunState(BaseModel):
    """A run between two nodes; its counters and totals cover all of the run's calls."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    run_id: str = ""
    """The run's id (empty until the run is named)."""
    memory: dict[str, Any] = Field(default_factory=dict)
    """The shared memory: the input, every completed node's output, and ``last_error``
    after a node failed."""
    current_node: str | None = None
    """The node that runs next; ``None`` once the run has nothing left to run."""
    paused_at: str | None = None
    """Where the run paused, if it did: the pause node that completed, or the node that
    waits (for input, after a pause request or a spent budget); ``None`` while running."""
    pending_input: dict[str, Any] = Field(default_factory=dict)
    """What ``current_node`` receives from the edge that led to it."""
    execution_path: list[str] = Field(default_factory=list)
    """The nodes that completed, in order (a failed node is not in it)."""
    visit_counts: dict[str, int] = Field(default_factory=dict)
    """How many times each node was executed, whatever the outcome."""
    retry_counts: dict[str, int] = Field(default_factory=dict)
    """Retries used per node."""
    steps_executed: int = Field(default=0, ge=0)
    """Node executions so far (what the graph's ``max_steps`` limits)."""
    total_tokens: int = Field(default=0, ge=0)
    """Tokens spent by every node attempt and every LLM routing decision."""
    total_cost: float = Field(default=0.0, ge=0)
    """Cost of every node attempt, in the providers' currency."""
    total_latency_ms: int = Field(default=0, ge=0)
    """Time spent in node attempts."""

    def to_session_state(self) -> dict[str, Any]:
        """This state as a session-state dict (keys :data:`SESSION_STATE_KEYS`).

        Containers are copied one level deep, so later runs do not change a handed-out
        session state; memory values themselves are shared, not deep-copied.
        """
        return {
            "run_id": self.run_id,
            "memory": dict(self.memory),
            "paused_at": self.paused_at,
            "resume_from": self.current_node,
            "execution_path": list(self.execution_path),
            "pending_input": dict(self.pending_input),
            "visit_counts": dict(self.visit_counts),
            "retry_counts": dict(self.retry_counts),
            "steps_executed": self.steps_executed,
            "total_tokens": self.total_tokens,
            "total_cost": self.total_cost,
            "total_latency_ms": self.total_latency_ms,
        }

    @classmethod
    def from_session_state(cls, session_state: Mapping[str, Any]) -> RunState:
        """Rebuild a state from a session-state dict.

        Every key is optional: a dict holding only ``memory``, ``paused_at``,
        ``resume_from`` and ``execution_path`` resumes with zero counters and totals, and
        without ``resume_from`` the run starts at the graph's entry node. Unknown keys are
        ignored. Raises :class:`GraphValidationError` (subject ``session state``) naming
        every malformed key.
        """
        if not isinstance(session_state, Mapping):
            raise GraphValidationError(
                [f"expected a dict, got {type(session_state).__name__}"], subject="session state"
            )
        values = {
            key: session_state[key]
            for key in SESSION_STATE_KEYS
            if key != "resume_from" and session_state.get(key) is not None
        }
        values["current_node"] = session_state.get("resume_from")
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = [f"{_session_key(error['loc'])}: {error['msg']}" for error in exc.errors()]
            raise GraphValidationError(problems, subject="session state") from None

    @classmethod
    def starting(
        cls,
        graph: GraphSpec,
        input_data: Mapping[str, Any],
        session_state: Mapping[str, Any] | None,
    ) -> tuple[RunState, str | None]:
        """The state a run of ``graph`` starts (or continues) in, and where it resumed.

        From ``session_state`` (or nothing: the entry node) with ``input_data`` merged into
        memory; the second value is the node a session state resumes at, else ``None``.
        """
        state = cls.from_session_state(session_state or {})
        resumed_at = state.current_node if session_state is not None else None
        state.current_node = state.current_node or graph.entry_node
        state.paused_at = None
        if graph.get_node(state.current_node) is None:
            problem = f"resume_from '{state.current_node}' is not a node of graph '{graph.id}'"
            raise GraphValidationError([problem], subject="session state")
        state.memory.update(input_data)
        return state, resumed_at

    @property
    def last_node(self) -> str | None:
        """The node completed last, if any."""
        return self.execution_path[-1] if self.execution_path else None

    def to_checkpoint(self, last_node: str | None = None) -> Checkpoint:
        """This state as an unnumbered graph checkpoint taken after ``last_node``.

        The checkpoint manager gives it its seq and id when it is committed. Containers
        are copied, so the running executor's later changes do not reach it. Built
        without validation, every field given: the executor's own state already has the
        checkpoint's types, and validating a long path and visit counts (or looking up
        default factories) at every node would cost more than storing them.
        """
        return Checkpoint.model_construct(
            schema_version=CHECKPOINT_SCHEMA_VERSION,
            id="unnumbered",
            run_id=self.run_id,
            seq=None,
            kind=CheckpointKind.NODE_COMPLETE,
            created_at=utc_now(),
            executor_type=ExecutorType.GRAPH,
            current_node_id=last_node,
            current_step_id=None,
            next_node_id=self.current_node,
            pending_input=dict(self.pending_input),
            memory_snapshot=dict(self.memory),
            execution_path=list(self.execution_path),
            step_number=self.steps_executed,
            visit_counts=dict(self.visit_counts),
            retry_counts=dict(self.retry_counts),
            total_tokens=self.total_tokens,
            total_cost=self.total_cost,
            total_latency_ms=self.total_latency_ms,
            graph_fingerprint=None,
            plan_state=None,
            context={},
            metadata={},
            parent_run_id=None,
            parent_checkpoint_id=None,
        )

    @classmethod
    def from_checkpoint(cls, cp: Checkpoint) -> RunState:
        """The state a graph checkpoint was taken in; the run continues at its next node."""
        return cls(
            run_id=cp.run_id,
            memory=dict(cp.memory_snapshot),
            current_node=cp.next_node_id,
            pending_input=dict(cp.pending_input),
            execution_path=list(cp.execution_path),
            visit_counts=dict(cp.visit_counts),
            retry_counts=dict(cp.retry_counts),
            steps_executed=cp.step_number,
            total_tokens=cp.total_tokens,
            total_cost=cp.total_cost,
            total_latency_ms=cp.total_latency_ms,
        )


async def conclude(
    graph: GraphRoutes,
    spec: NodeSpec,
    outcome: NodeOutcome,
    state: RunState,
    memory: SharedMemory,
    llm: LLMProvider | None,
) -> str | None:
    """Record a node's outcome in ``state`` and move it on; return the run's error if any."""
    result = outcome.result
    state.total_tokens += result.tokens_used
    state.total_cost += result.cost
    state.total_latency_ms += result.latency_ms
    if result.success:
        keys = spec.output_keys
        memory.update({k: v for k, v in result.output.items() if not keys or k in keys})
        state.execution_path.append(spec.id)
        state.memory = memory.read_all()
        outcome.transition = await success_transition(
            graph, spec.id, result.output, state.memory, chosen=result.next_node, llm=llm
        )
    else:
        failure = {"node_id": spec.id, "error": result.error, "attempts": outcome.attempts}
        memory.write("last_error", failure)
        state.memory = memory.read_all()
        handled = failure_transition(graph, spec.id, failure, state.memory)
        if handled is None:
            return f"node '{spec.id}' failed after {outcome.attempts} attempts: {result.error}"
        outcome.transition = handled
    state.total_tokens += outcome.transition.tokens_used
    if outcome.transition.error is not None:
        return outcome.transition.error
    state.current_node = outcome.transition.target
    state.pending_input = dict(outcome.transition.pending_input)
    return None


def _session_key(loc: tuple[int | str, ...]) -> str:
    """The session-state key path of a validation error location."""
    parts = ["resume_from" if part == "current_node" else str(part) for part in loc]
    return ".".join(parts) or "value"


@dataclass
class NodeOutcome:
    """One node visit: its final result (totals over all attempts) and where the run goes."""

    node_id: str
    result: NodeResult
    attempts: int = 1
    transition: Transition = field(default_factory=Transition)
    checkpoint_requests: list[dict[str, Any]] = field(default_factory=list)


class ExecutionResult(BaseModel):
    """The result of one ``GraphExecutor.execute`` call.

    A paused run has ``success=True``, ``paused_at`` and ``pause_reason`` set and a
    ``session_state``; a completed one has ``success=True`` and neither; a failed or
    cancelled one has ``success=False`` and an ``error``. A run whose nodes all completed
    but whose final memory misses a success criterion of the goal has failed, its error
    naming the criterion. Counters and totals cover all of the run's calls, not only this
    one.
    """

    model_config = ConfigDict(use_attribute_docstrings=True)

    success: bool
    """Whether the run completed or paused (``False``: it failed or was cancelled)."""
    output: dict[str, Any] = Field(default_factory=dict)
    """The final shared memory."""
    error: str | None = None
    """Why the run failed or was cancelled."""
    steps_executed: int = 0
    """Node executions."""
    total_tokens: int = 0
    """Tokens spent by nodes and LLM routing decisions."""
    total_cost: float = 0.0
    """Cost of the nodes, in the providers' currency."""
    total_latency_ms: int = 0
    """Time spent in nodes."""
    path: list[str] = Field(default_factory=list)
    """The nodes that completed, in order."""
    paused_at: str | None = None
    """Where the run paused: the pause node that completed, or the node that waits."""
    pause_reason: str | None = None
    """Why it paused: a pause node, a node waiting for human input, a pause request's
    reason, or ``budget_exhausted``."""
    session_state: dict[str, Any] | None = None
    """A paused run's state: pass it back to ``execute`` to continue a run that is not
    stored (a stored run continues by its ``run_id``). ``None`` unless paused."""
    run_id: str = ""
    """The run's id."""
    node_visit_counts: dict[str, int] = Field(default_factory=dict)
    """How many times each node was executed, whatever the outcome."""
    run_status: RunStatus | None = None
    """Where the run stands after this call: completed, paused, failed or cancelled, as its
    stored record says when the run is checkpointed (``None`` only in a result built by
    hand)."""
    criteria: list[CriterionResult] = Field(default_factory=list)
    """Each success criterion of the goal, met or not as checked on the final memory, in
    the goal's order; a criterion without an expression is listed as not checked. Empty
    until the run's nodes have all completed (and without a goal)."""

    @classmethod
    def completed(cls, state: RunState, goal: Goal | None = None) -> ExecutionResult:
        """The run's nodes all completed: it completed if ``goal``'s criteria are met."""
        criteria = goal.check_criteria(state.memory) if goal is not None else []
        if error := unmet(criteria):
            return cls(
                success=False,
                error=error,
                run_status=RunStatus.FAILED,
                criteria=criteria,
                **_summary(state),
            )
        return cls(
            success=True, run_status=RunStatus.COMPLETED, criteria=criteria, **_summary(state)
        )

    @classmethod
    def failed(cls, state: RunState, error: str) -> ExecutionResult:
        return cls(success=False, error=error, run_status=RunStatus.FAILED, **_summary(state))

    @classmethod
    def cancelled(cls, state: RunState, reason: str) -> ExecutionResult:
        """The run was cancelled between nodes, before ``state.current_node`` ran."""
        return cls(
            success=False,
            error=f"run cancelled: {reason}",
            run_status=RunStatus.CANCELLED,
            **_summary(state),
        )

    @classmethod
    def paused(cls, state: RunState, paused_at: str, reason: str) -> ExecutionResult:
        """Pause ``state`` at ``paused_at``; it resumes at ``state.current_node``."""
        state.paused_at = paused_at
        return cls(
            success=True,
            run_status=RunStatus.PAUSED,
            paused_at=paused_at,
            pause_reason=reason,
            session_state=state.to_session_state(),
            **_summary(state),
        )


def _summary(state: RunState) -> dict[str, Any]:
    return {
        "output": dict(state.memory),
        "steps_executed": state.steps_executed,
        "total_tokens": state.total_tokens,
        "total_cost": state.total_cost,
        "total_latency_ms": state.total_latency_ms,
        "path": list(state.execution_path),
        "run_id": state.run_id,
        "node_visit_counts": dict(state.visit_counts),
    }


class GraphAdapter:
    """What a graph checkpoint holds, for :func:`~framework.durable.run_durably`.

    A run with no checkpoint starts from ``session_state`` (or the entry node) with the
    input and then ``resume_input`` merged into memory; one with a checkpoint continues
    from it, with ``resume_input`` merged into memory (it answers a human_input node
    waiting for it, so it must hold each of the node's output keys: else
    :class:`InvalidArgumentError` before the run goes on) — ``session_state`` must then be
    ``None``: the stored state is the truth. After :meth:`start` or :meth:`resume`,
    ``human_input`` is what the walk offers a human_input node and ``resumed_at`` the node
    a session state or checkpoint resumed at. A run that completed earlier is returned
    with ``goal``'s criteria checked on its final memory. Built before anything is stored,
    so a malformed session state fails first.
    """

    def __init__(
        self,
        graph: GraphSpec,
        session_state: Mapping[str, Any] | None,
        resume_input: Mapping[str, Any] | None,
        goal: Goal | None = None,
    ) -> None:
        self.graph = graph
        self.goal = goal
        self.session_state = session_state
        self.resume_input = dict(resume_input or {})
        self.human_input: dict[str, Any] = {}
        self.resumed_at: str | None = None
        RunState.starting(graph, {}, session_state)

    def start(self, input_data: dict[str, Any], run: RunObserver[RunState]) -> RunState:
        self.human_input = {**input_data, **self.resume_input}
        state, self.resumed_at = RunState.starting(self.graph, self.human_input, self.session_state)
        state.run_id = run.run_id or state.run_id
        return state

    def resume(self, checkpoint: Checkpoint, run: RunObserver[RunState]) -> RunState:
        if self.session_state is not None:
            raise GraphValidationError(
                [
                    f"run {checkpoint.run_id!r} continues from its stored checkpoint; pass "
                    "run_id without session_state"
                ],
                subject="session state",
            )
        state = RunState.from_checkpoint(checkpoint)
        self.resumed_at = state.current_node
        self._check_answer(checkpoint.run_id, state.current_node)
        self.human_input = dict(self.resume_input)
        state.memory.update(self.human_input)
        return state

    def finished(self, checkpoint: Checkpoint) -> ExecutionResult:
        return ExecutionResult.completed(RunState.from_checkpoint(checkpoint), self.goal)

    def _check_answer(self, run_id: str, node_id: str | None) -> None:
        """Refuse an answer to the human_input node ``node_id`` that lacks a key it expects."""
        node = self.graph.get_node(node_id) if self.resume_input and node_id else None
        if node is None or node.node_type is not NodeType.HUMAN_INPUT:
            return
        if missing := [key for key in node.output_keys if key not in self.resume_input]:
            raise InvalidArgumentError(
                f"run {run_id!r} waits at node '{node.id}' for an answer with "
                f"{_listed(node.output_keys)}; the answer given lacks {_listed(missing)} "
                f"(it has {_listed(list(self.resume_input))}); resume it again with every key"
            )

    def snapshot(self, state: RunState, after: str | None) -> Checkpoint:
        return state.to_checkpoint(after)


def _listed(keys: list[str]) -> str:
    return ", ".join(map(repr, keys))
