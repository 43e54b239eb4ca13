"""AgentRunner runs durably: default storage, run ids, resume, and recovery of crashed runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from runner_agents import ran, write_chain

from framework.errors import GraphChangedError, RunConflictError, RunNotFoundError
from framework.llm import MockLLMProvider
from framework.runner import AgentRunner, default_storage_url
from framework.schemas.checkpoint import CheckpointConfig
from framework.schemas.lease import make_owner_id
from framework.schemas.run import RunRecord, RunStatus
from framework.storage import open_storage

NODES = ["a", "b", "c", "d"]
START = {"acc": []}

CRASHING_CHILD = """
import sys
import anyio
from framework.runner import AgentRunner

agent, storage, home, run_id = sys.argv[1:5]


async def main():
    async with AgentRunner.load(agent, storage=storage, storage_path=home) as runner:
        await runner.run({"acc": []}, run_id=run_id)


anyio.run(main)
"""


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ran.log"
    monkeypatch.setenv("RUNNER_TEST_LOG", str(path))
    monkeypatch.delenv("AGENTGRAPH_STORAGE", raising=False)
    return path


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path / 'state.db'}"


def crash_in_child(agent: Path, url: str, home: Path, run_id: str, at: str, log: Path) -> None:
    """Run ``run_id`` in a child process that dies by SIGKILL when node ``at`` runs."""
    env = {**os.environ, "RUNNER_TEST_LOG": str(log), "RUNNER_TEST_CRASH_AT": at}
    child = subprocess.run(
        [sys.executable, "-c", CRASHING_CHILD, str(agent), url, str(home), run_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr


def stored(url: str, run_id: str) -> RunRecord:
    with open_storage(url) as storage:
        record = storage.get_run(run_id)
    assert record is not None
    return record


async def test_runs_are_stored_in_the_agent_home_database_by_default(
    tmp_path: Path, log: Path
) -> None:
    agent = write_chain(tmp_path / "agent", NODES)
    async with AgentRunner.load(agent, storage_path=tmp_path / "home") as runner:
        result = await runner.run(START, run_id="first")
    assert result.output["acc"] == NODES
    database = tmp_path / "home" / "state.db"
    assert database.is_file()
    record = stored(f"sqlite://{database}", "first")
    assert (record.status, record.agent_id, record.graph_id) == ("completed", "chain", "chain")


def test_default_storage_url_follows_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGENTGRAPH_STORAGE", raising=False)
    monkeypatch.setenv("AGENTGRAPH_HOME", str(tmp_path / "home"))
    assert default_storage_url() == f"sqlite://{tmp_path / 'home' / 'state.db'}"
    monkeypatch.setenv("AGENTGRAPH_STORAGE", "memory://")
    assert default_storage_url() == "memory://"
    assert AgentRunner.load(write_chain(tmp_path / "agent", NODES)).storage == "memory://"


def test_describing_an_agent_opens_no_storage(tmp_path: Path, log: Path) -> None:
    runner = AgentRunner.load(write_chain(tmp_path / "agent", NODES), storage_path=tmp_path)
    runner.info()
    runner.validate()
    assert not (tmp_path / "state.db").exists()


async def test_disabled_checkpointing_runs_without_storage(tmp_path: Path, log: Path) -> None:
    agent = write_chain(tmp_path / "agent", NODES)
    off = CheckpointConfig(enabled=False)
    async with AgentRunner.load(agent, storage_path=tmp_path, checkpoint_config=off) as runner:
        assert runner.checkpoint_manager is None
        result = await runner.run(START)
        assert result.output["acc"] == NODES
        assert await runner.recover() == []
        with pytest.raises(RunNotFoundError, match="durability is off"):
            await runner.resume(result.run_id)
    assert not (tmp_path / "state.db").exists()


async def test_same_run_id_again_returns_the_stored_result_without_running(
    tmp_path: Path, log: Path, url: str
) -> None:
    agent = write_chain(tmp_path / "agent", NODES)
    async with AgentRunner.load(agent, storage=url, storage_path=tmp_path) as runner:
        first = await runner.run(START, run_id="once")
    async with AgentRunner.load(agent, storage=url, storage_path=tmp_path) as runner:
        again = await runner.run(START, run_id="once")
    assert again.output == first.output
    assert again.run_status == "completed"
    assert ran(log) == NODES


async def test_same_run_id_with_other_input_is_refused(tmp_path: Path, log: Path, url: str) -> None:
    agent = write_chain(tmp_path / "agent", NODES)
    async with AgentRunner.load(agent, storage=url, storage_path=tmp_path) as runner:
        await runner.run(START, run_id="once")
        with pytest.raises(RunConflictError, match="other input"):
            await runner.run({"acc": ["x"]}, run_id="once")


async def test_recover_continues_a_run_whose_process_was_killed(
    tmp_path: Path, log: Path, url: str
) -> None:
    agent = write_chain(tmp_path / "agent", NODES)
    crash_in_child(agent, url, tmp_path, "crashed", "c", log)
    assert ran(log) == ["a", "b", "c"]
    assert stored(url, "crashed").status == "running"
    async with AgentRunner.load(agent, storage=url, storage_path=tmp_path) as runner:
        assert [r.run_id for r in await runner.abandoned_runs()] == ["crashed"]
        results = await runner.recover()
    assert [(r.run_id, r.run_status) for r in results] == [("crashed", "completed")]
    assert results[0].output["acc"] == NODES
    assert ran(log) == ["a", "b", "c", "c", "d"], "only the node in flight ran again"
    assert stored(url, "crashed").status == "completed"


async def test_first_run_recovers_crashed_runs_unless_told_not_to(
    tmp_path: Path, log: Path, url: str
) -> None:
    agent = write_chain(tmp_path / "agent", NODES)
    crash_in_child(agent, url, tmp_path, "crashed", "b", log)
    off = AgentRunner.load(agent, storage=url, storage_path=tmp_path, auto_recover=False)
    async with off:
        await off.run(START, run_id="fresh-1")
    assert stored(url, "crashed").status == "running"
    async with AgentRunner.load(agent, storage=url, storage_path=tmp_path) as runner:
        await runner.run(START, run_id="fresh-2")
        await runner.run(START, run_id="fresh-3")
    assert stored(url, "crashed").status == "completed"
    assert ran(log) == ["a", "b", *NODES, "b", "c", "d", *NODES, *NODES]


async def test_recover_leaves_runs_that_a_live_process_holds_or_that_stopped_on_purpose(
    tmp_path: Path, log: Path, url: str
) -> None:
    agent = write_chain(tmp_path / "agent", NODES, human_after="b")
    with open_storage(url) as storage:
        storage.create_run(RunRecord(run_id="held", agent_id="chain", status=RunStatus.RUNNING))
        storage.claim_run("held", make_owner_id(), ttl_seconds=60)
        storage.create_run(RunRecord(run_id="broken", agent_id="chain", status=RunStatus.FAILED))
        storage.create_run(RunRecord(run_id="other", agent_id="another", status=RunStatus.RUNNING))
    async with AgentRunner.load(agent, storage=url, storage_path=tmp_path) as runner:
        paused = await runner.run(START, run_id="waiting")
        assert paused.run_status == "paused"
        assert await runner.abandoned_runs() == []
        assert await runner.recover() == []
    assert [stored(url, r).status for r in ("held", "broken", "other", "waiting")] == [
        "running",
        "failed",
        "running",
        "paused",
    ]


async def test_a_run_that_cannot_be_recovered_is_reported_and_skipped(
    tmp_path: Path, log: Path, url: str
) -> None:
    agent = write_chain(tmp_path / "agent", NODES)
    crash_in_child(agent, url, tmp_path, "crashed", "b", log)
    write_chain(tmp_path / "agent", NODES, max_retries=2)
    skipped = []
    async with AgentRunner.load(agent, storage=url, storage_path=tmp_path) as runner:
        results = await runner.recover(
            on_skip=lambda record, error: skipped.append((record.run_id, type(error)))
        )
    assert results == []
    assert skipped == [("crashed", GraphChangedError)]


async def test_human_input_run_resumes_with_the_answer_in_another_runner(
    tmp_path: Path, log: Path, url: str
) -> None:
    agent = write_chain(tmp_path / "agent", NODES, human_after="b")
    async with AgentRunner.load(agent, storage=url, storage_path=tmp_path) as runner:
        paused = await runner.run(START, run_id="ask")
    assert (paused.run_status, paused.paused_at) == ("paused", "approve")
    assert stored(url, "ask").status == "paused"
    async with AgentRunner.load(agent, storage=url, storage_path=tmp_path) as later:
        done = await later.resume("ask", {"approved": True})
    assert done.run_status == "completed"
    assert done.output["approved"] is True
    assert done.path == ["a", "b", "approve", "c", "d"]
    assert ran(log) == NODES


async def test_failed_run_resumes_after_its_cause_is_fixed(
    tmp_path: Path, log: Path, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag = tmp_path / "broken"
    flag.touch()
    monkeypatch.setenv("RUNNER_TEST_FAIL_AT", "c")
    monkeypatch.setenv("RUNNER_TEST_FAIL_FLAG", str(flag))
    agent = write_chain(tmp_path / "agent", NODES)
    async with AgentRunner.load(agent, storage=url, storage_path=tmp_path) as runner:
        failed = await runner.run(START, run_id="flaky")
        assert (failed.success, failed.run_status) == (False, "failed")
        assert "the flag file is there" in (failed.error or "")
        flag.unlink()
        done = await runner.resume("flaky")
    assert done.output["acc"] == NODES
    assert ran(log) == ["a", "b", "c", "c", "d"]


async def test_resume_of_an_unknown_run_or_another_agents_run_is_refused(
    tmp_path: Path, log: Path, url: str
) -> None:
    first = write_chain(tmp_path / "first", NODES, graph_id="first")
    second = write_chain(tmp_path / "second", NODES, graph_id="second", human_after="a")
    async with AgentRunner.load(second, storage=url, storage_path=tmp_path) as runner:
        await runner.run(START, run_id="theirs")
    async with AgentRunner.load(first, storage=url, storage_path=tmp_path) as runner:
        with pytest.raises(RunNotFoundError, match="'nope' is not in storage"):
            await runner.resume("nope")
        with pytest.raises(RunConflictError, match="belongs to agent 'second'"):
            await runner.resume("theirs")


async def test_changed_graph_is_refused_on_resume_unless_forced(
    tmp_path: Path, log: Path, url: str
) -> None:
    agent = write_chain(tmp_path / "agent", NODES, human_after="b")
    async with AgentRunner.load(agent, storage=url, storage_path=tmp_path) as runner:
        await runner.run(START, run_id="ask")
    write_chain(tmp_path / "agent", NODES, human_after="b", max_retries=1)
    async with AgentRunner.load(agent, storage=url, storage_path=tmp_path) as changed:
        with pytest.raises(GraphChangedError):
            await changed.resume("ask", {"approved": False})
        done = await changed.resume("ask", {"approved": False}, force=True)
    assert done.run_status == "completed"
    assert done.output["approved"] is False


async def test_budget_pauses_the_run_and_a_higher_budget_resumes_it(
    tmp_path: Path, url: str
) -> None:
    folder = tmp_path / "agent"
    folder.mkdir()
    nodes = [
        {
            "id": name,
            "name": name,
            "description": "asks the model",
            "node_type": "llm_generate",
            "input_keys": ["topic"],
            "output_keys": [name],
        }
        for name in ("outline", "draft", "polish")
    ]
    graph = {
        "id": "writer",
        "entry_node": "outline",
        "terminal_nodes": ["polish"],
        "nodes": nodes,
        "edges": [
            {"id": "o-d", "source": "outline", "target": "draft"},
            {"id": "d-p", "source": "draft", "target": "polish"},
        ],
    }
    goal = {"id": "write", "name": "Write", "description": "Write something."}
    (folder / "agent.json").write_text(json.dumps({"graph": graph, "goal": goal}))
    llm = MockLLMProvider(["an outline", "a draft", "a polished text"])
    async with AgentRunner.load(folder, llm=llm, storage=url, storage_path=tmp_path) as runner:
        paused = await runner.run({"topic": "rain"}, run_id="essay", max_tokens=1)
        assert paused.run_status == "paused"
        assert paused.pause_reason == "budget_exhausted"
        assert paused.path == ["outline"]
        done = await runner.resume("essay", max_tokens=1_000_000)
    assert done.run_status == "completed"
    assert done.output["polish"] == "a polished text"
    assert len(llm.calls) == 3
