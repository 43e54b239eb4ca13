"""The ``agentgraph`` command: run, resume, recover, describe and check agent folders.

Runs are durable: they are checkpointed to ``--storage`` (a storage URL), else
``$AGENTGRAPH_STORAGE``, else ``state.db`` under ``$AGENTGRAPH_HOME`` (default
``~/.agentgraph``). ``run`` first recovers the agent's abandoned runs (those whose process
died), like ``recover`` does.

A run that pauses or stops prints ``resume with: <command>``, quoted so that it runs as
printed: with the ``--storage`` given, the ``--input`` keys a human_input node waits for, a
larger ``--max-tokens`` / ``--max-cost`` for a spent budget. Each retry of a failed node is
one line on stderr.

Exit codes: 0 completed or paused (a pause node, a human_input node, a spent budget, or a
first Ctrl-C / SIGTERM: the run pauses after its current node);
1 failed run or any error (``error: ...`` on one line on stderr, never a traceback);
2 usage error (unknown option, missing argument), as typer does; 130 / 143 stopped at once
by a second SIGINT / SIGTERM (the node in flight re-runs on resume).
"""

from __future__ import annotations

import json
import shlex
import signal
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer

from framework import settings
from framework.cli.batch_command import resume_command
from framework.cli.interrupt import Interruptible, exit_code_for, run_interruptibly
from framework.cli.output import (
    OPTIONS,
    console,
    errors_as_messages,
    fail,
    note,
    outcome_line,
    print_info,
    print_json,
    print_result,
    retries_noted,
    say,
)
from framework.cli.steering import resume_by_id, steering_commands
from framework.cli.storage_option import AGENT_DIR_KEY, StorageUrl, agent_folder, read_run
from framework.cli.views import view_commands
from framework.durable import BUDGET_EXHAUSTED
from framework.errors import AgentGraphError, RunNotFoundError
from framework.graph.executor import ExecutionResult
from framework.graph.node import NodeType
from framework.runner.loader import why_unparsable
from framework.runner.runner import AgentRunner, new_run_id
from framework.schemas.run import RunBudget

__all__ = ["app", "main"]

app = typer.Typer(
    name="agentgraph",
    help="Run and inspect agentgraph-durable agents (folders holding agent.json).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

AgentDir = Annotated[
    Path, typer.Argument(help="Agent folder holding agent.json and optionally functions.py.")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print only JSON.")]
InputJson = Annotated[
    str | None,
    typer.Option("--input", "-i", help="Input data as a JSON object, or @FILE holding one."),
]
InputFile = Annotated[
    Path | None, typer.Option("--input-file", help="File holding the input JSON object.")
]
MaxTokens = Annotated[
    int | None,
    typer.Option(
        "--max-tokens",
        min=0,
        help="Pause the run before its next node once it has spent this many tokens "
        "(given to resume, it replaces the run's limit).",
    ),
]
MaxCost = Annotated[
    float | None,
    typer.Option(
        "--max-cost",
        min=0,
        help="Pause the run before its next node once it has cost this much "
        "(given to resume, it replaces the run's limit).",
    ),
]


@app.command()
def run(
    agent_dir: AgentDir,
    input_json: InputJson = None,
    input_file: InputFile = None,
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run-id",
            help="Id of the run: a new id starts it, an unfinished one "
            "continues it. Default: a new generated id.",
        ),
    ] = None,
    storage: StorageUrl = None,
    as_json: JsonFlag = False,
    max_tokens: MaxTokens = None,
    max_cost: MaxCost = None,
    restart: Annotated[
        bool,
        typer.Option(
            "--restart",
            help="Start the --run-id run over from its input, running its completed nodes "
            "again (for a run whose checkpoints were lost).",
        ),
    ] = False,
) -> None:
    """Recover the agent's crashed runs, then run it and print the result."""
    input_data = _read_input(input_json, input_file)
    with errors_as_messages():
        runner = _open_runner(agent_dir, storage)
        session = _Session(
            runner, agent_dir, storage, as_json, RunBudget(max_tokens=max_tokens, max_cost=max_cost)
        )
        outcome = anyio.run(session.run, input_data, run_id or new_run_id(), restart)
    session.finish(outcome)


