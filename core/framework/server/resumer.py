"""Runs continued by the server itself, for the agent folders it was given (``--agent``).

A run is continued here only when its record names an agent given to the server: a graph
or plan run through :meth:`AgentRunner.resume`, a batch ``agentgraph batch`` started
through a :class:`~framework.batch.BatchRunner` with the settings its record keeps and the
agent's graph per item, as ``agentgraph resume RUN_ID`` does. Each runs in the server's
task group until it ends, pauses or the server stops (the items or node in flight then
run again on the next resume); it is the run's one writer through its lease, so a second
resume of it anywhere is refused. What went wrong is in the run's record, and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from anyio.abc import TaskGroup

from framework.batch import BatchRunner
from framework.cli.batch_command import BatchSettings
from framework.errors import AgentGraphError
from framework.graph import graph_per_item
from framework.runner import AgentRunner
from framework.schemas.checkpoint import ExecutorType
from framework.schemas.run import RunBudget, RunRecord

__all__ = ["Resumer"]

_LOG = logging.getLogger("framework.server")


class Resumer:
    """Continues runs of the agents in ``agents`` (folders) against ``storage`` (a URL)."""

    def __init__(self, agents: Sequence[Path], storage: str) -> None:
        self.storage = storage
        self.folders: dict[str, Path] = {}
        """The agent folders given, by agent id (their graph's id)."""
        for folder in agents:
            runner = AgentRunner.load(folder, storage=storage, auto_recover=False)
            self.folders[runner.agent_id] = folder.resolve()
            runner.close()
        self.active: set[str] = set()
        """The runs this server is running now."""
        self._group: TaskGroup | None = None

    def attach(self, group: TaskGroup | None) -> None:
        """Run resumes in ``group`` (the server's, while it serves; ``None``: stopped)."""
        self._group = group

    def why_not(self, record: RunRecord) -> str | None:
        """Why this server cannot continue ``record``'s run (``None``: it can)."""
        agent = record.agent_id
        if agent is None or agent not in self.folders:
            named = f" (agent {agent!r})" if agent else ""
            return f"this server was not given the run's agent{named} with --agent"
        if record.executor_type is ExecutorType.BATCH and BatchSettings.of(record) is None:
            return "the batch was started from Python, so how to run its items is not stored"
        if self._group is None:
            return "the server is not serving"
        return None

    def start(
        self,
        record: RunRecord,
        input_data: dict[str, Any] | None = None,
        budget: RunBudget | None = None,
    ) -> None:
        """Continue ``record``'s run in the background (:meth:`why_not` must be ``None``),
        with ``input_data`` for a node waiting for it and ``budget`` replacing the run's,
        as ``agentgraph resume --input / --max-tokens / --max-cost`` do."""
        assert self._group is not None and record.agent_id is not None
        self.active.add(record.run_id)
        folder = self.folders[record.agent_id]
        self._group.start_soon(self._continue, record, folder, input_data, budget or RunBudget())

    async def _continue(
        self,
        record: RunRecord,
        folder: Path,
        input_data: dict[str, Any] | None,
        budget: RunBudget,
    ) -> None:
        run_id = record.run_id
        try:
            runner = AgentRunner.load(folder, storage=self.storage, auto_recover=False)
            try:
                await self._run(runner, record, input_data, budget)
            finally:
                await runner.aclose()
        except AgentGraphError as exc:
            _LOG.warning("run %s could not be continued: %s", run_id, exc)
        except Exception:
            _LOG.exception("run %s stopped on an internal error", run_id)
        finally:
            self.active.discard(run_id)

    @staticmethod
    async def _run(
        runner: AgentRunner,
        record: RunRecord,
        input_data: dict[str, Any] | None,
        budget: RunBudget,
    ) -> None:
        settings = BatchSettings.of(record)
        if settings is None:
            await runner.resume(
                record.run_id, input_data, max_tokens=budget.max_tokens, max_cost=budget.max_cost
            )
            return
        manager = runner.checkpoint_manager
        assert manager is not None, "an agent runner checkpoints unless told not to"
        items = graph_per_item(runner.executor(), runner.graph, runner.goal)
        batches = BatchRunner(manager, settings.config())
        await batches.run(
            record.run_id, None, items, max_tokens=budget.max_tokens, max_cost=budget.max_cost
        )
