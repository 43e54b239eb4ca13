"""Conformance: stored bytes grow with what changed, not with the history of the run."""

from __future__ import annotations

import sqlite3

from framework.storage._engine.chains import MAX_CHAIN
from framework.testing.conformance import Harness, SQLiteHarness
from framework.testing.values import make_checkpoint

SAVES = 1000


def _item(i: int) -> str:
    return f"item {i:05d} " + "x" * 89  # 100 characters


def _save_growing_list(harness: Harness) -> list[str]:
    items: list[str] = []
    for seq in range(SAVES):
        items.append(_item(seq))
        harness.storage.save_checkpoint(make_checkpoint("run-1", seq, {"items": list(items)}))
    return items


def test_a_thousand_saves_of_a_growing_list_store_well_under_a_megabyte(harness: Harness):
    # Full snapshots would hold 1 + 2 + ... + 1000 items of 100 bytes: about 50 MB.
    items = _save_growing_list(harness)

    assert harness.stored_bytes("run-1") < 1_000_000
    storage = harness.reopen()
    for seq in range(0, SAVES, 100):
        loaded = storage.load_checkpoint("run-1", f"ckpt_run-1_step_{seq:06d}")
        assert loaded.memory_snapshot == {"items": items[: seq + 1]}
        assert loaded.execution_path == ["step"] * (seq + 1)
    assert storage.load_latest_checkpoint("run-1").memory_snapshot == {"items": items}
    assert storage.verify("run-1") == []


def test_sqlite_file_stays_small_too(tmp_path):
    # Besides payloads the database holds index columns; the whole file must stay small.
    harness = SQLiteHarness(tmp_path)
    _save_growing_list(harness)
    harness.close()
    with sqlite3.connect(harness.db_path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert harness.db_path.stat().st_size < 2_000_000


def test_a_load_never_walks_a_long_chain(storage):
    for seq in range(MAX_CHAIN + 10):
        storage.save_checkpoint(make_checkpoint("run-1", seq, {"n": seq}))

    longest = 0
    chain = 0
    for entry in storage._entries("run-1"):
        chain = 1 if entry.form == "full" else chain + 1
        longest = max(longest, chain)

    assert longest <= MAX_CHAIN
