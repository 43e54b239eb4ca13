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
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer

from framework.cli.agent_session import AgentSession, open_runner
from framework.cli.llm_option import (
    BaseUrl,
    Model,
    Provider,
    described_llm,
    llm_line,
    llm_overrides,
)
from framework.cli.output import (
    OPTIONS,
    console,
    errors_as_messages,
    fail,
    print_info,
    print_json,
    say,
)
from framework.cli.serve_command import serve
from framework.cli.steering import resume_by_id, steering_commands
from framework.cli.storage_option import StorageUrl, agent_folder, read_run
from framework.cli.views import view_commands
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
    provider: Provider = None,
    model: Model = None,
    base_url: BaseUrl = None,
) -> None:
    """Recover the agent's crashed runs, then run it and print the result."""
    input_data = _read_input(input_json, input_file)
    budget = RunBudget(max_tokens=max_tokens, max_cost=max_cost)
    with errors_as_messages():
        llm = llm_overrides(provider, model, base_url)
        runner = open_runner(agent_dir, storage, llm)
        session = AgentSession(runner, agent_dir, storage, as_json, budget, llm)
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
    provider: Provider = None,
    model: Model = None,
    base_url: BaseUrl = None,
) -> None:
    """Continue a run from its latest checkpoint (a human_input node gets --input)."""
    input_data = _read_input(input_json, input_file)
    budget = RunBudget(max_tokens=max_tokens, max_cost=max_cost)
    with errors_as_messages():
        llm = llm_overrides(provider, model, base_url)
    if second is None:
        with errors_as_messages():
            record = read_run(first, storage)
        folder = agent_folder(record)
        if folder is None:
            resume_by_id(
                record, input_data, storage=storage, as_json=as_json, budget=budget, llm=llm
            )
            return
        agent_dir, run_id = folder, first
    else:
        agent_dir, run_id = Path(first), second
    with errors_as_messages():
        runner = open_runner(agent_dir, storage, llm)
        session = AgentSession(runner, agent_dir, storage, as_json, budget, llm)
        outcome = anyio.run(session.resume, run_id, input_data, force)
    session.finish(outcome)


@app.command()
def recover(
    agent_dir: AgentDir,
    storage: StorageUrl = None,
    provider: Provider = None,
    model: Model = None,
    base_url: BaseUrl = None,
) -> None:
    """Continue every crashed run of the agent; print one line per run."""
    with errors_as_messages():
        llm = llm_overrides(provider, model, base_url)
        runner = open_runner(agent_dir, storage, llm)
        session = AgentSession(runner, agent_dir, storage, as_json=False, llm=llm)
        outcome = anyio.run(session.recover)
    if outcome.stopped_by is not None:
        session.stopped(outcome.stopped_by)
    if outcome.value == 0:
        say(f"no crashed runs of agent '{runner.agent_id}'")
    if session.recovery_problems:
        raise typer.Exit(1)


@app.command()
def info(agent_dir: AgentDir, as_json: JsonFlag = False) -> None:
    """Describe the agent: goal, nodes, edges, functions, and the model it is configured with."""
    with errors_as_messages():
        runner = AgentRunner.load(agent_dir)
    agent, llm = runner.info(), runner.definition.llm
    if as_json:
        shown = {} if llm is None else {"llm": described_llm(llm)}
        print_json({**agent.model_dump(), **shown})
        return
    print_info(agent)
    if llm is not None:
        say(llm_line(llm))


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
app.command()(serve)

if __name__ == "__main__":
    main()
