"""`agentgraph prune`: shows what it would remove, removes only with --yes, and never what a
run that may still resume needs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from framework.durable import CheckpointManager
from framework.schemas.run import RunRecord, RunStatus
from framework.storage import open_storage

# The `agentgraph` fixture (conftest.py): the command in this process, output captured.
Agentgraph = Callable[..., Any]


def add_run(url: str, run_id: str, status: RunStatus, checkpoints: int = 1) -> None:
    """A run with ``checkpoints`` checkpoints, each after node ``n<i>``."""
    with CheckpointManager(url, {"retention_strategy": "all"}) as manager:
        manager.storage.create_run(RunRecord(run_id=run_id, status=status))
        for index in range(checkpoints):
            manager.save_checkpoint(run_id, f"n{index}", {"k": index, "text": "x" * 50})


def run_ids(url: str) -> list[str]:
    with open_storage(url) as storage:
        return sorted(record.run_id for record in storage.list_runs())


def checkpoint_ids(url: str, run_id: str) -> list[str]:
    with open_storage(url) as storage:
        return [meta.id for meta in storage.list_checkpoints(run_id)]


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path / 'state.db'}"


def test_without_yes_prune_lists_the_finished_runs_and_removes_nothing(
    url: str, agentgraph: Agentgraph
) -> None:
    add_run(url, "done", RunStatus.COMPLETED, checkpoints=2)
    add_run(url, "dropped", RunStatus.CANCELLED)
    add_run(url, "waits", RunStatus.PAUSED)

    shown = agentgraph("prune", "--older-than", "0s", "--storage", url)

    assert shown.code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "would remove 2 run(s):"
    assert {line.split()[0] for line in lines[1:3]} == {"done", "dropped"}
    assert lines[-1].startswith("would remove 2 run(s), 3 checkpoint(s), ")
    assert lines[-1].endswith("nothing was removed: run again with --yes to remove it")
    assert run_ids(url) == ["done", "dropped", "waits"]
    assert len(checkpoint_ids(url, "done")) == 2


def test_with_yes_prune_removes_the_finished_runs_and_leaves_the_others(
    url: str, agentgraph: Agentgraph
) -> None:
    add_run(url, "done", RunStatus.COMPLETED)
    add_run(url, "dropped", RunStatus.CANCELLED)
    add_run(url, "waits", RunStatus.PAUSED)
    add_run(url, "broke", RunStatus.FAILED)

    removed = agentgraph("prune", "--status", "completed", "--yes", "--storage", url)

    assert removed.code == 0, removed.stderr
    assert removed.stdout.splitlines()[-1].startswith("removed 1 run(s), 1 checkpoint(s), ")
    assert run_ids(url) == ["broke", "dropped", "waits"]
    assert checkpoint_ids(url, "waits") == ["ckpt_waits_n0_000000"]


def test_an_unfinished_run_named_with_run_is_kept_and_says_why(
    url: str, agentgraph: Agentgraph
) -> None:
    add_run(url, "waits", RunStatus.PAUSED)

    kept = agentgraph("prune", "--run", "waits", "--yes", "--storage", url)

    assert kept.code == 0, kept.stderr
    assert kept.stdout.splitlines() == [
        "kept 1 run(s):",
        "  waits  paused: it may still resume: only completed or cancelled runs are removed "
        "(--keep N trims checkpoints)",
        "nothing to remove",
    ]
    assert run_ids(url) == ["waits"]


def test_the_finished_item_runs_of_an_unfinished_batch_are_kept(
    url: str, agentgraph: Agentgraph
) -> None:
    add_run(url, "docs", RunStatus.PAUSED)
    add_run(url, "docs--item-1", RunStatus.COMPLETED)
    add_run(url, "old--item-1", RunStatus.COMPLETED)

    removed = agentgraph("prune", "--older-than", "0s", "--yes", "--storage", url)

    assert removed.code == 0, removed.stderr
    assert "  docs--item-1  completed: it belongs to unfinished run docs" in removed.stdout
    assert run_ids(url) == ["docs", "docs--item-1"]


def test_keep_trims_old_checkpoints_only_with_yes(url: str, agentgraph: Agentgraph) -> None:
    add_run(url, "long", RunStatus.PAUSED, checkpoints=5)
    add_run(url, "short", RunStatus.PAUSED, checkpoints=2)

    shown = agentgraph("prune", "--keep", "2", "--storage", url)
    assert shown.stdout.splitlines()[:2] == [
        "would remove old checkpoints of 1 run(s):",
        shown.stdout.splitlines()[1],
    ]
    assert shown.stdout.splitlines()[1].startswith("  long  paused  3 checkpoint(s), ")
    assert len(checkpoint_ids(url, "long")) == 5

    trimmed = agentgraph("prune", "--keep", "2", "--yes", "--storage", url)

    assert trimmed.code == 0, trimmed.stderr
    assert checkpoint_ids(url, "long") == ["ckpt_long_n3_000003", "ckpt_long_n4_000004"]
    assert len(checkpoint_ids(url, "short")) == 2


def test_keep_never_removes_the_newest_intact_checkpoint_behind_a_corrupt_one(
    tmp_path: Path, agentgraph: Agentgraph
) -> None:
    store = tmp_path / "store"
    url = f"file://{store}"
    add_run(url, "hurt", RunStatus.PAUSED, checkpoints=4)
    newest = store / "runs" / "hurt" / "checkpoints" / "000000000003.json"
    newest.write_text(newest.read_text().replace('"k":{"=":3}', '"k":{"=":4}', 1))

    with pytest.warns(UserWarning, match="is corrupt"):
        trimmed = agentgraph("prune", "--keep", "1", "--yes", "--storage", url)

    assert trimmed.code == 0, trimmed.stderr
    assert "  hurt  paused  2 checkpoint(s), " in trimmed.stdout
    assert checkpoint_ids(url, "hurt") == ["ckpt_hurt_n2_000002", "ckpt_hurt_n3_000003"]
    with CheckpointManager(url) as manager, pytest.warns(UserWarning):
        intact = manager.get_checkpoint("hurt")
    assert intact is not None and intact.id == "ckpt_hurt_n2_000002"


def test_prune_without_a_choice_of_what_is_a_usage_error(url: str, agentgraph: Agentgraph) -> None:
    add_run(url, "done", RunStatus.COMPLETED)

    assert agentgraph("prune", "--yes", "--storage", url).code == 2
    assert agentgraph("prune", "--status", "paused", "--storage", url).code == 2
    assert run_ids(url) == ["done"]
