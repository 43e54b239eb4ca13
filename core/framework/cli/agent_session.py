"""One ``agentgraph run`` / ``resume`` / ``recover`` of an agent folder: its runs, what a
Ctrl-C pauses, what was recovered, and the commands it prints to continue them.

:func:`open_runner` loads the folder; :class:`AgentSession` runs the command's work under
:func:`~framework.cli.interrupt.run_interruptibly` (the first Ctrl-C / SIGTERM pauses the
run after its current node, a second stops at once) and prints ``resume with: <command>``
after a pause, a spent budget or a stop, quoted so that it runs as printed (with the
``--storage`` and the ``--provider`` / ``--model`` / ``--base-url`` given).
"""

from __future__ import annotations

import json
import shlex
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from framework import settings
from framework.cli.batch_command import resume_command
from framework.cli.interrupt import Interruptible, exit_code_for, run_interruptibly
from framework.cli.llm_option import llm_arguments
from framework.cli.output import (
    fail,
    note,
    outcome_line,
    print_json,
    print_result,
    retries_noted,
    say,
)
from framework.cli.storage_option import AGENT_DIR_KEY
from framework.durable import BUDGET_EXHAUSTED
from framework.errors import AgentGraphError, RunNotFoundError
from framework.graph.executor import ExecutionResult
from framework.graph.node import NodeType
from framework.llm.llm_config import LLMOverrides
from framework.runner.runner import AgentRunner
from framework.schemas.run import RunBudget

__all__ = ["AgentSession", "open_runner"]


def open_runner(
    agent_dir: Path, storage: str | None, llm: LLMOverrides | None = None
) -> AgentRunner:
    """The agent, ready to run: its folder loaded (with ``llm`` over its model) and the home
    its runs log to usable."""
    runner = AgentRunner.load(agent_dir, storage=storage, auto_recover=False, llm_overrides=llm)
    home = settings.home()
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(
            f"{settings.HOME_ENV} {home} cannot be used: {exc.strerror or exc}: "
            f"{exc.filename or home}; set {settings.HOME_ENV} to a folder you may write to"
        )
    return runner


