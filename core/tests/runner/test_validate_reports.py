"""``agentgraph validate`` reports what a run would trip over: names no node writes, routers
without a default, unreachable nodes, functions whose parameters do not match the node.

What certainly fails (a function that needs a parameter the node never gives it) is an
error; what may fail, depending on the input or on what conditions turn out to be, is a
warning.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from framework.cli.main import app
from framework.errors import AgentLoadError
from framework.runner import AgentRunner
from framework.runner.description import ValidationResult

EXAMPLES = Path(__file__).parents[3] / "examples" / "agents"
GOAL: dict[str, Any] = {"id": "goal", "name": "Goal", "description": "Test."}


def node(node_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": node_id, "name": node_id, "description": "test node", **fields}


def write(
    folder: Path,
    nodes: list[dict[str, Any]],
    edges: list[dict[str, Any]],
    functions: str,
    *,
    terminal: list[str],
    goal: dict[str, Any] | None = None,
) -> Path:
    graph = {
        "id": "g",
        "entry_node": nodes[0]["id"],
        "terminal_nodes": terminal,
        "nodes": nodes,
        "edges": edges,
    }
    folder.mkdir(parents=True)
    (folder / "agent.json").write_text(json.dumps({"graph": graph, "goal": goal or GOAL}))
    (folder / "functions.py").write_text(functions)
    return folder


def validate(folder: Path, tmp_path: Path) -> ValidationResult:
    return AgentRunner.load(folder, storage_path=tmp_path / "home").validate()


FUNCTIONS = """
def load(path):
    return 1

def check(n):
    return n

def done():
    return True

def spare():
    return None
