"""``agentgraph batch``: an agent folder run once per line of a JSONL file, as a durable batch.

Each item (a JSON object) is the input of one run of the agent's graph, a child run with
checkpoints of its own (:func:`~framework.graph.graph_items.graph_per_item`), inside one
batch run (:class:`~framework.batch.BatchRunner`): every finished item is stored at once,
failures are retried (``--max-attempts``) without stopping the others, and the batch
honours ``--rpm`` / ``--tpm`` and its ``--max-tokens`` / ``--max-cost`` budget. Its items
ask the model the agent names, or the one ``--provider`` / ``--model`` / ``--base-url`` give.

The batch's run record carries what it was started with (:class:`BatchSettings`: the agent
folder, the items file, the id key and the limits), so running the same command again
continues it — lines added to the file since are added, finished items never run again —
and ``agentgraph resume RUN_ID`` continues it by its id alone (:func:`resume_by_id`).
The first Ctrl-C or SIGTERM pauses the batch once the items in flight are done; a second
one stops it at once (the items in flight run again on resume), exit 130 / 143 as for
``run``. Exit 0: completed (some items may have failed: ``retry-failed`` runs them again)
or paused; 1: failed, cancelled, or any error.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer
from pydantic import BaseModel, ConfigDict, ValidationError

from framework.batch import BatchConfig, BatchResult, BatchRunner
from framework.cli.batch_display import BatchDisplay, counts_line, usage_line
from framework.cli.interrupt import Interruptible, exit_code_for, run_interruptibly
from framework.cli.jsonl_items import jsonl_items
from framework.cli.llm_option import BaseUrl, Model, Provider, llm_arguments, llm_overrides
from framework.cli.output import errors_as_messages, fail, note, print_json, say
from framework.cli.storage_option import (
    StorageUrl,
    agent_folder,
    pasteable,
    stored_run,
)
from framework.durable import BUDGET_EXHAUSTED, CheckpointManager
from framework.errors import AgentGraphError, RunConflictError, RunExistsError
from framework.graph.graph_items import graph_per_item
from framework.llm.llm_config import LLMOverrides
from framework.runner import AgentRunner
from framework.schemas.checkpoint import ExecutorType
from framework.schemas.item import ItemRecord, ItemStatus
from framework.schemas.run import RunBudget, RunRecord, RunStatus

__all__ = ["SETTINGS_KEY", "BatchSettings", "batch", "resume_by_id", "resume_command"]

SETTINGS_KEY = "agentgraph_batch"
"""Where a batch run's record keeps its :class:`BatchSettings` (in its metadata)."""
_FAILED_LISTED = 5


class BatchSettings(BaseModel):
    """What ``agentgraph batch`` started a batch with, stored in its run record."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    agent_dir: str
    """The agent folder (absolute), whose graph runs once per item."""
    items: str
    """The JSONL file (absolute) the items were read from."""
    id_key: str | None = None
    """The field holding each item's id; ``None``: a hash of its content."""
    concurrency: int = BatchConfig.concurrency
    """Items in flight at once."""
    max_attempts: int = BatchConfig.max_attempts
    """Attempts per item (since the latest ``retry-failed``)."""
    requests_per_minute: float | None = None
    """Item attempts started per minute at most; ``None`` or 0: no limit."""
    tokens_per_minute: float | None = None
    """Tokens per minute at most; ``None`` or 0: no limit."""

    def config(self) -> BatchConfig:
        """The batch runner's settings these make."""
        return BatchConfig(
            concurrency=self.concurrency,
            max_attempts=self.max_attempts,
            id_key=self.id_key,
            requests_per_minute=self.requests_per_minute or None,
            tokens_per_minute=self.tokens_per_minute or None,
        )

    @classmethod
    def of(cls, record: RunRecord) -> BatchSettings | None:
        """The settings ``record`` keeps; ``None`` for a run ``agentgraph batch`` did not start."""
        stored = record.metadata.get(SETTINGS_KEY)
        if record.executor_type is not ExecutorType.BATCH or not isinstance(stored, dict):
            return None
        try:
            return cls.model_validate(stored)
        except ValidationError:
            return None


def resume_command(record: RunRecord, storage: str | None) -> str | None:
    """The command that continues ``record``'s run by its id, if one can: a batch or a
    run the command started (its record keeps how)."""
    if BatchSettings.of(record) is None and agent_folder(record) is None:
        return None
    return pasteable("resume", record.run_id, storage=storage)