@dataclass
class AgentSession:
    """One command's runs: which run a Ctrl-C pauses, what was recovered, what to print.

    ``storage`` is the ``--storage`` URL given, if any, and ``llm`` the model options given:
    the commands it prints name them, so they run as printed. ``budget`` holds the limits
    given on the command line.
    """

    runner: AgentRunner
    agent_dir: Path
    storage: str | None
    as_json: bool
    budget: RunBudget = field(default_factory=RunBudget)
    llm: LLMOverrides = field(default_factory=LLMOverrides)
    current_run: str | None = None
    pausing: bool = False
    recovery_problems: int = 0
    hint: str | None = None

    async def run(
        self, input_data: dict[str, Any] | None, run_id: str, restart: bool = False
    ) -> Interruptible[ExecutionResult]:
        async def work() -> ExecutionResult | None:
            await self._recover_all()
            if self.pausing:
                note(f"paused; run {run_id} was not started")
                return None
            self.current_run = run_id
            result = await self.runner.run(
                input_data,
                run_id,
                force_restart=restart,
                max_tokens=self.budget.max_tokens,
                max_cost=self.budget.max_cost,
            )
            await self._remember_folder(run_id)
            self.hint = await self._resume_hint(result)
            return result

        return await self._interruptibly(work)

    async def _remember_folder(self, run_id: str) -> None:
        """Keep the agent folder in the run's record: ``resume RUN_ID`` then finds it."""
        manager = self.runner.checkpoint_manager
        record = None if manager is None else await manager.storage.aget_run(run_id)
        folder = str(self.agent_dir.resolve())
        if manager is None or record is None or record.metadata.get(AGENT_DIR_KEY) == folder:
            return
        metadata = {**record.metadata, AGENT_DIR_KEY: folder}
        await manager.storage.aupdate_run(run_id, metadata=metadata)

    async def resume(
        self, run_id: str, input_data: dict[str, Any] | None, force: bool
    ) -> Interruptible[ExecutionResult]:
        async def work() -> ExecutionResult:
            self.current_run = run_id
            result = await self.runner.resume(
                run_id,
                input_data,
                force=force,
                max_tokens=self.budget.max_tokens,
                max_cost=self.budget.max_cost,
            )
            self.hint = await self._resume_hint(result)
            return result

        return await self._interruptibly(work)

    async def recover(self) -> Interruptible[int]:
        return await self._interruptibly(self._recover_all)

    async def _recover_all(self) -> int:
        """Resume each abandoned run, one line each; stop starting more once pausing."""
        records = await self.runner.abandoned_runs()
        for record in records:
            if self.pausing:
                break
            self.current_run = record.run_id
            try:
                result = await self.runner.resume(record.run_id)
            except AgentGraphError as exc:
                self.recovery_problems += 1
                self._say(f"skipped run {record.run_id}: {' '.join(str(exc).split())}")
                continue
            if not result.success:
                self.recovery_problems += 1
            self._say(f"recovered run {record.run_id}: {outcome_line(result)}")
            if hint := await self._resume_hint(result):
                self._say(f"resume with: {hint}")
        self.current_run = None
        # A batch can run for days: it is named, not continued here.
        for batch in await self.runner.abandoned_runs(batches=True):
            command = resume_command(batch, self.storage)
            then = f"; continue it with: {command}" if command else ""
            self._say(f"batch {batch.run_id} was interrupted{then}")
        return len(records)

    async def _resume_hint(self, result: ExecutionResult) -> str | None:
        """The command that continues ``result``'s run if it paused, as it can be pasted.

        A run waiting for a person's answer gets ``--input`` with each key the node expects
        (``null``, to fill in); one that spent its budget gets as much again.
        """
        if not result.paused_at:
            return None
        options: list[str] = []
        waiting = self.runner.graph.get_node((result.session_state or {}).get("resume_from", ""))
        if waiting and waiting.node_type is NodeType.HUMAN_INPUT and waiting.output_keys:
            options += ["--input", json.dumps(dict.fromkeys(waiting.output_keys))]
        if result.pause_reason == BUDGET_EXHAUSTED:
            options += await self._larger_budget(result)
        return self._command("resume", result.run_id, *options)

    async def _larger_budget(self, result: ExecutionResult) -> list[str]:
        """Options that let a run stopped by its budget spend as much again as it allowed."""
        manager = self.runner.checkpoint_manager
        record = None if manager is None else await manager.storage.aget_run(result.run_id)
        if record is None:
            return []
        limits, options = record.budget, []
        if limits.max_tokens is not None and result.total_tokens >= limits.max_tokens:
            options += ["--max-tokens", str(result.total_tokens + max(limits.max_tokens, 1))]
        if limits.max_cost is not None and result.total_cost >= limits.max_cost:
            options += ["--max-cost", str(result.total_cost + (limits.max_cost or 1.0))]
        return options

    def _command(self, name: str, *arguments: str) -> str:
        """``agentgraph <name>`` of this agent (storage and model), quoted for a POSIX shell."""
        storage = ["--storage", self.storage] if self.storage is not None else []
        given = [*arguments, *storage, *llm_arguments(self.llm)]
        return shlex.join(["agentgraph", name, str(self.agent_dir), *given])

    async def _interruptibly(self, work: Any) -> Interruptible[Any]:
        try:
            with retries_noted():
                return await run_interruptibly(work, self._request_pause)
        except (KeyboardInterrupt, SystemExit) as exc:
            # Raised by a node's code: the executor treats it as the process ending.
            detail = f" ({exc})" if str(exc) else ""
            fail(
                f"run {self.current_run} stopped: a node raised {type(exc).__name__}{detail}, "
                "which ends the process as a crash would; continue the run with: "
                + self._command("recover")
            )
        finally:
            await self.runner.aclose()

    async def _request_pause(self, signum: signal.Signals) -> bool:
        """Ask the current run to pause; False (stop at once) when there is none to ask."""
        manager = self.runner.checkpoint_manager
        run_id = self.current_run
        if manager is None or run_id is None:
            return False
        try:
            # A run that is no longer running has nothing to pause; no request is stored.
            await manager.arequest_pause(run_id, reason=f"{signum.name} received")
        except RunNotFoundError:
            return False
        except AgentGraphError as exc:
            note(f"could not request a pause ({exc}); stopping at once")
            return False
        self.pausing = True
        key = "Ctrl-C" if signum is signal.SIGINT else signum.name
        note(
            f"{signum.name}: run {run_id} pauses after its current node; {key} again stops at once"
        )
        return True

    def finish(self, outcome: Interruptible[ExecutionResult]) -> None:
        """Print the run's result (or why there is none) and exit with its code."""
        if outcome.stopped_by is not None:
            self.stopped(outcome.stopped_by)
        result = outcome.value
        if result is None:
            return
        if self.as_json:
            print_json(result.model_dump())
        else:
            print_result(result)
        if self.hint:
            self._say(f"resume with: {self.hint}")
        if not result.success:
            fail(result.error or "the run failed without an error message")

    def stopped(self, signum: signal.Signals) -> None:
        line = f"stopped at once by {signum.name}; the node in flight re-runs on resume"
        if self.current_run:
            line += f"; resume with: {self._command('resume', self.current_run)}"
        note(line)
        raise typer.Exit(exit_code_for(signum))

    def _say(self, line: str) -> None:
        if self.as_json:
            note(line)
        else:
            say(line)
