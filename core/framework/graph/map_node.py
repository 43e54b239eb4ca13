"""The ``map`` node: a function over every element of a list, as a durable batch of the run.

A map node reads the list in its first input key and runs its function (the one its
``function`` names, called with the element, and with the item's
:class:`~framework.batch.ItemContext` as ``ctx`` when it has a parameter of that name; sync
or async) on each element as one item
of a :class:`~framework.batch.BatchRunner` batch through the run's checkpoint manager.
The batch's run id is the graph run's with the node and its visit
(:func:`~framework.batch.child_run_id`), so a crash inside the map resumes at
the item frontier: finished elements are not run again. Elements are retried as batch
items (``max_retries + 1`` attempts); one that still fails does not fail the node. The
node's output, under its first output key, is ``{"results": [...], "failed": [...]}``:
the results in the list's order (``None`` where an element failed), and each failure's
``index`` and ``error``. The node fails only when the batch cannot complete (paused,
stopped, or too many failures).

A sub-graph per element: register ``graph_per_item(executor, subgraph, input_key=...)``
(:mod:`framework.graph.graph_items`) as the map node's function; each element then runs
the sub-graph as a child run of its own, resumed inside after a crash.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

from framework._callables import call_sync_or_async
from framework.batch import BatchConfig, BatchRunner, ItemContext, child_run_id
from framework.durable import CheckpointManager
from framework.graph.node import NodeContext, NodeResult
from framework.schemas.item import ItemStatus
from framework.schemas.run import RunStatus

__all__ = ["MapNode"]


class MapNode:
    """Carries out a ``map`` node with ``func`` through ``manager`` (in memory if ``None``)."""

    def __init__(self, func: Callable[..., Any], manager: CheckpointManager | None) -> None:
        self.func = func
        self.manager = manager
        try:
            self._takes_ctx = "ctx" in inspect.signature(func).parameters
        except (TypeError, ValueError):
            self._takes_ctx = False

    async def execute(self, ctx: NodeContext) -> NodeResult:
        spec = ctx.node_spec
        source = spec.input_keys[0]
        values = ctx.inputs.get(source)
        if not isinstance(values, list):
            found = type(values).__name__
            return NodeResult(
                success=False,
                error=f"TypeError: map node '{spec.id}' needs a list in {source!r}, not {found}",
            )
        started = time.perf_counter()
        if self.manager is not None:
            result = await self._mapped(self.manager, ctx, values)
        else:
            async with CheckpointManager("memory://") as manager:
                result = await self._mapped(manager, ctx, values)
        latency = int((time.perf_counter() - started) * 1000)
        return result.model_copy(update={"latency_ms": latency})

    async def _mapped(
        self, manager: CheckpointManager, ctx: NodeContext, values: list[Any]
    ) -> NodeResult:
        spec = ctx.node_spec
        run_id = child_run_id(ctx.run_id or "map", f"{spec.id}@{ctx.visit}")
        config = BatchConfig(id_key="index", max_attempts=spec.max_retries + 1)
        items = [{"index": index, "value": value} for index, value in enumerate(values)]
        result = await BatchRunner(manager, config).run(run_id, items, self._element)
        if result.status is not RunStatus.COMPLETED:
            ended = f"{result.status.value}: {result.reason}"
            return NodeResult(success=False, error=f"MapError: the map of '{spec.id}' is {ended}")
        results: list[Any] = [None] * len(values)
        failed: list[dict[str, Any]] = []
        for item in await manager.storage.alist_items(run_id):
            index = item.input["index"]
            if item.status is ItemStatus.COMPLETED:
                results[index] = item.result
            elif item.status is ItemStatus.FAILED:
                error = item.last_error
                why = "" if error is None else f"{error.type}: {error.message}"
                failed.append({"index": index, "error": why})
        usage = result.counts.usage
        return NodeResult(
            success=True,
            output={spec.output_keys[0]: {"results": results, "failed": failed}},
            tokens_used=usage.tokens_in + usage.tokens_out,
            cost=usage.cost,
        )

    async def _element(self, item: dict[str, Any], ctx: ItemContext) -> Any:
        if self._takes_ctx:
            return await call_sync_or_async(self.func, item["value"], ctx)
        return await call_sync_or_async(self.func, item["value"])
