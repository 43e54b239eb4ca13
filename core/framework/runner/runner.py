"""AgentRunner: load an agent folder, run it durably, and recover its crashed runs.

An agent folder holds ``agent.json`` (``{"graph": ..., "goal": ..., "tools": [...]}``) and
optionally ``functions.py`` with the Python functions its function nodes and routers name.
Loading fails early: a folder that cannot run (unreadable files, invalid graph, function
nodes without a function) raises :class:`~framework.errors.AgentLoadError` listing every
problem, so a broken agent never starts a run.

The model the agent's LLM nodes ask is the ``llm=`` given to the runner, else the one
``agent.json``'s ``llm`` section names (with ``AGENTGRAPH_LLM_*`` and the ``llm_overrides``
given to :meth:`AgentRunner.load` over it), built on the first run, resume, recover or
:meth:`~AgentRunner.executor` call: describing or validating such an agent needs no key.

Runs are durable by default: every run is checkpointed through a
:class:`~framework.durable.manager.CheckpointManager`, so a run whose process died
is found and continued by the next runner of the same agent (see :meth:`AgentRunner.recover`).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from framework._closing import Closing
from framework.durable.manager import CheckpointManager
from framework.errors import (
    AgentGraphError,
    AgentLoadError,
    RunConflictError,
    RunNotFoundError,
)
from framework.graph.executor import ExecutionResult, GraphExecutor
from framework.llm.llm_config import LLMOverrides, provider_from_config
from framework.llm.provider import LLMProvider, Tool
from framework.runner.description import (
    AgentInfo,
    ValidationResult,
    describe_agent,
    validate_agent,
)
from framework.runner.loader import AgentDefinition, load_definition
from framework.runner.recovery import find_abandoned_runs
from framework.runtime.core import Runtime
from framework.schemas.clock import utc_now
from framework.schemas.config import CheckpointConfig
from framework.schemas.run import RunRecord
from framework.settings import default_storage_url
from framework.settings import home as default_home
from framework.storage.backend import StorageBackend

__all__ = [
    "AgentRunner",
    "RecoverySkipHandler",
    "default_home",
    "default_storage_url",
    "new_run_id",
]

logger = logging.getLogger("framework.runner")

RecoverySkipHandler = Callable[[RunRecord, AgentGraphError], None]
"""``handler(record, error)``: called for an abandoned run that :meth:`recover` could not
continue (another process claimed it first, its graph changed, ...)."""


def new_run_id() -> str:
    """A fresh run id, ``run_<UTC timestamp>_<12 hex digits>``, sortable by start time."""
    return f"run_{utc_now().strftime('%Y%m%dT%H%M%S')}_{uuid.uuid4().hex[:12]}"


class AgentRunner(Closing):
    """Runs one loaded agent; build it with :meth:`load`.

    ``tools`` given here are added to those declared in ``agent.json`` (same name: the one
    given here wins). Each run records its decisions in a
    :class:`~framework.runtime.core.Runtime` under ``storage_path`` (default
    :func:`default_home`).

    Durability: ``storage`` is a :class:`StorageBackend` or a storage URL; without one,
    :func:`default_storage_url` for ``storage_path`` (``$AGENTGRAPH_STORAGE``, else
    ``state.db`` in the runner's home). ``checkpoint_config`` tunes checkpointing;
    ``CheckpointConfig(enabled=False)`` turns durability off entirely: no storage is
    opened, runs are not recorded and cannot be resumed or recovered (a paused run then
    continues only through its result's ``session_state``). Storage is opened on the first
    run, resume or recover, never by :meth:`info` or :meth:`validate`; a URL opened here
    is closed by :meth:`close` / :meth:`aclose`, a backend passed in stays open.

    ``llm`` is the model the agent's nodes ask; without one, the definition's
    (``agent.json``'s ``llm`` section) is built with
    :func:`~framework.llm.llm_config.provider_from_config` when the first run needs it, and
    closed by :meth:`aclose` (a provider passed in stays open).

    With ``auto_recover`` (default) the first :meth:`run` of this runner first calls
    :meth:`recover`.
    """

    def __init__(
        self,
        definition: AgentDefinition,
        *,
        llm: LLMProvider | None = None,
        tools: list[Tool] | None = None,
        tool_executor: Callable[..., Any] | None = None,
        storage_path: str | os.PathLike[str] | None = None,
        storage: StorageBackend | str | None = None,
        checkpoint_config: CheckpointConfig | None = None,
        auto_recover: bool = True,
    ) -> None:
        self.definition = definition
        self.graph = definition.graph
        self.goal = definition.goal
        self.functions = dict(definition.functions)
        self.llm = llm
        self._built_llm: LLMProvider | None = None
        merged = {tool.name: tool for tool in [*definition.tools, *(tools or [])]}
        self.tools = list(merged.values())
        self.tool_executor = tool_executor
        home = Path(storage_path).expanduser() if storage_path is not None else default_home()
        self.runtime = Runtime(home)
        self.checkpoint_config = checkpoint_config or CheckpointConfig()
        self.storage: StorageBackend | str | None = None
        if self.checkpoint_config.enabled:
            self.storage = storage if storage is not None else default_storage_url(home)
        self.auto_recover = auto_recover
        self._manager: CheckpointManager | None = None
        self._recovered = False

    @classmethod
    def load(
        cls,
        agent_path: str | os.PathLike[str],
        *,
        llm: LLMProvider | None = None,
        tools: list[Tool] | None = None,
        tool_executor: Callable[..., Any] | None = None,
        storage_path: str | os.PathLike[str] | None = None,
        storage: StorageBackend | str | None = None,
        checkpoint_config: CheckpointConfig | None = None,
        auto_recover: bool = True,
        llm_overrides: LLMOverrides | None = None,
    ) -> AgentRunner:
        """Load and check the agent folder at ``agent_path``; raise AgentLoadError if broken.

        ``llm_overrides`` (the command line's ``--provider`` / ``--model`` / ``--base-url``)
        are given over the ``llm`` section and its environment variables.
        """
        runner = cls(
            load_definition(Path(agent_path), llm_overrides=llm_overrides),
            llm=llm,
            tools=tools,
            tool_executor=tool_executor,
            storage_path=storage_path,
            storage=storage,
            checkpoint_config=checkpoint_config,
            auto_recover=auto_recover,
        )
        result = runner.validate()
        if not result.valid:
            raise AgentLoadError(
                str(runner.definition.agent_file), f"invalid agent: {'; '.join(result.errors)}"
            )
        return runner

    @property
    def agent_id(self) -> str:
        """The id runs of this agent are stored under: its graph's id."""
        return self.graph.id

    @property
    def checkpoint_manager(self) -> CheckpointManager | None:
        """The manager checkpointing this agent's runs (opened on first use); ``None`` if off."""
        if self._manager is None and self.storage is not None:
            self._manager = CheckpointManager(self.storage, self.checkpoint_config)
        return self._manager

    # --- running ------------------------------------------------------------------------

    async def run(
        self,
        input_data: dict[str, Any] | None = None,
        run_id: str | None = None,
        *,
        session_state: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        max_cost: float | None = None,
        force_restart: bool = False,
    ) -> ExecutionResult:
        """Start a run, or continue the unfinished run ``run_id``.

        A new ``run_id`` (or none: :func:`new_run_id` makes one) starts a run with
        ``input_data``. An existing one continues from its latest checkpoint; ``input_data``
        must then be the input it started with (else :class:`RunConflictError`); a
        completed run returns its stored result without running anything; a cancelled one
        raises :class:`RunCancelledError`; one another live process runs raises
        :class:`LeaseHeldError`. ``max_tokens`` / ``max_cost`` pause the run with reason
        ``budget_exhausted`` when reached. ``session_state`` continues a paused result of a
        runner without durability. A run whose checkpoints were all lost (a damaged store)
        raises :class:`CheckpointsLostError`; ``force_restart=True`` starts the existing run
        ``run_id`` over from ``input_data``: its checkpoints are deleted, its completed
        nodes run again (effects it completed are not performed again).
        """
        if self.auto_recover and not self._recovered:
            await self.recover()
        if run_id is None and self.checkpoint_manager is not None:
            run_id = new_run_id()
        return await self.executor().execute(
            self.graph,
            self.goal,
            input_data,
            session_state,
            run_id=run_id,
            agent_id=self.agent_id,
            max_tokens=max_tokens,
            max_cost=max_cost,
            force_restart=force_restart,
        )

    async def resume(
        self,
        run_id: str,
        input_data: dict[str, Any] | None = None,
        *,
        force: bool = False,
        max_tokens: int | None = None,
        max_cost: float | None = None,
    ) -> ExecutionResult:
        """Continue the paused, failed or abandoned run ``run_id`` from its latest checkpoint.

        ``input_data`` is the human's answer when the run waits at a human_input node (or
        continues after a pause node). ``force`` resumes even though the agent's graph
        changed since the run started (else :class:`GraphChangedError`). A budget given
        here replaces the run's, so a run paused with ``budget_exhausted`` continues with a
        higher one. Raises :class:`RunNotFoundError` for an unknown run (or when durability
        is off) and :class:`RunConflictError` for a run of another agent.
        """
        manager = self.checkpoint_manager
        if manager is None:
            raise RunNotFoundError(
                f"cannot resume run {run_id!r}: durability is off for this runner "
                "(checkpoint_config.enabled=False), so no run is stored"
            )
        record = await manager.storage.aget_run(run_id)
        if record is None:
            raise RunNotFoundError(
                f"run {run_id!r} is not in storage {_describe_storage(self.storage)}; "
                "check the run id and the --storage URL / AGENTGRAPH_STORAGE"
            )
        if record.agent_id is not None and record.agent_id != self.agent_id:
            raise RunConflictError(
                f"run {run_id!r} belongs to agent {record.agent_id!r}, not {self.agent_id!r}; "
                "resume it with that agent"
            )
        return await self.executor().execute(
            self.graph,
            self.goal,
            run_id=run_id,
            resume_input=input_data,
            force=force,
            agent_id=self.agent_id,
            max_tokens=max_tokens,
            max_cost=max_cost,
        )

    async def abandoned_runs(self, *, batches: bool = False) -> list[RunRecord]:
        """This agent's unfinished graph runs that no live process owns (see
        :meth:`recover`); its batches (``agentgraph batch``) instead if ``batches``."""
        manager = self.checkpoint_manager
        if manager is None:
            return []
        return await find_abandoned_runs(manager.storage, self.agent_id, batches=batches)

    async def recover(self, *, on_skip: RecoverySkipHandler | None = None) -> list[ExecutionResult]:
        """Continue every abandoned run of this agent, one after another; return their results.

        Abandoned: status running or pending, and its lease expired or its owner process
        (on this machine) is dead. Paused and failed runs are left alone; they wait for
        :meth:`resume`. A run that cannot be continued (another process claimed it first,
        the graph changed, ...) is skipped: ``on_skip(record, error)`` is called, by
        default a logged warning. Without durability there is nothing to recover.
        """
        self._recovered = True
        results = []
        for record in await self.abandoned_runs():
            try:
                results.append(await self.resume(record.run_id))
            except AgentGraphError as exc:
                (on_skip or _log_skip)(record, exc)
        return results

    # --- describing ---------------------------------------------------------------------

    def info(self) -> AgentInfo:
        return describe_agent(self.definition, self.functions, self.tools)

    def validate(self) -> ValidationResult:
        """Graph problems and unresolvable functions are errors; missing LLM/tools warnings."""
        return validate_agent(
            self.definition, self.functions, self.tools, self.llm, self.tool_executor
        )

    # --- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Close the storage this runner opened from a URL (a backend passed in stays open),
        and let go of the model it built (its connections close with it in :meth:`aclose`)."""
        self._built_llm = None
        if self._manager is not None:
            self._manager.close()
            self._manager = None

    async def aclose(self) -> None:
        """Close the storage this runner opened and the model it built; the next run opens
        and builds them again."""
        built, self._built_llm = self._built_llm, None
        aclose = getattr(built, "aclose", None)
        if aclose is not None:
            await aclose()
        if self._manager is not None:
            await self._manager.aclose()
            self._manager = None

    def executor(self) -> GraphExecutor:
        """A graph executor with this agent's runtime, model, tools, functions and manager
        (what :meth:`run` runs with), e.g. for a graph run per item of a batch."""
        executor = GraphExecutor(
            self.runtime,
            self._model(),
            self.tools,
            self.tool_executor,
            checkpoint_manager=self.checkpoint_manager,
        )
        for name, func in self.functions.items():
            executor.register_function(name, func)
        return executor

    def _model(self) -> LLMProvider | None:
        """The ``llm`` given, else the definition's, built once (until :meth:`aclose`)."""
        if self.llm is not None:
            return self.llm
        if self._built_llm is None and self.definition.llm is not None:
            self._built_llm = provider_from_config(self.definition.llm)
        return self._built_llm


def _describe_storage(storage: StorageBackend | str | None) -> str:
    return storage if isinstance(storage, str) else type(storage).__name__


def _log_skip(record: RunRecord, error: AgentGraphError) -> None:
    logger.warning("could not recover run %r: %s", record.run_id, error)