@app.command()
def resume(
    first: Annotated[
        str,
        typer.Argument(
            metavar="AGENT_DIR_OR_RUN_ID",
            help="The run's agent folder, then its id; or only the id, for a batch "
            "`agentgraph batch` started.",
            show_default=False,
        ),
    ],
    second: Annotated[
        str | None,
        typer.Argument(
            metavar="RUN_ID",
            help="Id of the paused, failed or crashed run (after its agent folder).",
            show_default=False,
        ),
    ] = None,
    input_json: InputJson = None,
    input_file: InputFile = None,
    force: Annotated[
        bool, typer.Option("--force", help="Resume even though the agent's graph changed.")
    ] = False,
    storage: StorageUrl = None,
    as_json: JsonFlag = False,
    max_tokens: MaxTokens = None,
    max_cost: MaxCost = None,
) -> None:
    """Continue a run from its latest checkpoint (a human_input node gets --input)."""
    input_data = _read_input(input_json, input_file)
    budget = RunBudget(max_tokens=max_tokens, max_cost=max_cost)
    if second is None:
        with errors_as_messages():
            folder = agent_folder(read_run(first, storage))
        if folder is None:
            resume_by_id(first, input_data, storage=storage, as_json=as_json, budget=budget)
            return
        agent_dir, run_id = folder, first
    else:
        agent_dir, run_id = Path(first), second
    with errors_as_messages():
        runner = _open_runner(agent_dir, storage)
        session = _Session(runner, agent_dir, storage, as_json, budget)
        outcome = anyio.run(session.resume, run_id, input_data, force)
    session.finish(outcome)


@app.command()
def recover(agent_dir: AgentDir, storage: StorageUrl = None) -> None:
    """Continue every crashed run of the agent; print one line per run."""
    with errors_as_messages():
        runner = _open_runner(agent_dir, storage)
        session = _Session(runner, agent_dir, storage, as_json=False)
        outcome = anyio.run(session.recover)
    if outcome.stopped_by is not None:
        session.stopped(outcome.stopped_by)
    if outcome.value == 0:
        say(f"no crashed runs of agent '{runner.agent_id}'")
    if session.recovery_problems:
        raise typer.Exit(1)


@app.command()
def info(agent_dir: AgentDir, as_json: JsonFlag = False) -> None:
    """Describe the agent: goal, nodes, edges and functions."""
    with errors_as_messages():
        agent = AgentRunner.load(agent_dir).info()
    if as_json:
        print_json(agent.model_dump())
    else:
        print_info(agent)


@app.command()
def validate(agent_dir: AgentDir, as_json: JsonFlag = False) -> None:
    """Check the agent folder; errors exit 1, warnings are printed."""
    with errors_as_messages():
        result = AgentRunner.load(agent_dir).validate()
    if as_json:
        print_json(result.model_dump())
        return
    console.print(f"valid: {agent_dir}", style="green")
    for warning in result.warnings:
        console.print(f"warning: {warning}", style="yellow")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``agentgraph`` console script; ``argv`` defaults to ``sys.argv``.

    Every error the commands expect is already one line; anything else is a bug, reported
    as one line too (``error: internal error: ...``), exit 1. ``--debug`` anywhere among
    the arguments prints each error's traceback first.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    OPTIONS.tracebacks = "--debug" in args
    if OPTIONS.tracebacks:
        args.remove("--debug")
    try:
        app(args=args)
    except Exception as exc:
        if OPTIONS.tracebacks:
            traceback.print_exc()
        sys.stderr.write(
            f"error: internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
            "(please report it)\n"
        )
        raise SystemExit(1) from None


def _open_runner(agent_dir: Path, storage: str | None) -> AgentRunner:
    """The agent, ready to run: its folder loaded and the home its runs log to usable."""
    runner = AgentRunner.load(agent_dir, storage=storage, auto_recover=False)
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
class _Session:
    """One command's runs: which run a Ctrl-C pauses, what was recovered, what to print.

    ``storage`` is the ``--storage`` URL given, if any: the commands it prints name it, so
    they run as printed. ``budget`` holds the limits given on the command line.
    """

    runner: AgentRunner
    agent_dir: Path
    storage: str | None
    as_json: bool
    budget: RunBudget = field(default_factory=RunBudget)
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
        """``agentgraph <name>`` of this agent (and storage), quoted for a POSIX shell."""
        storage = ["--storage", self.storage] if self.storage is not None else []
        return shlex.join(["agentgraph", name, str(self.agent_dir), *arguments, *storage])

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


def _read_input(input_json: str | None, input_file: Path | None) -> dict[str, Any] | None:
    if input_json is not None and input_file is not None:
        raise typer.BadParameter("give --input or --input-file, not both")
    if input_json is not None and input_json.startswith("@"):  # no JSON object starts so
        input_file = Path(input_json[1:])
        input_json = None
    source = "--input"
    if input_file is not None:
        source = f"--input-file {input_file}"
        try:
            input_json = input_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read {input_file}: {exc}")
    if input_json is None:
        return None
    try:
        data = json.loads(input_json)
    except json.JSONDecodeError as exc:
        fail(f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    except (RecursionError, ValueError) as exc:
        fail(f"{source} cannot be read: {why_unparsable(exc)}")
    if not isinstance(data, dict):
        fail(f"{source} must be a JSON object, not {type(data).__name__}")
    return data


# After the commands above, so that help lists them first: the steering commands (pause,
# cancel, retry-failed, fork, preview, prune, batch) and those that show runs (runs, status,
# watch, checkpoints, inspect, diff, verify, items).
app.add_typer(steering_commands)
app.add_typer(view_commands)

if __name__ == "__main__":
    main()
