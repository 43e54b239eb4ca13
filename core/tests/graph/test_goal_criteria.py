"""A goal's success criteria that have an expression are checked on the final memory.

The result lists every criterion as met, not met, or not checked (no expression); a
completed run that misses one is not a success: it fails, naming the criterion.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from framework.cli.main import app
from framework.errors import GraphValidationError
from framework.graph import EdgeSpec, GraphSpec
from framework.graph.checkpoint_manager import CheckpointManager
from framework.graph.executor import GraphExecutor
from framework.graph.goal import CriterionResult, Goal, SuccessCriterion
from framework.graph.node import NodeSpec, NodeType
from framework.runner import AgentRunner
from framework.schemas.run import RunStatus

EXAMPLES = Path(__file__).parents[3] / "examples" / "agents"

GRAPH = GraphSpec(
    id="g",
    entry_node="triage",
    terminal_nodes=["triage"],
    nodes=[NodeSpec(id="triage", name="t", description="t", output_keys=["queue", "score"])],
)


def goal(*criteria: SuccessCriterion) -> Goal:
    return Goal(id="goal", name="Goal", description="Triage.", success_criteria=list(criteria))


ROUTED = SuccessCriterion(id="routed", description="Routed.", expression="queue is not None")
CONFIDENT = SuccessCriterion(id="confident", description="Sure.", expression="score >= 0.8")
READABLE = SuccessCriterion(id="readable", description="A person can follow the reason.")


def executor(queue: str | None, score: float) -> GraphExecutor:
    built = GraphExecutor()
    built.register_function("triage", lambda: {"queue": queue, "score": score})
    return built


async def test_met_criteria_are_listed_and_the_run_succeeds() -> None:
    result = await executor("finance", 0.9).execute(GRAPH, goal(ROUTED, CONFIDENT, READABLE))

    assert result.success and result.run_status is RunStatus.COMPLETED
    assert [(c.id, c.met) for c in result.criteria] == [
        ("routed", True),
        ("confident", True),
        ("readable", None),
    ]


async def test_a_criterion_not_met_fails_the_run_naming_it() -> None:
    result = await executor("finance", 0.3).execute(GRAPH, goal(ROUTED, CONFIDENT, READABLE))

    assert not result.success
    assert result.run_status is RunStatus.FAILED
    assert result.error == "goal criterion 'confident' not met: 'score >= 0.8' is false"
    assert result.criteria[1] == CriterionResult(
        id="confident",
        description="Sure.",
        expression="score >= 0.8",
        met=False,
        detail="'score >= 0.8' is false",
    )
    assert result.criteria[0].met is True and result.criteria[2].met is None
    assert result.path == ["triage"]


async def test_a_criterion_naming_a_key_the_run_never_wrote_is_not_met() -> None:
    silent = GRAPH.model_copy(
        update={"nodes": [NodeSpec(id="triage", name="t", description="writes nothing")]}
    )
    wrote_nothing = GraphExecutor()
    wrote_nothing.register_function("triage", lambda: None)
    result = await wrote_nothing.execute(silent, goal(ROUTED))

    assert not result.success
    assert result.error is not None
    assert result.error.startswith("goal criterion 'routed' not met: unknown name 'queue'")


async def test_a_criterion_whose_expression_is_refused_stops_the_run_before_it_starts() -> None:
    evil = SuccessCriterion(id="evil", description="x", expression="().__class__")
    ran: list[str] = []
    ex = GraphExecutor()
    ex.register_function("triage", lambda: ran.append("triage"))

    with pytest.raises(GraphValidationError, match="goal criterion 'evil' expression"):
        await ex.execute(GRAPH, goal(evil))
    assert ran == []


async def test_a_paused_run_checks_no_criteria_yet() -> None:
    graph = GraphSpec(
        id="g",
        entry_node="ask",
        terminal_nodes=["triage"],
        nodes=[
            NodeSpec(
                id="ask",
                name="a",
                description="a",
                node_type=NodeType.HUMAN_INPUT,
                output_keys=["ok"],
            ),
            *GRAPH.nodes,
        ],
        edges=[EdgeSpec(id="asked", source="ask", target="triage")],
    )
    result = await executor("finance", 0.1).execute(graph, goal(CONFIDENT))

    assert result.success and result.run_status is RunStatus.PAUSED
    assert result.criteria == []


async def test_a_stored_run_missing_a_criterion_is_recorded_failed_naming_it() -> None:
    async with CheckpointManager("memory://") as manager:
        ex = executor("finance", 0.3)
        ex.checkpoint_manager = manager
        result = await ex.execute(GRAPH, goal(CONFIDENT), run_id="r1")
        record = await manager.storage.aget_run("r1")

    assert result.run_status is RunStatus.FAILED
    assert record is not None and record.status is RunStatus.FAILED
    assert "goal criterion 'confident' not met" in (record.last_error or "")


async def test_a_completed_run_asked_for_again_lists_its_criteria() -> None:
    async with CheckpointManager("memory://") as manager:
        ex = executor("finance", 0.9)
        ex.checkpoint_manager = manager
        first = await ex.execute(GRAPH, goal(CONFIDENT), run_id="r1")
        again = await ex.execute(GRAPH, goal(CONFIDENT), run_id="r1")

    assert first.success and again.success
    assert again.criteria == first.criteria
    assert [(c.id, c.met) for c in again.criteria] == [("confident", True)]


async def test_the_example_agents_criteria_are_checked(tmp_path: Path) -> None:
    folder = EXAMPLES / "document_triage"
    async with AgentRunner.load(folder, storage_path=tmp_path / "home") as runner:
        result = await runner.run({"document": "Contract between Acme and Bolt, term 2 years"})

    assert result.success, result.error
    assert [(c.id, c.met) for c in result.criteria] == [("routed", True)]


def cli(*args: str, home: Path) -> Result:
    return CliRunner().invoke(app, list(args), env={"AGENTGRAPH_HOME": str(home)})


def test_the_json_result_of_a_run_lists_each_criterion(tmp_path: Path) -> None:
    document = json.dumps({"document": "Contract between Acme and Bolt, term 2 years"})
    storage = f"sqlite:///{tmp_path / 'state.db'}"
    folder = str(EXAMPLES / "document_triage")

    finished = cli(
        "run", folder, "--input", document, "--storage", storage, "--json", home=tmp_path
    )

    assert finished.exit_code == 0, finished.output
    assert json.loads(finished.stdout)["criteria"] == [
        {
            "id": "routed",
            "description": "The document received a triage decision.",
            "expression": "triage is not None",
            "met": True,
            "detail": "",
        }
    ]


def test_a_run_missing_a_criterion_exits_1_naming_it(tmp_path: Path) -> None:
    folder = shutil.copytree(
        EXAMPLES / "document_triage",
        tmp_path / "agent",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    agent = json.loads((folder / "agent.json").read_text())
    agent["goal"]["success_criteria"].append(
        {"id": "urgent", "description": "Flagged urgent.", "expression": "triage == 'urgent'"}
    )
    (folder / "agent.json").write_text(json.dumps(agent))
    document = json.dumps({"document": "Contract between Acme and Bolt, term 2 years"})
    storage = f"sqlite:///{tmp_path / 'state.db'}"

    finished = cli("run", str(folder), "--input", document, "--storage", storage, home=tmp_path)

    assert finished.exit_code == 1
    assert finished.stderr.splitlines()[-1].startswith(
        "error: goal criterion 'urgent' not met: \"triage == 'urgent'\" is false"
    )
    assert "Traceback" not in finished.output
