"""The ``agentgraph`` command: run, describe and check agent folders.

Every framework error (and bad ``--input`` JSON) ends the command with one line
``error: ...`` on stderr and exit code 1, never a traceback. A run that fails prints its
result, then the error, and exits 1; a paused run exits 0 and says where it paused.
Usage errors (unknown option, missing argument) exit 2, as typer does.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import anyio
import typer
from rich.console import Console
from rich.table import Table

from framework.errors import AgentGraphError
from framework.graph.executor import ExecutionResult
from framework.runner.runner import AgentInfo, AgentRunner
from framework.runtime.records import to_loggable

__all__ = ["app", "main"]

app = typer.Typer(
    name="agentgraph",
    help="Run and inspect agentgraph-durable agents (folders holding agent.json).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# No markup: node names, descriptions and outputs are user text and may contain "[...]".
console = Console(highlight=False, markup=False)

AgentDir = Annotated[
    Path, typer.Argument(help="Agent folder holding agent.json and optionally functions.py.")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print only JSON.")]


@app.command()
def run(
    agent_dir: AgentDir,
    input_json: Annotated[
        str | None, typer.Option("--input", "-i", help="Input data as a JSON object.")
    ] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input-file", help="File holding the input JSON object.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run the agent once and print the result."""
    input_data = _read_input(input_json, input_file)
    with _errors_as_messages():
        runner = AgentRunner.load(agent_dir)
        result = anyio.run(runner.run, input_data)
    if as_json:
        _print_json(result.model_dump())
    else:
        _print_result(result)
    if not result.success:
        _fail(result.error or "the run failed without an error message")


@app.command()
def info(agent_dir: AgentDir, as_json: JsonFlag = False) -> None:
    """Describe the agent: goal, nodes, edges and functions."""
    with _errors_as_messages():
        agent = AgentRunner.load(agent_dir).info()
    if as_json:
        _print_json(agent.model_dump())
    else:
        _print_info(agent)


@app.command()
def validate(agent_dir: AgentDir, as_json: JsonFlag = False) -> None:
    """Check the agent folder; errors exit 1, warnings are printed."""
    with _errors_as_messages():
        result = AgentRunner.load(agent_dir).validate()
    if as_json:
        _print_json(result.model_dump())
        return
    console.print(f"valid: {agent_dir}", style="green")
    for warning in result.warnings:
        console.print(f"warning: {warning}", style="yellow")


def main() -> None:
    """Entry point of the ``agentgraph`` console script."""
    app()


def _fail(message: str) -> NoReturn:
    # Plain write, not rich: rich wraps long lines, and the error must stay on one line.
    sys.stderr.write(f"error: {' '.join(message.split())}\n")
    raise typer.Exit(1)


@contextmanager
def _errors_as_messages() -> Iterator[None]:
    try:
        yield
    except AgentGraphError as exc:
        _fail(str(exc))


def _read_input(input_json: str | None, input_file: Path | None) -> dict[str, Any] | None:
    if input_json is not None and input_file is not None:
        raise typer.BadParameter("give --input or --input-file, not both")
    source = "--input"
    if input_file is not None:
        source = f"--input-file {input_file}"
        try:
            input_json = input_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            _fail(f"cannot read {input_file}: {exc}")
    if input_json is None:
        return None
    try:
        data = json.loads(input_json)
    except json.JSONDecodeError as exc:
        _fail(f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    if not isinstance(data, dict):
        _fail(f"{source} must be a JSON object, not {type(data).__name__}")
    return data


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(to_loggable(value), indent=2, ensure_ascii=False) + "\n")


def _print_result(result: ExecutionResult) -> None:
    if result.paused_at:
        reason = f": {result.pause_reason}" if result.pause_reason else ""
        console.print(f"paused at node '{result.paused_at}'{reason}", style="yellow")
    elif result.success:
        console.print("completed", style="green")
    else:
        console.print("failed", style="red")
    table = Table.grid(padding=(0, 2))
    table.add_row("run", result.run_id or "-")
    table.add_row("path", " -> ".join(result.path) or "-")
    table.add_row("steps", str(result.steps_executed))
    table.add_row("tokens", str(result.total_tokens))
    table.add_row("latency", f"{result.total_latency_ms} ms")
    console.print(table)
    console.print("output:")
    console.print_json(data=to_loggable(result.output))


def _print_info(agent: AgentInfo) -> None:
    console.print(f"{agent.name} ({agent.path})", style="bold")
    if agent.description:
        console.print(agent.description)
    console.print(f"goal: {agent.goal_name} - {agent.goal_description}")
    console.print(f"entry: {agent.entry_node}   terminal: {', '.join(agent.terminal_nodes)}")
    if agent.pause_nodes:
        console.print(f"pause: {', '.join(agent.pause_nodes)}")
    nodes = Table("node", "type", "function", "name", title="nodes", title_justify="left")
    for node in agent.nodes:
        nodes.add_row(node.id, node.type, node.function or "", node.name)
    console.print(nodes)
    edges = Table("edge", "from -> to", "when", title="edges", title_justify="left")
    for edge in agent.edges:
        when = edge.condition_expr if edge.condition_expr else edge.condition
        edges.add_row(edge.id, f"{edge.source} -> {edge.target}", when)
    console.print(edges)
    console.print(f"functions: {', '.join(agent.functions) or '-'}")
    if agent.tools:
        console.print(f"tools: {', '.join(agent.tools)}")


if __name__ == "__main__":
    main()
