"""What the ``agentgraph`` command prints: results, agent descriptions, one-line errors.

Human output goes to stdout through rich without markup (node names, descriptions and
outputs are user text and may contain ``[...]``). Errors, progress notes and retries go to
stderr as plain single lines, so ``--json`` output on stdout stays parseable.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from framework.errors import AgentGraphError
from framework.graph.executor import ExecutionResult
from framework.graph.retry import RETRY_LOGGER
from framework.runner.description import AgentInfo
from framework.runner.loader import why_unparsable
from framework.runtime.records import to_loggable

__all__ = [
    "JSON_SCHEMA_VERSION",
    "NOT_FOUND",
    "OPTIONS",
    "Options",
    "console",
    "errors_as_messages",
    "fail",
    "fail_not_found",
    "note",
    "outcome_line",
    "print_info",
    "print_json",
    "print_json_lines",
    "print_result",
    "retries_noted",
    "say",
]

console = Console(highlight=False, markup=False)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` as one line on stderr and exit 1."""
    # Plain write, not rich: rich wraps long lines, and the error must stay on one line.
    sys.stderr.write(f"error: {' '.join(message.split())}\n")
    raise typer.Exit(1)


NOT_FOUND = 3
"""The exit code of a command given a run (or checkpoint) id that storage does not hold."""


def fail_not_found(message: str) -> NoReturn:
    """Print ``error: message`` as one line on stderr and exit :data:`NOT_FOUND`."""
    sys.stderr.write(f"error: {' '.join(message.split())}\n")
    raise typer.Exit(NOT_FOUND)


def say(line: str) -> None:
    """One line on stdout, never wrapped (it may hold a command to copy)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def note(message: str) -> None:
    """A progress line on stderr (kept off stdout so ``--json`` output stays clean)."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


@contextmanager
def retries_noted() -> Iterator[None]:
    """While inside, each retry the executor announces is a :func:`note` line."""
    handler = _NoteHandler()
    logger = logging.getLogger(RETRY_LOGGER)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


class _NoteHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        note(" ".join(record.getMessage().split()))


@contextmanager
def errors_as_messages() -> Iterator[None]:
    """Turn any framework error raised inside into :func:`fail` (after its traceback, with
    ``--debug``)."""
    try:
        yield
    except AgentGraphError as exc:
        if OPTIONS.tracebacks:
            traceback.print_exc()
        fail(str(exc))


@dataclass
class Options:
    """How the command reports, set from options that apply to every command."""

    tracebacks: bool = False
    """``--debug``: print an error's traceback before its one line."""


OPTIONS = Options()


JSON_SCHEMA_VERSION = 1
"""The ``schema_version`` of every JSON document and JSON Lines object printed; it goes
up when a shape changes in a way a script reading it would notice."""


def print_json(document: dict[str, Any]) -> None:
    """``document`` as one JSON document on stdout, with its ``schema_version``."""
    versioned = {"schema_version": JSON_SCHEMA_VERSION, **document}
    sys.stdout.write(json.dumps(_printable(versioned), indent=2, ensure_ascii=False) + "\n")


def print_json_lines(objects: Iterable[dict[str, Any]]) -> None:
    """Each of ``objects`` as JSON on one line of stdout (JSON Lines), with its
    ``schema_version``."""
    for value in objects:
        versioned = {"schema_version": JSON_SCHEMA_VERSION, **value}
        sys.stdout.write(json.dumps(_printable(versioned), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _printable(value: Any, levels: int = 2) -> Any:
    """``value`` as JSON data that can be written, the entries of its first ``levels`` of
    dicts each on their own.

    What JSON cannot write (an integer above Python's digit limit, nesting deeper than
    its stack) becomes a string saying so, so a run's result is always printed.
    """
    if isinstance(value, dict) and levels:
        return {
            (key if isinstance(key, str) else repr(key)): _printable(item, levels - 1)
            for key, item in value.items()
        }
    try:
        data = to_loggable(value)
        json.dumps(data)
    except (RecursionError, ValueError) as exc:
        return f"<not shown: {why_unparsable(exc)}>"
    return data


def outcome_line(result: ExecutionResult) -> str:
    """``completed`` / ``paused at node 'x': why`` / ``failed: error``, on one line."""
    if result.paused_at:
        reason = f": {result.pause_reason}" if result.pause_reason else ""
        return f"paused at node '{result.paused_at}'{reason}"
    if result.success:
        return "completed"
    return f"failed: {' '.join((result.error or 'no error message').split())}"


def print_result(result: ExecutionResult) -> None:
    if result.paused_at:
        console.print(outcome_line(result), style="yellow")
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
    console.print_json(data=_printable(result.output))


def print_info(agent: AgentInfo) -> None:
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
