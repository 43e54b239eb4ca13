"""The `agentgraph` command: run, info and validate, exit codes, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from framework.cli.main import app

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "agents" / "document_triage"
LARGE_INVOICE = json.dumps(
    {"document": "Invoice no. 9 from: Big Co. Total: $25,000.00 bill to: Us"}
)
SCRIPT = Path(sys.executable).parent / "agentgraph"


def run_cli(*args: str, home: Path, via: str = "module") -> subprocess.CompletedProcess[str]:
    command = [str(SCRIPT)] if via == "script" else [sys.executable, "-m", "framework.cli.main"]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"AGENTGRAPH_HOME": str(home), "PATH": "/usr/bin:/bin", "HOME": str(home)},
    )


def broken_agent(tmp_path: Path) -> Path:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "agent.json").write_text('{"graph": {"id": "g",,}')
    return folder


def write_agent(tmp_path: Path, graph: dict[str, Any], functions: str) -> Path:
    folder = tmp_path / "agent"
    folder.mkdir()
    goal = {"id": "goal", "name": "Goal", "description": "Test."}
    (folder / "agent.json").write_text(json.dumps({"graph": graph, "goal": goal}))
    (folder / "functions.py").write_text(functions)
    return folder


def assert_one_error_line(stderr: str, fragment: str) -> None:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert fragment in lines[0]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("AGENTGRAPH_HOME", str(tmp_path / "home"))
    return CliRunner()


@pytest.mark.parametrize("via", ["module", "script"])
def test_run_prints_the_result_and_exits_zero(tmp_path: Path, via: str) -> None:
    completed = run_cli("run", str(EXAMPLE), "--input", LARGE_INVOICE, home=tmp_path, via=via)
    assert completed.returncode == 0, completed.stderr
    assert "completed" in completed.stdout
    assert "normalize -> classify -> route -> extract_invoice -> escalate" in completed.stdout
    assert '"decision": "escalate"' in completed.stdout
    assert completed.stderr == ""
    assert len(list((tmp_path / "decisions").iterdir())) == 1, "the run is logged in the home"


@pytest.mark.parametrize("via", ["module", "script"])
def test_broken_agent_exits_one_with_a_single_error_line(tmp_path: Path, via: str) -> None:
    folder = broken_agent(tmp_path)
    completed = run_cli("run", str(folder), home=tmp_path, via=via)
    assert completed.returncode == 1
    assert_one_error_line(completed.stderr, f"{folder / 'agent.json'}:1:22: malformed JSON")
    assert completed.stdout == ""


@pytest.mark.parametrize("command", ["info", "validate"])
def test_info_and_validate_of_a_broken_agent_exit_one(
    cli: CliRunner, tmp_path: Path, command: str
) -> None:
    folder = broken_agent(tmp_path)
    result = cli.invoke(app, [command, str(folder)])
    assert result.exit_code == 1
    assert_one_error_line(result.stderr, "malformed JSON")


def test_bad_input_json_exits_one_with_a_single_error_line(tmp_path: Path) -> None:
    completed = run_cli("run", str(EXAMPLE), "--input", "{not json", home=tmp_path)
    assert completed.returncode == 1
    assert_one_error_line(completed.stderr, "--input is not valid JSON")
    assert completed.stdout == ""


def test_run_json_prints_only_the_result_as_json(cli: CliRunner) -> None:
    result = cli.invoke(app, ["run", str(EXAMPLE), "--input", LARGE_INVOICE, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["success"] is True
    assert data["path"] == ["normalize", "classify", "route", "extract_invoice", "escalate"]
    assert data["output"]["triage"]["queue"] == "finance-director"


@pytest.mark.parametrize("given", [["--input-file", "{path}"], ["--input", "@{path}"]])
def test_run_reads_input_from_a_file(cli: CliRunner, tmp_path: Path, given: list[str]) -> None:
    input_file = tmp_path / "input.json"
    input_file.write_text(json.dumps({"document": "Lunch moves to Thursday."}))
    options = [option.format(path=input_file) for option in given]
    result = cli.invoke(app, ["run", str(EXAMPLE), *options, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["output"]["triage"]["decision"] == "manual_review"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--input", "[1, 2]"], "--input must be a JSON object, not list"),
        (["--input-file", "/nonexistent/input.json"], "cannot read /nonexistent/input.json"),
    ],
)
def test_unusable_input_is_a_one_line_error(cli: CliRunner, args: list[str], fragment: str) -> None:
    result = cli.invoke(app, ["run", str(EXAMPLE), *args])
    assert result.exit_code == 1
    assert_one_error_line(result.stderr, fragment)


def test_input_and_input_file_together_is_a_usage_error(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["run", str(EXAMPLE), "--input", "{}", "--input-file", "x.json"])
    assert result.exit_code == 2


def test_failed_run_prints_the_result_then_exits_one(cli: CliRunner) -> None:
    result = cli.invoke(app, ["run", str(EXAMPLE), "--input", "{}"])
    assert result.exit_code == 1
    assert "failed" in result.stdout
    assert_one_error_line(result.stderr, "node 'normalize' failed after 1 attempts")


def test_paused_run_exits_zero_and_says_where(cli: CliRunner, tmp_path: Path) -> None:
    graph = {
        "id": "g",
        "entry_node": "draft",
        "pause_nodes": ["draft"],
        "nodes": [
            {"id": "draft", "name": "Draft", "description": "d", "output_keys": ["text"]},
            {"id": "send", "name": "Send", "description": "s", "input_keys": ["text"]},
        ],
        "edges": [{"id": "e", "source": "draft", "target": "send"}],
    }
    functions = "def draft():\n    return 'hi'\n\ndef send(text):\n    return None\n"
    folder = write_agent(tmp_path, graph, functions)
    result = cli.invoke(app, ["run", str(folder)])
    assert result.exit_code == 0, result.output
    assert "paused at node 'draft'" in result.stdout
    assert result.stderr == ""


def test_info_describes_the_agent(cli: CliRunner) -> None:
    result = cli.invoke(app, ["info", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    for fragment in (
        "Document triage",
        "Triage incoming documents",
        "extract_invoice",
        "amount > 10000",
    ):
        assert fragment in result.stdout
    data = json.loads(cli.invoke(app, ["info", str(EXAMPLE), "--json"]).stdout)
    assert data["entry_node"] == "normalize"
    assert len(data["nodes"]) == 8


def test_validate_reports_valid_and_warnings(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["validate", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.stdout
    graph = {
        "id": "g",
        "entry_node": "ask",
        "nodes": [{"id": "ask", "name": "Ask", "description": "d", "node_type": "llm_generate"}],
    }
    folder = write_agent(tmp_path, graph, "")
    result = cli.invoke(app, ["validate", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["valid"] is True
    assert data["warnings"] == ["llm_generate node 'ask' needs an LLM and none is configured"]


def test_validate_lists_every_problem_of_an_invalid_graph(cli: CliRunner, tmp_path: Path) -> None:
    graph = {
        "id": "g",
        "entry_node": "a",
        "nodes": [{"id": "a", "name": "A", "description": "d"}],
        "edges": [{"id": "lost", "source": "a", "target": "ghost"}],
    }
    folder = write_agent(tmp_path, graph, "def unrelated():\n    return 1\n")
    result = cli.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 1
    assert_one_error_line(result.stderr, "edge 'lost' target refers to missing node 'ghost'")
    assert "function node 'a' has no function" in result.stderr


def test_demo_tells_the_recovery_story_then_triages_every_sample(tmp_path: Path) -> None:
    demo = EXAMPLE.parents[1] / "run_demo.py"
    completed = subprocess.run(
        [sys.executable, str(demo)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"AGENTGRAPH_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert completed.returncode == 0, completed.stderr
    assert "the worker is gone: killed by SIGKILL" in completed.stdout
    assert "final result equals the uninterrupted run: yes" in completed.stdout
    for decision in ("auto_approve", "escalate", "file_contract", "manual_review"):
        assert f"decision: {decision}" in completed.stdout
    assert completed.stdout.count("(completed)") == 4
    assert len(list((tmp_path / "decisions").iterdir())) == 4
    assert (tmp_path / "state.db").is_file()
