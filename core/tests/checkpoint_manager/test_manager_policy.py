"""CheckpointManager policy: when to checkpoint, how many to keep, which configs are valid."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from framework.graph.checkpoint_manager import CheckpointManager
from framework.schemas.checkpoint import CheckpointConfig
from framework.storage.backend import StorageBackend


@pytest.mark.parametrize(
    ("config", "steps_checkpointed"),
    [
        (CheckpointConfig(), [0, 1, 2, 3, 4, 5, 6]),
        (CheckpointConfig(save_frequency="every_n_nodes", n_nodes=1), [0, 1, 2, 3, 4, 5, 6]),
        (CheckpointConfig(save_frequency="every_n_nodes", n_nodes=3), [0, 3, 6]),
        (CheckpointConfig(save_frequency="on_request"), []),
        (CheckpointConfig(enabled=False), []),
    ],
    ids=["every_node", "every_1_nodes", "every_3_nodes", "on_request", "disabled"],
)
def test_should_checkpoint_follows_the_save_frequency(
    config: CheckpointConfig, steps_checkpointed: list[int], storage: StorageBackend
) -> None:
    mgr = CheckpointManager(storage, config)
    assert [step for step in range(7) if mgr.should_checkpoint(step)] == steps_checkpointed


@pytest.mark.parametrize(
    "config",
    [
        CheckpointConfig(),
        CheckpointConfig(save_frequency="every_n_nodes", n_nodes=5),
        CheckpointConfig(save_frequency="on_request"),
    ],
    ids=["every_node", "every_5_nodes", "on_request"],
)
def test_a_requested_checkpoint_is_always_written_when_enabled(
    config: CheckpointConfig, storage: StorageBackend
) -> None:
    mgr = CheckpointManager(storage, config)
    assert all(mgr.should_checkpoint(step, requested=True) for step in range(1, 7))


def test_a_requested_checkpoint_is_not_written_when_disabled(storage: StorageBackend) -> None:
    mgr = CheckpointManager(storage, CheckpointConfig(enabled=False))
    assert mgr.should_checkpoint(0, requested=True) is False


def save_n(mgr: CheckpointManager, n: int) -> list[str]:
    return [mgr.save_checkpoint("r", f"node{i}", {"i": i, "log": list(range(i))}) for i in range(n)]


def test_latest_only_keeps_exactly_the_newest_checkpoint(storage: StorageBackend) -> None:
    mgr = CheckpointManager(storage)
    ids = save_n(mgr, 6)
    assert [m.id for m in mgr.list_checkpoints("r")] == [ids[-1]]
    assert mgr.restore_from_checkpoint("r") == ({"i": 5, "log": [0, 1, 2, 3, 4]}, "node5")


def test_prune_old_keeps_exactly_max_checkpoints_per_run(storage: StorageBackend) -> None:
    config = CheckpointConfig(retention_strategy="prune_old", max_checkpoints_per_run=3)
    mgr = CheckpointManager(storage, config)
    ids = save_n(mgr, 8)
    assert [m.id for m in mgr.list_checkpoints("r")] == ids[-3:]
    for kept in ids[-3:]:
        assert mgr.get_checkpoint("r", kept) is not None
    assert mgr.get_checkpoint("r", ids[0]) is None


def test_prune_old_keeps_everything_below_the_maximum(storage: StorageBackend) -> None:
    config = CheckpointConfig(retention_strategy="prune_old", max_checkpoints_per_run=10)
    mgr = CheckpointManager(storage, config)
    assert [m.id for m in mgr.list_checkpoints("r")] == []
    ids = save_n(mgr, 4)
    assert [m.id for m in mgr.list_checkpoints("r")] == ids


def test_all_keeps_every_checkpoint(storage: StorageBackend) -> None:
    mgr = CheckpointManager(storage, CheckpointConfig(retention_strategy="all"))
    ids = save_n(mgr, 12)
    assert [m.id for m in mgr.list_checkpoints("r")] == ids
    assert mgr.get_checkpoint("r", ids[0]).memory_snapshot == {"i": 0, "log": []}


def test_retention_applies_per_run(storage: StorageBackend) -> None:
    mgr = CheckpointManager(storage)
    mgr.save_checkpoint("r1", "a", {})
    mgr.save_checkpoint("r2", "a", {})
    mgr.save_checkpoint("r2", "b", {})
    assert len(mgr.list_checkpoints("r1")) == 1
    assert [m.id for m in mgr.list_checkpoints("r2")] == ["ckpt_r2_b_000001"]


@pytest.mark.parametrize(
    "bad",
    [
        {"enabeld": False},
        {"n_nodes": 0},
        {"max_checkpoints_per_run": 0},
        {"save_frequency": "sometimes"},
        {"retention_strategy": "forever"},
        {"on_save_error": "ignore"},
    ],
    ids=["typo", "n_nodes=0", "keep 0", "unknown frequency", "unknown retention", "ignore"],
)
def test_invalid_config_is_rejected(bad: dict[str, object], storage: StorageBackend) -> None:
    with pytest.raises(ValidationError):
        CheckpointConfig(**bad)
    with pytest.raises(ValidationError):
        CheckpointManager(storage, bad)


def test_config_may_be_given_as_a_mapping(storage: StorageBackend) -> None:
    mgr = CheckpointManager(storage, {"retention_strategy": "all", "n_nodes": 2})
    assert mgr.config == CheckpointConfig(retention_strategy="all", n_nodes=2)
