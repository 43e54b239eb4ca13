"""SQLiteStorage: schema versioning, connection settings, lifecycle."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from framework.errors import StorageError
from framework.schemas.control import ControlAction
from framework.schemas.item import ItemOutcome, ItemStatus, NewItem
from framework.schemas.lease import make_owner_id
from framework.schemas.run import RunRecord
from framework.storage import SQLiteStorage, codec
from framework.storage.sqlite import SCHEMA_VERSION
from framework.testing.conformance import SQLiteHarness
from framework.testing.values import make_checkpoint


def _query(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def test_new_database_has_versioned_schema_in_wal_mode(tmp_path: Path):
    path = tmp_path / "deep" / "er" / "state.db"
    SQLiteStorage(path).close()

    assert _query(path, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    tables = {name for (name,) in _query(path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"schema_version", "runs", "checkpoint_records", "control_signals", "effects"} <= tables
    assert _query(path, "PRAGMA journal_mode") == [("wal",)]


def test_reopening_keeps_data_and_schema(tmp_path: Path):
    path = tmp_path / "state.db"
    with SQLiteStorage(path) as storage:
        storage.save_checkpoint(make_checkpoint("run-1", 0))
    with SQLiteStorage(path) as storage:
        assert storage.load_latest_checkpoint("run-1").seq == 0
    assert _query(path, "SELECT COUNT(*) FROM schema_version") == [(1,)]


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path):
    path = tmp_path / "state.db"
    SQLiteStorage(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))

    with pytest.raises(StorageError, match="newer than"):
        SQLiteStorage(path)


@pytest.mark.parametrize(("fsync", "level"), [(False, 1), (True, 2)])
def test_fsync_selects_synchronous_full(tmp_path: Path, fsync: bool, level: int):
    with SQLiteStorage(tmp_path / "state.db", fsync=fsync) as storage:
        # PRAGMA synchronous is per connection: 1 is NORMAL, 2 is FULL.
        assert storage._db.execute("PRAGMA synchronous").fetchone() == (level,)
        assert storage._db.execute("PRAGMA busy_timeout").fetchone() == (30_000,)


def test_home_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    SQLiteStorage("~/sub/state.db").close()
    assert (tmp_path / "sub" / "state.db").is_file()


def test_a_closed_storage_says_so(tmp_path: Path):
    storage = SQLiteStorage(tmp_path / "state.db")
    storage.close()

    with pytest.raises(StorageError, match="is closed"):
        storage.latest_seq("run-1")
    storage.close()


def test_a_failed_write_rolls_back_completely(tmp_path: Path):
    storage = SQLiteStorage(tmp_path / "state.db")
    storage.save_checkpoint(make_checkpoint("run-1", 0))
    # Another writer already stored seq 1 (the index row exists): the save must fail whole.
    with sqlite3.connect(tmp_path / "state.db") as conn:
        conn.execute(
            "INSERT INTO checkpoint_records SELECT run_id, 1, checkpoint_id, form, base_seq, "
            "prev_seq, visible, checksum, stored_bytes, metadata, payload "
            "FROM checkpoint_records WHERE seq = 0"
        )

    with pytest.raises(StorageError, match="not greater than the latest stored seq 1"):
        storage.save_checkpoint(make_checkpoint("run-1", 1))
    assert _query(tmp_path / "state.db", "SELECT COUNT(*) FROM checkpoint_records") == [(2,)]
    storage.close()


def _downgrade_to_version_3(path: Path) -> None:
    """Make the database exactly what version 3 wrote: each item row one JSON body."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT run_id, item_id, seq, status, due_key, state, input, result FROM items"
        ).fetchall()
        conn.execute("DROP TABLE items")
        conn.execute(
            "CREATE TABLE items (run_id TEXT NOT NULL, item_id TEXT NOT NULL, "
            "seq INTEGER NOT NULL, status TEXT NOT NULL, due_key TEXT, body BLOB NOT NULL, "
            "PRIMARY KEY (run_id, item_id))"
        )
        for *columns, state, data, result in rows:
            body = b'%s,"input":%s,"result":%s}' % (state[:-1], data, result)
            conn.execute("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)", (*columns, body))
        conn.execute("UPDATE schema_version SET version = 3")


def _downgrade_to_version_2(path: Path) -> None:
    """Make the database exactly what version 2 wrote: no item ledgers."""
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE items")
        conn.execute("DROP TABLE item_counts")
        conn.execute("UPDATE schema_version SET version = 2")


