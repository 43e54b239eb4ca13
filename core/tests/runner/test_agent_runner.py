"""AgentRunner: loading the example agent, running it, describing and validating agents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from framework.llm import MockLLMProvider, Tool
from framework.runner import AgentRunner
from framework.schemas.run import RunStatus

INVOICE_START = ["normalize", "classify", "route", "extract_invoice"]
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "agents" / "document_triage"

SMALL_INVOICE = "INVOICE No. A-1 From: Paper Co. Bill to: Acme. Total: $1,240.50 Due: 2024-04-30"
LARGE_INVOICE = "Invoice number: B-2 From: Hosting Ltd. Bill to: Acme. Amount due: EUR 48,300.00"
CONTRACT = (
    "This Services Agreement is made between Acme Corp and Globex, for a term of 12 months. "
    "The parties hereby agree. Governing law: Delaware."
)


def write_agent(
    folder: Path,
    nodes: list[dict[str, Any]],
    edges: list[dict[str, Any]] | None = None,
    functions: str | None = None,
    **graph: Any,
) -> Path:
    """Write an agent folder with the given nodes; the first node is the entry node."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "id": "test-agent",
        "entry_node": nodes[0]["id"],
        "nodes": [{"name": n["id"], "description": "test node", **n} for n in nodes],
        "edges": edges or [],
        **graph,
    }
    goal = {"id": "goal", "name": "Test goal", "description": "Exercise the runner."}
    (folder / "agent.json").write_text(json.dumps({"graph": spec, "goal": goal}))
    if functions is not None:
        (folder / "functions.py").write_text(functions)
    return folder


@pytest.fixture
def runner(tmp_path: Path) -> AgentRunner:
    return AgentRunner.load(EXAMPLE, storage_path=tmp_path / "home")


@pytest.mark.parametrize(
    ("document", "path", "decision"),
    [
        (SMALL_INVOICE, [*INVOICE_START, "auto_approve"], "auto_approve"),
        (LARGE_INVOICE, [*INVOICE_START, "escalate"], "escalate"),
        (CONTRACT, ["normalize", "classify", "route", "summarize_contract"], "file_contract"),
        (
            "Lunch moved to Thursday.",
            ["normalize", "classify", "route", "manual_review"],
            "manual_review",
        ),
        (
            "Invoice from Foo, bill to Bar; amount to follow.",
            [*INVOICE_START, "manual_review"],
            "manual_review",
        ),
    ],
    ids=["small-invoice", "large-invoice", "contract", "unknown", "invoice-without-amount"],
)
async def test_example_agent_routes_each_document(
    runner: AgentRunner, document: str, path: list[str], decision: str
) -> None:
    result = await runner.run({"document": document})
    assert result.success, result.error
    assert result.path == path
    assert result.output["triage"]["decision"] == decision
    assert result.steps_executed == len(path)


async def test_large_invoice_is_escalated_with_its_extracted_fields(runner: AgentRunner) -> None:
    result = await runner.run({"document": LARGE_INVOICE})
    assert result.output["amount"] == 48300.0
    assert result.output["triage"]["queue"] == "finance-director"
    assert result.output["triage"]["invoice"] == {
        "number": "B-2",
        "vendor": "Hosting Ltd",
        "due_date": None,
        "amount": 48300.0,
        "currency": "EUR",
    }


async def test_contract_summary_names_parties_and_term(runner: AgentRunner) -> None:
    result = await runner.run({"document": CONTRACT})
    triage = result.output["triage"]
    assert triage["parties"] == ["Acme Corp", "Globex"]
    assert triage["term_months"] == 12


async def test_each_run_is_recorded_in_the_decision_log(
    runner: AgentRunner, tmp_path: Path
) -> None:
    result = await runner.run({"document": SMALL_INVOICE})
    run_file = tmp_path / "home" / "decisions" / result.run_id / "run.json"
    assert json.loads(run_file.read_text())["status"] == "completed"
    log = runner.runtime.get_run(result.run_id)
    assert log.status is RunStatus.COMPLETED
    assert [d.node_id for d in log.decisions] == result.path


async def test_missing_input_fails_the_run_without_retrying(runner: AgentRunner) -> None:
    result = await runner.run({})
    assert not result.success
    assert "missing input 'document'" in (result.error or "")
    assert result.path == []


def test_info_describes_graph_goal_and_functions(runner: AgentRunner) -> None:
    info = runner.info()
    assert info.name == "Document triage"
    assert info.goal_name == "Triage incoming documents"
    assert info.entry_node == "normalize"
    assert set(info.terminal_nodes) == {
        "summarize_contract",
        "escalate",
        "auto_approve",
        "manual_review",
    }
    assert [n.id for n in info.nodes][:3] == ["normalize", "classify", "route"]
    assert {n.type for n in info.nodes} == {"function", "router"}
    over_limit = next(e for e in info.edges if e.id == "over_limit")
    assert (over_limit.source, over_limit.target) == ("extract_invoice", "escalate")
    assert over_limit.condition_expr == "amount > 10000"
    assert "extract_invoice_fields" in info.functions
    assert info.pause_nodes == []