def batch(
    agent_dir: Annotated[Path, typer.Argument(help="Agent folder whose graph runs per item.")],
    items: Annotated[
        Path, typer.Option("--items", help="JSONL file: one JSON object (an item's input) a line.")
    ],
    run_id: Annotated[
        str,
        typer.Option(
            "--run-id", help="Id of the batch: a new id starts it, a known one continues."
        ),
    ],
    id_key: Annotated[
        str | None,
        typer.Option("--id-key", help="Field holding each item's id (default: hash of the item)."),
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", min=1, help="Items in flight at once [4].")
    ] = None,
    max_attempts: Annotated[
        int | None, typer.Option("--max-attempts", min=1, help="Attempts per item [3].")
    ] = None,
    rpm: Annotated[
        float | None,
        typer.Option(
            "--rpm", min=0, help="Item attempts started per minute, at most (0: no limit)."
        ),
    ] = None,
    tpm: Annotated[
        float | None,
        typer.Option("--tpm", min=0, help="Tokens spent per minute, at most (0: no limit)."),
    ] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option("--max-tokens", min=0, help="Pause once this many tokens are spent."),
    ] = None,
    max_cost: Annotated[
        float | None, typer.Option("--max-cost", min=0, help="Pause once it has cost this much.")
    ] = None,
    storage: StorageUrl = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
    provider: Provider = None,
    model: Model = None,
    base_url: BaseUrl = None,
) -> None:
    """Run the agent once per JSONL line as a durable batch; run it again to continue it."""
    if not items.is_file():
        fail(f"--items {items}: no such file")
    given: dict[str, Any] = {
        "agent_dir": str(agent_dir.resolve()),
        "items": str(items.resolve()),
        "id_key": id_key,
        "concurrency": concurrency,
        "max_attempts": max_attempts,
        "requests_per_minute": rpm,
        "tokens_per_minute": tpm,
    }
    chosen = {key: value for key, value in given.items() if value is not None}
    budget = RunBudget(max_tokens=max_tokens, max_cost=max_cost)
    with errors_as_messages():
        batch_run = _BatchRun(run_id, storage, budget, llm_overrides(provider, model, base_url))
        ending = anyio.run(batch_run.drive, agent_dir, chosen, items)
    batch_run.finish(ending, as_json)


def resume_by_id(
    record: RunRecord,
    input_data: dict[str, Any] | None,
    *,
    storage: str | None,
    as_json: bool,
    budget: RunBudget,
    llm: LLMOverrides | None = None,
) -> None:
    """``agentgraph resume RUN_ID`` of ``record``'s batch, one ``agentgraph batch`` started,
    its items asking the model ``llm`` names over the agent's.

    A graph run whose record does not keep its agent folder (one started from Python)
    needs that folder (``agentgraph resume AGENT_DIR RUN_ID``).
    """
    run_id = record.run_id
    settings = BatchSettings.of(record)
    if settings is None and record.executor_type is ExecutorType.BATCH:
        fail(
            f"run {run_id!r} is a batch that agentgraph batch did not start, so how to run its "
            "items is not stored; continue it from Python with BatchRunner.run"
        )
    if settings is None:
        agent = f" of agent {record.agent_id!r}" if record.agent_id else ""
        fail(
            f"run {run_id!r} is a run{agent}; its folder is not stored with it, so give it: "
            + pasteable("resume", "AGENT_DIR", run_id, storage=storage)
        )
    if input_data is not None:
        fail(f"run {run_id!r} is a batch: its items are its input, it takes no --input")
    batch_run = _BatchRun(run_id, storage, budget, llm or LLMOverrides())
    with errors_as_messages():
        ending = anyio.run(batch_run.drive, Path(settings.agent_dir), {}, None)
    batch_run.finish(ending, as_json)


@dataclass
class _Ending:
    """How one ``batch`` command's run ended, with what its summary needs from storage."""

    outcome: Interruptible[BatchResult]
    failed: list[ItemRecord]
    budget_options: list[str]


