"""A person's answer to a paused run must hold every key the waiting node expects."""

from __future__ import annotations

from pathlib import Path

import pytest
from runner_agents import ran, write_chain

from framework.errors import InvalidArgumentError
from framework.runner import AgentRunner

NODES = ["a", "b"]


@pytest.mark.parametrize("scheme", ["sqlite", "file"])
async def test_an_answer_lacking_a_key_is_refused_and_a_full_one_continues_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    log = tmp_path / "ran.log"
    monkeypatch.setenv("RUNNER_TEST_LOG", str(log))
    url = f"sqlite://{tmp_path / 'state.db'}" if scheme == "sqlite" else f"file://{tmp_path / 's'}"
    agent = write_chain(tmp_path / "agent", NODES, human_after="a")
    async with AgentRunner.load(agent, storage=url, storage_path=tmp_path) as runner:
        paused = await runner.run({"acc": []}, run_id="ask")
        assert paused.paused_at == "approve"
        with pytest.raises(InvalidArgumentError, match="lacks 'approved' \\(it has 'aproved'\\)"):
            await runner.resume("ask", {"aproved": True})
        assert ran(log) == ["a"]
        record = await runner.checkpoint_manager.storage.aget_run("ask")
        assert record is not None and record.status == "paused"  # as it was, not "running"
        assert record.lease_owner is None
        done = await runner.resume("ask", {"approved": True})
    assert done.run_status == "completed"
    assert done.path == ["a", "approve", "b"]
    assert ran(log) == NODES
