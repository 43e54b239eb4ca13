"""Shared builders for the durable-execution tests: graphs whose nodes log their calls.

Imported by name (this folder is on ``sys.path`` while its tests run); the name is unique
among the test folders so no other helper module can shadow it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from framework.graph import EdgeSpec, GraphSpec
from framework.graph.checkpoint_manager import CheckpointManager
from framework.graph.executor import ExecutionResult, GraphExecutor, RetryPolicy
from framework.graph.goal import Goal
from framework.graph.node import NodeResult, NodeSpec
from framework.storage.backend import StorageBackend

GOAL = Goal(id="goal", name="Durable goal", description="Exercise durable runs.")
TOKENS_PER_NODE = 10


class Crash(BaseException):
    """A simulated process crash: like a real one, nothing in the framework catches it."""


def chain(length: int, **fields: Any) -> GraphSpec:
    """``n1 -> n2 -> ... -> nN``; node ``ni`` reads all of memory and writes key ``ni``."""
    ids = [f"n{i}" for i in range(1, length + 1)]
    return GraphSpec(
        id="chain",
        entry_node=ids[0],
        nodes=[NodeSpec(id=i, name=i, description=f"node {i}", output_keys=[i]) for i in ids],
        edges=[EdgeSpec(id=f"{a}-{b}", source=a, target=b) for a, b in itertools.pairwise(ids)],
        **fields,
    )


class NodeLog:
    """Node functions that record every call and can crash or fail on demand.

    Node ``ni`` returns ``"ni(<value of the previous node>)"`` (the input ``seed`` for
    the first), costs ``TOKENS_PER_NODE`` tokens, and appends its id to :attr:`calls`.
    ``crash_at`` makes that node raise :class:`Crash` (once); ``fail_at`` makes it fail
    every attempt until cleared.
    """

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.crash_at: str | None = None
        self.fail_at: str | None = None

    def function(self, node_id: str, previous: str | None) -> Callable[..., NodeResult]:
        def run(**memory: Any) -> NodeResult:
            if self.crash_at == node_id:
                self.crash_at = None
                raise Crash(node_id)
            self.calls.append(node_id)
            if self.fail_at == node_id:
                return NodeResult(success=False, error=f"{node_id} is broken", tokens_used=1)
            before = memory.get(previous) if previous else memory.get("seed")
            return NodeResult(
                success=True,
                output={node_id: f"{node_id}({before})"},
                tokens_used=TOKENS_PER_NODE,
                cost=0.5,
            )

        return run

    def register(self, executor: GraphExecutor, graph: GraphSpec) -> GraphExecutor:
        previous: str | None = None
        for node in graph.nodes:
            executor.register_function(node.id, self.function(node.id, previous))
            previous = node.id
        return executor


def executor_for(
    graph: GraphSpec,
    log: NodeLog,
    manager: CheckpointManager | None = None,
    **kwargs: Any,
) -> GraphExecutor:
    executor = GraphExecutor(
        retry_policy=RetryPolicy(base_delay=0), checkpoint_manager=manager, **kwargs
    )
    return log.register(executor, graph)


def comparable(result: ExecutionResult) -> dict[str, Any]:
    """What must equal between an interrupted-and-resumed run and an uninterrupted one."""
    return result.model_dump(
        include={
            "success",
            "output",
            "path",
            "steps_executed",
            "total_tokens",
            "total_cost",
            "node_visit_counts",
            "error",
            "run_status",
        }
    )


def kinds(storage: StorageBackend, run_id: str) -> list[str]:
    """The kinds of the run's stored checkpoints, oldest first."""
    return [str(meta.kind) for meta in storage.list_checkpoints(run_id)]


RECEIPT = {"id": "ch_1", "at": datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC), "parts": (1, 2)}


class Payments:
    """A payment service that records each call and the idempotency key it came with.

    ``crash_inside`` kills the "process" during the next charge, after the service was
    called, so the effect is left in doubt.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[int, str | None]] = []
        self.crash_inside = False

    def charge(self, amount: int, *, idempotency_key: str | None = None) -> dict[str, Any]:
        self.calls.append((amount, idempotency_key))
        if self.crash_inside:
            self.crash_inside = False
            raise Crash("died while charging")
        return dict(RECEIPT)

    async def acharge(self, amount: int, idempotency_key: str) -> dict[str, Any]:
        return self.charge(amount, idempotency_key=idempotency_key)