@dataclass
class _BatchRun:
    """One command's run of batch ``run_id``: open it, drive it, say how it ended."""

    run_id: str
    storage: str | None
    budget: RunBudget
    llm: LLMOverrides

    async def drive(self, agent_dir: Path, chosen: dict[str, Any], items: Path | None) -> _Ending:
        """Run the batch (adding the lines of ``items``, if given) until it stops."""
        runner = AgentRunner.load(
            agent_dir, storage=self.storage, auto_recover=False, llm_overrides=self.llm
        )
        try:
            manager = runner.checkpoint_manager
            assert manager is not None, "an agent runner checkpoints unless told not to"
            settings = await self._settled(manager, runner.agent_id, chosen)
            # The runner's own executor: the agent's functions, tools and model, as `run` has.
            fn = graph_per_item(runner.executor(), runner.graph, runner.goal)
            submission = None if items is None else jsonl_items(items, settings.id_key)
            counts = await manager.storage.aitem_counts(self.run_id)
            with BatchDisplay(self.run_id, counts) as display:
                batches = BatchRunner(manager, settings.config(), on_event=display)

                async def work() -> BatchResult:
                    return await batches.run(
                        self.run_id,
                        submission,
                        fn,
                        max_tokens=self.budget.max_tokens,
                        max_cost=self.budget.max_cost,
                    )

                async def pause(signum: signal.Signals) -> bool:
                    return await self._request_pause(manager, display, signum)

                outcome = await run_interruptibly(work, pause)
            return await self._ending(manager, outcome)
        finally:
            await runner.aclose()

    async def _settled(
        self, manager: CheckpointManager, agent_id: str, chosen: dict[str, Any]
    ) -> BatchSettings:
        """The batch's settings: those stored with it, with the ones given here over them.

        A new batch's record is created here, carrying them, so that everything that reads
        it (``resume``, ``runs --agent``) knows the batch from its first moment.
        """
        storage = manager.storage
        record = await storage.aget_run(self.run_id)
        if record is None:
            settings = BatchSettings.model_validate(chosen)
            created = RunRecord(
                run_id=self.run_id,
                agent_id=agent_id,
                graph_id="batch",
                executor_type=ExecutorType.BATCH,
                metadata={SETTINGS_KEY: settings.model_dump(mode="json")},
            )
            try:
                await storage.acreate_run(created)
                return settings
            except RunExistsError:
                record = await stored_run(manager, self.run_id, self.storage)
        if record.executor_type is not ExecutorType.BATCH:
            raise RunConflictError(
                f"run {self.run_id!r} is a {record.executor_type.value} run, not a batch; "
                "choose another --run-id"
            )
        stored = BatchSettings.of(record)
        settings = (
            BatchSettings.model_validate(chosen)
            if stored is None
            else stored.model_copy(update=chosen)
        )
        if settings != stored:
            metadata = {**record.metadata, SETTINGS_KEY: settings.model_dump(mode="json")}
            await storage.aupdate_run(self.run_id, metadata=metadata)
        return settings

    async def _request_pause(
        self, manager: CheckpointManager, display: BatchDisplay, signum: signal.Signals
    ) -> bool:
        """Ask the batch to pause after the items in flight; False: stop it at once."""
        try:
            record = await manager.storage.aget_run(self.run_id)
            # Not claimed yet (or not any more): nothing is in flight, so stopping loses nothing.
            if record is None or not record.has_live_lease():
                return False
            reason = f"{signum.name} received; the items in flight finished first"
            if await manager.arequest_pause(self.run_id, reason) is None:
                return False
        except AgentGraphError as exc:
            display.say(f"could not request a pause ({exc}); stopping at once")
            return False
        key = "Ctrl-C" if signum is signal.SIGINT else signum.name
        display.say(
            f"{signum.name}: batch {self.run_id} pauses once the items in flight are done; "
            f"{key} again stops at once"
        )
        return True

    async def _ending(
        self, manager: CheckpointManager, outcome: Interruptible[BatchResult]
    ) -> _Ending:
        storage = manager.storage
        failed: list[ItemRecord] = []
        if outcome.value is not None and outcome.value.counts.failed:
            failed = await storage.alist_items(
                self.run_id, status=ItemStatus.FAILED, limit=_FAILED_LISTED
            )
        options: list[str] = []
        record = await storage.aget_run(self.run_id)
        if record is not None and record.status_reason == BUDGET_EXHAUSTED:
            options = _larger_budget(record)
        return _Ending(outcome, failed, options)

    def finish(self, ending: _Ending, as_json: bool) -> None:
        """Print how the batch ended and exit with its code."""
        given = [*ending.budget_options, *llm_arguments(self.llm)]
        resume = pasteable("resume", self.run_id, *given, storage=self.storage)
        if ending.outcome.stopped_by is not None:
            signum = ending.outcome.stopped_by
            note(
                f"stopped at once by {signum.name}; the items in flight run again on resume; "
                f"resume with: {resume}"
            )
            raise typer.Exit(exit_code_for(signum))
        result = ending.outcome.value
        assert result is not None, "a batch that was not stopped has a result"
        tell = note if as_json else say
        if as_json:
            print_json(result.model_dump(mode="json"))
        else:
            reason = f": {result.reason}" if result.reason else ""
            say(f"batch {self.run_id} {result.status.value}{reason}")
            say(f"{counts_line(result.counts)} | {usage_line(result.counts)}")
        for item in ending.failed:
            error = item.last_error
            why = f"{error.type}: {' '.join(error.message.split())}" if error else "no error"
            tell(f"failed: {item.item_id}: {why}")
        if result.status is RunStatus.COMPLETED and result.counts.failed:
            tell("retry them with: " + pasteable("retry-failed", self.run_id, storage=self.storage))
        if result.status in (RunStatus.PAUSED, RunStatus.FAILED):
            tell(f"resume with: {resume}")
        if result.status in (RunStatus.FAILED, RunStatus.CANCELLED):
            fail(f"batch {self.run_id} {result.status.value}: {result.reason or 'no reason given'}")


def _larger_budget(record: RunRecord) -> list[str]:
    """Options that let a batch stopped by its budget spend as much again as it allowed."""
    limits, spent, options = record.budget, record.totals, []
    if limits.max_tokens is not None and spent.tokens >= limits.max_tokens:
        options += ["--max-tokens", str(spent.tokens + max(limits.max_tokens, 1))]
    if limits.max_cost is not None and spent.cost >= limits.max_cost:
        options += ["--max-cost", str(spent.cost + (limits.max_cost or 1.0))]
    return options
