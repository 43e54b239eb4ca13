"""A whole graph per batch item: each item runs as a child run with checkpoints of its own.

``BatchRunner(manager).run(run_id, items, graph_per_item(executor, graph))`` runs ``graph``
once per item through ``executor`` (which checkpoints through the same manager), as the
child run :func:`~framework.batch.child_run_id` names: a crash inside a long multi-step item
resumes inside that item, at its next node, when the batch puts the item back; an item whose
child run completed earlier gets that run's stored result without running a node. A child
run that fails or pauses fails the attempt, and the batch retries it (the child resumes at
the node that failed). Each attempt reports the tokens and cost its child run spent during
it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from framework.batch import ItemContext, ItemFunction, child_run_id
from framework.errors import ItemRunError
from framework.graph.executor import GraphExecutor
from framework.graph.goal import Goal
from framework.graph.spec import GraphSpec, PreparedGraph

__all__ = ["graph_per_item"]


def graph_per_item(
    executor: GraphExecutor,
    graph: GraphSpec | PreparedGraph,
    goal: Goal | None = None,
    *,
    input_key: str | None = None,
) -> ItemFunction:
    """The batch function that runs ``graph`` (prepared once here) per item.

    An item that is a mapping is the run's input; any other item is given under
    ``input_key``. The item's result is the child run's final memory.
    """
    prepared = graph if isinstance(graph, PreparedGraph) else executor.prepare(graph)
    manager = executor.checkpoint_manager
    if manager is None:
        raise ValueError("graph_per_item needs an executor with a checkpoint manager")

    async def run_graph(item: Any, ctx: ItemContext) -> dict[str, Any]:
        if isinstance(item, Mapping):
            input_data = dict(item)
        elif input_key is not None:
            input_data = {input_key: item}
        else:
            raise TypeError(
                f"item {ctx.item_id!r} is a {type(item).__name__}, not a mapping; give "
                "graph_per_item an input_key to pass it under"
            )
        run_id = child_run_id(ctx.run_id, ctx.item_id)
        before = await manager.storage.aget_run(run_id)
        spent = (0, 0.0) if before is None else (before.totals.tokens, before.totals.cost)
        result = await executor.execute(prepared, goal, input_data, run_id=run_id)
        ctx.report_usage(
            tokens_in=max(result.total_tokens - spent[0], 0),
            cost=max(result.total_cost - spent[1], 0.0),
        )
        if not result.success or result.paused_at is not None:
            why = result.error or f"paused at {result.paused_at!r}: {result.pause_reason}"
            raise ItemRunError(f"the graph run {run_id!r} of item {ctx.item_id!r}: {why}")
        return result.output

    return run_graph