"""


def test_a_condition_naming_a_key_no_node_writes_or_reads_is_a_warning(tmp_path: Path) -> None:
    nodes = [
        node("load", input_keys=["path"], output_keys=["n"]),
        node("done", output_keys=["ok"]),
    ]
    edges = [
        {
            "id": "big",
            "source": "load",
            "target": "done",
            "condition": "conditional",
            "condition_expr": "n > limit and output['n'] != memory['typo']",
        },
        {"id": "always", "source": "load", "target": "done"},
    ]
    goal = {
        **GOAL,
        "success_criteria": [{"id": "sent", "description": "x", "expression": "receipt"}],
    }
    folder = write(tmp_path / "a", nodes, edges, FUNCTIONS, terminal=["done"], goal=goal)

    result = validate(folder, tmp_path)

    assert result.valid
    assert result.warnings == [
        "edge 'big' condition names 'limit', which no node writes and no node reads as "
        "input: evaluating it fails unless the run's input provides it",
        "edge 'big' condition names 'typo', which no node writes and no node reads as "
        "input: evaluating it fails unless the run's input provides it",
        "goal criterion 'sent' names 'receipt', which no node writes and no node reads as "
        "input: evaluating it fails unless the run's input provides it",
    ]


def test_a_router_without_a_default_route_is_a_warning(tmp_path: Path) -> None:
    nodes = [
        node("load", input_keys=["path"], output_keys=["n"]),
        node("pick", node_type="router", input_keys=["n"], routes={"n > 1": "done"}),
        node("done", output_keys=["ok"]),
    ]
    edges = [{"id": "loaded", "source": "load", "target": "pick"}]
    folder = write(tmp_path / "a", nodes, edges, FUNCTIONS, terminal=["done"])

    assert validate(folder, tmp_path).warnings == [
        "router node 'pick' has no 'default' route: when none of its route expressions "
        "is true, the node fails"
    ]


def test_nodes_unreachable_from_the_entry_are_a_warning(tmp_path: Path) -> None:
    nodes = [
        node("load", input_keys=["path"], output_keys=["n"]),
        node("done", output_keys=["ok"]),
        node("spare", output_keys=["unused"]),
    ]
    edges = [
        {"id": "loaded", "source": "load", "target": "done"},
        {"id": "spare_done", "source": "spare", "target": "done"},
    ]
    folder = write(tmp_path / "a", nodes, edges, FUNCTIONS, terminal=["done"])

    assert validate(folder, tmp_path).warnings == [
        "node 'spare' is unreachable: no edge or route from the entry node 'load' leads to it"
    ]


def test_a_node_whose_edges_are_all_conditional_may_dead_end_a_warning(tmp_path: Path) -> None:
    nodes = [
        node("load", input_keys=["path"], output_keys=["n"]),
        node("done", output_keys=["ok"]),
    ]
    edges = [
        {
            "id": "big",
            "source": "load",
            "target": "done",
            "condition": "conditional",
            "condition_expr": "n > 1",
        }
    ]
    folder = write(tmp_path / "a", nodes, edges, FUNCTIONS, terminal=["done"])

    assert validate(folder, tmp_path).warnings == [
        "node 'load' may be a dead end: its only edges on success are conditional "
        "('big'); when none matches the run fails there; add an always edge as the fallback"
    ]


def test_input_keys_a_function_does_not_take_are_a_warning(tmp_path: Path) -> None:
    nodes = [
        node("load", input_keys=["path", "mode"], output_keys=["n"]),
        node("done", output_keys=["ok"]),
    ]
    edges = [{"id": "loaded", "source": "load", "target": "done"}]
    folder = write(tmp_path / "a", nodes, edges, FUNCTIONS, terminal=["done"])

    assert validate(folder, tmp_path).warnings == [
        "function node 'load': its input key 'mode' is not a parameter of function 'load', "
        "which never receives it"
    ]


def test_a_function_needing_a_parameter_the_node_never_gives_is_an_error(tmp_path: Path) -> None:
    nodes = [
        node("load", input_keys=["path"], output_keys=["n"]),
        node("check", function="check", input_keys=["count"], output_keys=["m"]),
        node("done", output_keys=["ok"]),
    ]
    edges = [
        {"id": "loaded", "source": "load", "target": "check"},
        {"id": "checked", "source": "check", "target": "done"},
    ]
    folder = write(tmp_path / "a", nodes, edges, FUNCTIONS, terminal=["done"])

    with pytest.raises(AgentLoadError) as caught:
        validate(folder, tmp_path)

    assert (
        "function node 'check': function 'check' needs parameter 'n', which is not among "
        "its input_keys ['count']; every run of the node would fail"
    ) in str(caught.value)


@pytest.mark.parametrize("agent", ["document_triage", "expense_approval", "order_batch"])
def test_the_example_agents_validate_without_warnings(tmp_path: Path, agent: str) -> None:
    result = validate(EXAMPLES / agent, tmp_path)
    assert result.valid and result.errors == []
    human = [w for w in result.warnings if "needs an LLM" not in w]
    assert human == []


def test_the_validate_command_prints_the_warnings_and_exits_zero(tmp_path: Path) -> None:
    nodes = [
        node("load", input_keys=["path"], output_keys=["n"]),
        node("done", output_keys=["ok"]),
        node("spare", output_keys=["unused"]),
    ]
    edges = [{"id": "loaded", "source": "load", "target": "done"}]
    folder = write(tmp_path / "a", nodes, edges, FUNCTIONS, terminal=["done", "spare"])

    result = CliRunner().invoke(
        app, ["validate", str(folder)], env={"AGENTGRAPH_HOME": str(tmp_path)}
    )

    assert result.exit_code == 0, result.output
    assert "warning: node 'spare' is unreachable" in result.output


def test_the_validate_command_reports_all_four_kinds_in_its_json(tmp_path: Path) -> None:
    nodes = [
        node("load", input_keys=["path", "mode"], output_keys=["n"]),
        node("pick", node_type="router", input_keys=["n"], routes={"n > 1": "done"}),
        node("done", output_keys=["ok"]),
        node("spare", output_keys=["unused"]),
    ]
    edges = [
        {
            "id": "loaded",
            "source": "load",
            "target": "pick",
            "condition": "conditional",
            "condition_expr": "n > limit",
        },
        {"id": "fallback", "source": "load", "target": "done"},
    ]
    folder = write(tmp_path / "a", nodes, edges, FUNCTIONS, terminal=["done", "spare"])

    result = CliRunner().invoke(
        app, ["validate", str(folder), "--json"], env={"AGENTGRAPH_HOME": str(tmp_path)}
    )

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["valid"] is True and report["errors"] == []
    assert sorted(report["warnings"]) == sorted(
        [
            "node 'spare' is unreachable: no edge or route from the entry node 'load' leads to it",
            "router node 'pick' has no 'default' route: when none of its route expressions "
            "is true, the node fails",
            "edge 'loaded' condition names 'limit', which no node writes and no node reads "
            "as input: evaluating it fails unless the run's input provides it",
            "function node 'load': its input key 'mode' is not a parameter of function "
            "'load', which never receives it",
        ]
    )


@pytest.mark.parametrize(
    ("edge_fields", "nodes_of_check", "expected"),
    [
        (
            {"condition": "conditional", "condition_expr": "('a'*10000*10000*20)=='a'"},
            {"input_keys": ["n"]},
            "edge 'checked' condition: repetition is too large",
        ),
        (
            {},
            {"input_keys": ["count"]},
            "function node 'check': function 'check' needs parameter 'n'",
        ),
    ],
    ids=["condition-building-too-much", "function-needing-a-missing-parameter"],
)
def test_the_validate_command_exits_1_with_one_error_line(
    tmp_path: Path,
    edge_fields: dict[str, Any],
    nodes_of_check: dict[str, Any],
    expected: str,
) -> None:
    nodes = [
        node("load", input_keys=["path"], output_keys=["n"]),
        node("check", output_keys=["m"], **nodes_of_check),
        node("done", output_keys=["ok"]),
    ]
    edges = [
        {"id": "loaded", "source": "load", "target": "check"},
        {"id": "checked", "source": "check", "target": "done", **edge_fields},
        {"id": "fallback", "source": "check", "target": "done", "priority": -1},
    ]
    folder = write(tmp_path / "a", nodes, edges, FUNCTIONS, terminal=["done"])

    result = CliRunner().invoke(
        app, ["validate", str(folder)], env={"AGENTGRAPH_HOME": str(tmp_path)}
    )

    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert expected in lines[0]
    assert "Traceback" not in result.output
