"""Every way an agent folder can be broken is an AgentLoadError naming the file or element."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from framework.errors import AgentLoadError
from framework.runner import AgentRunner

GOAL = {"id": "goal", "name": "Goal", "description": "Test."}


def node(node_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": node_id, "name": node_id, "description": "test node", **fields}


def write(folder: Path, data: Any, functions: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = data if isinstance(data, str) else json.dumps(data, indent=2)
    (folder / "agent.json").write_text(text)
    if functions is not None:
        (folder / "functions.py").write_text(functions)
    return folder


def graph(nodes: list[dict[str, Any]], edges: list[dict[str, Any]] | None = None) -> dict:
    return {"id": "g", "entry_node": nodes[0]["id"], "nodes": nodes, "edges": edges or []}


def load_error(folder: Path, tmp_path: Path) -> AgentLoadError:
    with pytest.raises(AgentLoadError) as caught:
        AgentRunner.load(folder, storage_path=tmp_path / "home")
    return caught.value


def test_missing_folder_is_named(tmp_path: Path) -> None:
    error = load_error(tmp_path / "nowhere", tmp_path)
    assert error.where == str(tmp_path / "nowhere")
    assert "does not exist" in str(error)


def test_a_file_instead_of_a_folder_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "agent.json"
    file.write_text("{}")
    assert "is not a folder" in str(load_error(file, tmp_path))


def test_missing_agent_json_is_named(tmp_path: Path) -> None:
    (tmp_path / "agent").mkdir()
    error = load_error(tmp_path / "agent", tmp_path)
    assert error.where == str(tmp_path / "agent" / "agent.json")
    assert "missing agent.json" in error.reason


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    folder = write(tmp_path / "agent", '{\n  "graph": {,\n}')
    error = load_error(folder, tmp_path)
    assert error.where == f"{folder / 'agent.json'}:2:13"
    assert "malformed JSON" in error.reason


def test_json_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    folder = write(tmp_path / "agent", "[1, 2]")
    assert "must hold a JSON object, not list" in str(load_error(folder, tmp_path))


@pytest.mark.parametrize("missing", ["graph", "goal"])
def test_missing_graph_or_goal_is_named(tmp_path: Path, missing: str) -> None:
    data = {"graph": graph([node("a")]), "goal": GOAL}
    del data[missing]
    error = load_error(write(tmp_path / "agent", data), tmp_path)
    assert f"missing top-level key(s) '{missing}'" in error.reason


def test_unknown_top_level_key_is_named(tmp_path: Path) -> None:
    data = {"graph": graph([node("a")]), "goal": GOAL, "grpah": {}}
    assert "unknown top-level key(s) 'grpah'" in str(
        load_error(write(tmp_path / "a", data), tmp_path)
    )


def test_unknown_node_type_names_the_node_and_allowed_values(tmp_path: Path) -> None:
    data = {"graph": graph([node("a"), node("think", node_type="llm_magic")]), "goal": GOAL}
    error = load_error(write(tmp_path / "agent", data), tmp_path)
    assert error.where == str(tmp_path / "agent" / "agent.json")
    message = str(error)
    assert "graph.nodes[1] (node 'think').node_type" in message
    assert "'llm_magic'" in message
    for allowed in ("function", "llm_generate", "llm_tool_use", "router", "human_input"):
        assert allowed in message


def test_missing_and_unknown_fields_name_the_element(tmp_path: Path) -> None:
    broken_node = {"id": "a", "description": "no name", "colour": "red"}
    edge = {"id": "e1", "source": "a"}
    data = {"graph": graph([broken_node], [edge]), "goal": GOAL}
    message = str(load_error(write(tmp_path / "agent", data), tmp_path))
    assert "graph.nodes[0] (node 'a').name: required field is missing" in message
    assert "graph.nodes[0] (node 'a').colour: unknown field" in message
    assert "graph.edges[0] (edge 'e1').target: required field is missing" in message


def test_invalid_goal_is_named(tmp_path: Path) -> None:
    data = {"graph": graph([node("a")]), "goal": {"id": "goal", "name": "x"}}
    message = str(load_error(write(tmp_path / "agent", data), tmp_path))
    assert "invalid goal: goal.description: required field is missing" in message


def test_invalid_tools_are_named(tmp_path: Path) -> None:
    data = {"graph": graph([node("a")]), "goal": GOAL, "tools": [{"description": "no name"}]}
    message = str(load_error(write(tmp_path / "agent", data), tmp_path))
    assert "invalid tools: tools[0].name: required field is missing" in message


def test_function_node_without_a_function_names_the_node(tmp_path: Path) -> None:
    data = {"graph": graph([node("a", function="do_a")]), "goal": GOAL}
    folder = write(tmp_path / "agent", data, functions="def other():\n    return 1\n")
    message = str(load_error(folder, tmp_path))
    assert "function node 'a' has no function" in message
    assert "functions.py defines no function 'do_a'" in message


def test_function_node_without_functions_file_says_so(tmp_path: Path) -> None:
    data = {"graph": graph([node("a")]), "goal": GOAL}
    message = str(load_error(write(tmp_path / "agent", data), tmp_path))
    assert "function node 'a' has no function" in message
    assert "there is no functions.py" in message


def test_router_naming_a_missing_function_is_an_error(tmp_path: Path) -> None:
    router = node("pick", node_type="router", function="choose", routes={"x": "a"})
    data = {"graph": graph([router, node("a")]), "goal": GOAL}
    folder = write(tmp_path / "agent", data, functions="def a():\n    return 1\n")
    assert "router node 'pick' has no function" in str(load_error(folder, tmp_path))


def test_edge_to_a_missing_node_names_the_edge(tmp_path: Path) -> None:
    edges = [{"id": "to_nowhere", "source": "a", "target": "ghost"}]
    data = {"graph": graph([node("a")], edges), "goal": GOAL}
    folder = write(tmp_path / "agent", data, functions="def a():\n    return 1\n")
    message = str(load_error(folder, tmp_path))
    assert "edge 'to_nowhere' target refers to missing node 'ghost'" in message


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    edges = [{"id": "bad", "source": "a", "target": "ghost"}]
    data = {"graph": graph([node("a"), node("b")], edges), "goal": GOAL}
    message = str(load_error(write(tmp_path / "agent", data), tmp_path))
    assert "edge 'bad'" in message
    assert "function node 'a'" in message
    assert "function node 'b'" in message


def test_functions_file_raising_on_import_names_file_and_exception(tmp_path: Path) -> None:
    data = {"graph": graph([node("a")]), "goal": GOAL}
    folder = write(tmp_path / "agent", data, functions="import nonexistent_module_xyz\n")
    error = load_error(folder, tmp_path)
    assert error.where == str(folder / "functions.py")
    assert "ModuleNotFoundError" in error.reason
    assert "nonexistent_module_xyz" in error.reason


def test_functions_file_with_a_syntax_error_is_named(tmp_path: Path) -> None:
    data = {"graph": graph([node("a")]), "goal": GOAL}
    folder = write(tmp_path / "agent", data, functions="def a(:\n")
    error = load_error(folder, tmp_path)
    assert error.where == str(folder / "functions.py")
    assert "SyntaxError" in error.reason


def test_functions_dict_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    data = {"graph": graph([node("a")]), "goal": GOAL}
    folder = write(tmp_path / "agent", data, functions="FUNCTIONS = {'a': 42}\n")
    assert "FUNCTIONS entry 'a' must map a name to a callable" in str(load_error(folder, tmp_path))


def test_nothing_is_recorded_for_an_agent_that_failed_to_load(tmp_path: Path) -> None:
    data = {"graph": graph([node("a")]), "goal": GOAL}
    load_error(write(tmp_path / "agent", data), tmp_path)
    assert not (tmp_path / "home").exists()
