"""Conformance: stored bytes grow with what changed, not with the history of the run."""

from __future__ import annotations

from framework.testing.conformance import Harness
from framework.testing.values import make_checkpoint

SAVES = 1000


def _item(i: int) -> str:
    return f"item {i:05d} " + "x" * 89  # 100 characters


async def _save_growing_list(harness: Harness) -> list[str]:
    items: list[str] = []
    for seq in range(SAVES):
        items.append(_item(seq))
        await harness.storage.asave_checkpoint(
            make_checkpoint("run-1", seq, {"items": list(items)})
        )
    return items


async def test_a_thousand_saves_of_a_growing_list_store_well_under_two_megabytes(
    harness: Harness,
) -> None:
    # Full snapshots would hold 1 + 2 + ... + 1000 items of 100 bytes: about 50 MB. What
    # each save adds is its delta and a constant for its entry (which the file backend also
    # keeps in the record itself, so that its index can be rebuilt).
    items = await _save_growing_list(harness)

    assert harness.stored_bytes("run-1") < 1_500_000
    storage = harness.reopen()
    for seq in range(0, SAVES, 100):
        loaded = await storage.aload_checkpoint("run-1", f"ckpt_run-1_step_{seq:06d}")
        assert loaded is not None
        assert loaded.memory_snapshot == {"items": items[: seq + 1]}
        assert loaded.execution_path == ["step"] * (seq + 1)
    latest = await storage.aload_latest_checkpoint("run-1")
    assert latest is not None
    assert latest.memory_snapshot == {"items": items}
    assert await storage.averify("run-1") == []