def test_example_agent_validates_cleanly(runner: AgentRunner) -> None:
    result = runner.validate()
    assert result.valid
    assert result.errors == []
    assert result.warnings == []


def test_llm_nodes_without_an_llm_are_warnings_not_errors(tmp_path: Path) -> None:
    folder = write_agent(
        tmp_path / "agent",
        [
            {"id": "draft", "node_type": "llm_generate", "output_keys": ["reply"]},
            {"id": "act", "node_type": "llm_tool_use", "tools": ["search"]},
        ],
        [{"id": "e", "source": "draft", "target": "act"}],
    )
    result = AgentRunner.load(folder, storage_path=tmp_path).validate()
    assert result.valid
    assert any("'draft'" in w and "LLM" in w for w in result.warnings)
    assert any("undeclared tool 'search'" in w for w in result.warnings)
    assert any("no tool_executor" in w for w in result.warnings)


async def test_llm_given_to_load_reaches_llm_nodes(tmp_path: Path) -> None:
    folder = write_agent(
        tmp_path / "agent",
        [
            {
                "id": "draft",
                "node_type": "llm_generate",
                "input_keys": ["topic"],
                "output_keys": ["poem"],
            }
        ],
    )
    llm = MockLLMProvider(["a short poem"])
    runner = AgentRunner.load(folder, llm=llm, storage_path=tmp_path)
    assert runner.validate().warnings == []
    result = await runner.run({"topic": "rain"})
    assert result.success, result.error
    assert len(llm.calls) == 1
    assert result.output["poem"] == "a short poem"
    assert result.total_tokens > 0


def test_tools_from_agent_json_and_from_load_are_merged(tmp_path: Path) -> None:
    folder = write_agent(tmp_path / "agent", [{"id": "act", "node_type": "llm_tool_use"}])
    data = json.loads((folder / "agent.json").read_text())
    data["graph"]["nodes"][0]["tools"] = ["search", "fetch"]
    data["tools"] = [{"name": "search", "description": "from agent.json"}]
    (folder / "agent.json").write_text(json.dumps(data))
    runner = AgentRunner.load(
        folder,
        tools=[Tool(name="fetch"), Tool(name="search", description="given")],
        tool_executor=lambda call: "ok",
        llm=MockLLMProvider([]),
        storage_path=tmp_path,
    )
    assert sorted(runner.info().tools) == ["fetch", "search"]
    assert {t.name: t.description for t in runner.tools}["search"] == "given"
    assert runner.validate().warnings == []


def test_functions_dict_adds_and_overrides_names(tmp_path: Path) -> None:
    functions = (
        "from os.path import join\n"
        "def shout(text):\n    return text.upper()\n"
        "def _helper():\n    return 1\n"
        "FUNCTIONS = {'loud': shout, 'join_paths': join}\n"
    )
    folder = write_agent(
        tmp_path / "agent",
        [{"id": "speak", "function": "loud", "input_keys": ["text"], "output_keys": ["out"]}],
        functions=functions,
    )
    runner = AgentRunner.load(folder, storage_path=tmp_path)
    assert runner.info().functions == ["join_paths", "loud", "shout"]


async def test_function_found_by_node_id_when_spec_names_none(tmp_path: Path) -> None:
    folder = write_agent(
        tmp_path / "agent",
        [{"id": "double", "input_keys": ["n"], "output_keys": ["n2"]}],
        functions="def double(n):\n    return n * 2\n",
    )
    result = await AgentRunner.load(folder, storage_path=tmp_path).run({"n": 21})
    assert result.output["n2"] == 42


async def test_agents_with_the_same_folder_name_keep_their_own_functions(tmp_path: Path) -> None:
    results = []
    for value in ("first", "second"):
        folder = write_agent(
            tmp_path / value / "agent",
            [{"id": "say", "output_keys": ["said"]}],
            functions=f"def say():\n    return {value!r}\n",
        )
        results.append(AgentRunner.load(folder, storage_path=tmp_path))
    outputs = [(await r.run()).output["said"] for r in results]
    assert outputs == ["first", "second"]


def test_dataclasses_in_functions_file_work(tmp_path: Path) -> None:
    functions = (
        "from __future__ import annotations\n"
        "from dataclasses import dataclass\n"
        "@dataclass\nclass Point:\n    x: int\n"
        "def make():\n    return Point(1)\n"
    )
    folder = write_agent(tmp_path / "agent", [{"id": "make"}], functions=functions)
    assert AgentRunner.load(folder, storage_path=tmp_path).info().functions == ["make"]


def test_storage_defaults_to_agentgraph_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTGRAPH_HOME", str(tmp_path / "custom"))
    assert AgentRunner.load(EXAMPLE).runtime.root == tmp_path / "custom" / "decisions"
    monkeypatch.delenv("AGENTGRAPH_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    expected = tmp_path / "user" / ".agentgraph" / "decisions"
    assert AgentRunner.load(EXAMPLE).runtime.root == expected