def _downgrade_to_version_1(path: Path) -> None:
    """Make the database exactly what version 1 wrote: no coordination tables or lease fields."""
    _downgrade_to_version_2(path)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE control_signals")
        conn.execute("DROP TABLE effects")
        conn.execute("UPDATE schema_version SET version = 1")
        for run_id, body in conn.execute("SELECT run_id, body FROM runs").fetchall():
            tree = json.loads(body)
            for field in ("lease_owner", "lease_expires_at", "fencing_token"):
                del tree[field]
            conn.execute(
                "UPDATE runs SET body = ? WHERE run_id = ?", (codec.canonical_bytes(tree), run_id)
            )


def test_a_version_1_database_is_migrated_and_keeps_working(tmp_path: Path):
    path = tmp_path / "state.db"
    with SQLiteStorage(path) as storage:
        storage.create_run(RunRecord(run_id="run-1", agent_id="agent"))
        storage.save_checkpoint(make_checkpoint("run-1", 0))
    _downgrade_to_version_1(path)
    assert _query(path, "SELECT version FROM schema_version") == [(1,)]

    with SQLiteStorage(path) as storage:
        record = storage.get_run("run-1")
        assert (record.agent_id, record.lease_owner, record.fencing_token) == ("agent", None, 0)
        assert storage.load_latest_checkpoint("run-1").seq == 0
        lease = storage.claim_run("run-1", make_owner_id())
        storage.save_checkpoint(make_checkpoint("run-1", 1), fencing_token=lease.fencing_token)
        storage.request_control("run-1", ControlAction.PAUSE)
        storage.start_effect("run-1", "n", "n:x", "idem")

    assert _query(path, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    assert SCHEMA_VERSION == 4
    with SQLiteStorage(path) as storage:
        assert storage.load_latest_checkpoint("run-1").seq == 1
        assert storage.get_run("run-1").fencing_token == 1
        assert storage.get_control("run-1").action is ControlAction.PAUSE
        assert [e.key for e in storage.list_effects("run-1")] == ["n:x"]


def test_a_version_2_database_gets_item_ledgers_and_keeps_its_runs(tmp_path: Path):
    path = tmp_path / "state.db"
    with SQLiteStorage(path) as storage:
        storage.create_run(RunRecord(run_id="run-1"))
        storage.save_checkpoint(make_checkpoint("run-1", 0))
    _downgrade_to_version_2(path)

    with SQLiteStorage(path) as storage:
        token = storage.claim_run("run-1", make_owner_id()).fencing_token
        added = storage.add_items(
            "run-1", [NewItem(item_id="doc-1", content_hash="h")], fencing_token=token
        )
        assert added.added == 1
        assert storage.load_latest_checkpoint("run-1").seq == 0

    assert _query(path, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    assert _query(path, "SELECT item_id, status FROM items") == [("doc-1", "pending")]


def test_a_version_3_database_keeps_its_items_exactly(tmp_path: Path):
    path = tmp_path / "state.db"
    with SQLiteStorage(path) as storage:
        storage.create_run(RunRecord(run_id="run-1"))
        token = storage.claim_run("run-1", make_owner_id()).fencing_token
        new = [
            NewItem(item_id=f"doc-{n}", input={"n": (n, True)}, content_hash=f"h{n}")
            for n in range(3)
        ]
        storage.add_items("run-1", new, fencing_token=token)
        storage.claim_items("run-1", limit=2, worker="w", fencing_token=token)
        done = ItemOutcome(item_id="doc-0", status=ItemStatus.COMPLETED, result={"ok": {1, 2}})
        storage.finish_items("run-1", [done], fencing_token=token)
        before = storage.list_items("run-1")
    _downgrade_to_version_3(path)

    with SQLiteStorage(path) as storage:
        assert storage.list_items("run-1") == before
        outcome = ItemOutcome(item_id="doc-1", status=ItemStatus.COMPLETED, result="two")
        storage.finish_items("run-1", [outcome], fencing_token=token)
        assert storage.get_item("run-1", "doc-1").result == "two"
        assert storage.get_item("run-1", "doc-1").input == {"n": (1, True)}

    assert _query(path, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]


# Moved from the storage spec's growth tests (test_growth.py): the file size is SQLite's own.
def test_sqlite_file_stays_small_too(tmp_path: Path) -> None:
    # Besides payloads the database holds index columns; the whole file must stay small.
    harness = SQLiteHarness(tmp_path)
    items: list[str] = []
    for seq in range(1000):  # a thousand saves of a growing list, as in the spec
        items.append(f"item {seq:05d} " + "x" * 89)  # 100 characters
        harness.storage.save_checkpoint(make_checkpoint("run-1", seq, {"items": list(items)}))
    harness.close()
    with sqlite3.connect(harness.db_path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert harness.db_path.stat().st_size < 2_000_000
