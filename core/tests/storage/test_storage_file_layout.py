"""FileStorage: the files it writes, how it survives interrupted writes, where it never writes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path

import pytest

from framework.errors import CorruptCheckpointError, InvalidIdError
from framework.runtime.core import Runtime
from framework.schemas.control import ControlAction
from framework.schemas.item import ItemOutcome, ItemStatus, NewItem
from framework.schemas.lease import make_owner_id
from framework.schemas.run import RunRecord
from framework.storage import CorruptCheckpointWarning, FileStorage, codec
from framework.storage.file import IndexRebuiltWarning
from framework.testing.conformance import FileHarness, flip
from framework.testing.values import make_checkpoint


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_layout_is_one_folder_per_run_of_json_files(tmp_path: Path):
    storage = FileStorage(tmp_path)
    storage.create_run(RunRecord(run_id="run-1"))
    for seq in range(2):
        storage.save_checkpoint(make_checkpoint("run-1", seq))

    assert _files(tmp_path) == [
        "runs/run-1/.lock",
        "runs/run-1/checkpoints/000000000000.json",
        "runs/run-1/checkpoints/000000000001.json",
        "runs/run-1/index.json",
        "runs/run-1/run.json",
    ]
    index = json.loads((tmp_path / "runs/run-1/index.json").read_bytes())
    rows = [
        dict(zip(index["index"]["columns"], row, strict=True)) for row in index["index"]["rows"]
    ]
    assert [(r["seq"], r["id"], r["form"]) for r in rows] == [
        (0, "ckpt_run-1_step_000000", "full"),
        (1, "ckpt_run-1_step_000001", "delta"),
    ]
    # Each record file carries its own index row (checksummed), so the index can be rebuilt.
    record = json.loads((tmp_path / "runs/run-1/checkpoints/000000000000.json").read_bytes())
    assert sorted(record) == ["entry", "entry_checksum", "payload"]
    assert record["entry"] == index["index"]["rows"][0]
    assert record["payload"]["memory_snapshot"] == {"counter": 0}
    assert json.loads((tmp_path / "runs/run-1/run.json").read_bytes())["run_id"] == "run-1"


def test_shares_a_folder_with_the_runtime(tmp_path: Path):
    runtime = Runtime(tmp_path)
    runtime.start_run("goal", run_id="run-1")
    storage = FileStorage(tmp_path)
    storage.create_run(RunRecord(run_id="run-1"))
    storage.save_checkpoint(make_checkpoint("run-1", 0))
    runtime.end_run("run-1", success=True)

    assert storage.load_latest_checkpoint("run-1").seq == 0
    assert [r.run_id for r in storage.list_runs()] == ["run-1"]
    assert (tmp_path / "decisions" / "run-1" / "run.json").is_file()
    assert storage.delete_checkpoints("run-1") == 1
    assert (tmp_path / "decisions" / "run-1" / "run.json").is_file()


def test_a_record_without_index_entry_is_ignored_then_overwritten(tmp_path: Path):
    # What a save killed between writing its record and writing the index leaves behind.
    storage = FileStorage(tmp_path)
    storage.save_checkpoint(make_checkpoint("run-1", 0))
    orphan = tmp_path / "runs/run-1/checkpoints/000000000001.json"
    orphan.write_bytes(b'{"half": ')

    assert [m.seq for m in storage.list_checkpoints("run-1")] == [0]
    assert storage.latest_seq("run-1") == 0
    assert storage.verify("run-1") == []

    storage.save_checkpoint(make_checkpoint("run-1", 1, {"counter": 99}))
    assert FileStorage(tmp_path).load_latest_checkpoint("run-1").memory_snapshot == {"counter": 99}


def test_no_temp_files_are_left_behind(tmp_path: Path):
    storage = FileStorage(tmp_path)
    storage.create_run(RunRecord(run_id="run-1"))
    for seq in range(5):
        storage.save_checkpoint(make_checkpoint("run-1", seq))
    storage.update_run("run-1", last_error="x")
    storage.prune_checkpoints("run-1", 2)

    assert not [name for name in _files(tmp_path) if name.endswith(".tmp")]


def _damage_index(index: Path, how: str) -> None:
    data = index.read_bytes()
    if how == "missing":
        index.unlink()
    elif how == "checksum mismatch":
        index.write_bytes(data.replace(b"ckpt_run-1_step_000000", b"ckpt_run-1_step_000009"))
    elif how == "flipped byte":
        index.write_bytes(flip(data))
    elif how == "truncated":
        index.write_bytes(data[: len(data) // 2])
    else:
        index.write_bytes(b"not json at all")


@pytest.mark.parametrize(
    "how", ["checksum mismatch", "flipped byte", "truncated", "unparsable", "missing"]
)
def test_a_damaged_or_missing_index_is_rebuilt_from_the_record_files(
    tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    storage = FileStorage(tmp_path)
    storage.create_run(RunRecord(run_id="run-1"))
    for seq in range(3):
        storage.save_checkpoint(make_checkpoint("run-1", seq))
    listed = storage.list_checkpoints("run-1")
    index = tmp_path / "runs/run-1/index.json"
    _damage_index(index, how)

    reopened = FileStorage(tmp_path)
    with pytest.warns(IndexRebuiltWarning, match="rebuilt it from the 3 record files"):
        assert reopened.list_checkpoints("run-1") == listed

    assert any(r.name == "framework.storage" and "index" in r.getMessage() for r in caplog.records)
    assert json.loads(index.read_bytes())["index"]["run_id"] == "run-1"  # written back
    assert not [name for name in _files(tmp_path) if name.endswith(".tmp")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = FileStorage(tmp_path)
        assert again.list_checkpoints("run-1") == listed
        latest = again.load_latest_checkpoint("run-1")
        assert latest is not None and latest.memory_snapshot == {"counter": 2}
        assert again.verify("run-1") == []
    again.save_checkpoint(make_checkpoint("run-1", 3))
    assert [m.seq for m in FileStorage(tmp_path).list_checkpoints("run-1")] == [0, 1, 2, 3]


def test_a_rebuilt_index_names_the_records_it_could_not_read(tmp_path: Path) -> None:
    harness = FileHarness(tmp_path)
    _save_growing_items(harness, 4)
    store = tmp_path / "store/runs/run-1"
    (store / "index.json").unlink()
    harness.record_path("run-1", 1).write_bytes(b'{"entr')  # its own row is unreadable
    cut = harness.record_path("run-1", 3)
    cut.write_bytes(cut.read_bytes()[:-5])  # its row is intact, its payload cut short

    storage = harness.reopen()
    with pytest.warns(IndexRebuiltWarning, match=r"000000000001.json"):
        assert [m.seq for m in storage.list_checkpoints("run-1")] == [0, 2, 3]

    # Seq 2 is built on the record that could not be read, seq 3 is cut short.
    assert [(p.seq, "missing" in p.reason) for p in storage.verify("run-1")] == [
        (2, True),
        (3, False),
    ]
    with pytest.warns(CorruptCheckpointWarning):
        latest = storage.load_latest_checkpoint("run-1")
    assert latest is not None and latest.seq == 0


def test_a_damaged_index_without_record_files_is_rebuilt_empty(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path)
    storage.save_checkpoint(make_checkpoint("run-1", 0))
    shutil.rmtree(tmp_path / "runs/run-1/checkpoints")
    (tmp_path / "runs/run-1/index.json").write_bytes(b"{")

    with pytest.warns(IndexRebuiltWarning, match="from the 0 record files"):
        assert FileStorage(tmp_path).list_checkpoints("run-1") == []


def test_a_record_file_of_the_first_release_still_loads(tmp_path: Path) -> None:
    # The first release stored the payload alone; its index row says how long it is.
    storage = FileStorage(tmp_path)
    storage.save_checkpoint(make_checkpoint("run-1", 0))
    record = tmp_path / "runs/run-1/checkpoints/000000000000.json"
    record.write_bytes(codec.canonical_bytes(json.loads(record.read_bytes())["payload"]))

    latest = FileStorage(tmp_path).load_latest_checkpoint("run-1")
    assert latest is not None and latest.memory_snapshot == {"counter": 0}


def test_fsync_option_syncs_files_and_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))

    FileStorage(tmp_path / "plain").save_checkpoint(make_checkpoint("run-1", 0))
    assert synced == []

    FileStorage(tmp_path / "durable", fsync=True).save_checkpoint(make_checkpoint("run-1", 0))
    # Record and index files, their folder after each rename, and each new folder's parent.
    assert len(synced) >= 4


def test_a_run_folder_symlinked_outside_the_root_is_refused(tmp_path: Path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "runs").mkdir(parents=True)
    outside.mkdir()
    (root / "runs" / "run-1").symlink_to(outside, target_is_directory=True)

    with pytest.raises(InvalidIdError, match="outside the storage root"):
        FileStorage(root).save_checkpoint(make_checkpoint("run-1", 0))
    assert list(outside.iterdir()) == []


def test_list_runs_skips_folders_it_did_not_create(tmp_path: Path):
    storage = FileStorage(tmp_path)
    storage.create_run(RunRecord(run_id="run-1"))
    (tmp_path / "runs" / ".hidden").mkdir()
    (tmp_path / "runs" / "no-record").mkdir()
    (tmp_path / "runs" / "stray.txt").write_text("x")

    assert [r.run_id for r in storage.list_runs()] == ["run-1"]


def test_reading_a_missing_root_creates_nothing(tmp_path: Path):
    storage = FileStorage(tmp_path / "absent")

    assert storage.list_runs() == []
    assert storage.load_latest_checkpoint("run-1") is None
    assert not (tmp_path / "absent").exists()


def test_file_effects_are_one_json_file_per_key(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path)
    storage.create_run(RunRecord(run_id="run-1"))
    storage.start_effect("run-1", "n", "n:x", "idem")
    storage.complete_effect("run-1", "n:x", {"n": 1})

    name = hashlib.sha256(b"n:x").hexdigest()[:32]
    document = json.loads((tmp_path / "runs/run-1/effects" / f"{name}.json").read_bytes())
    assert document["ordinal"] == 1
    assert (document["effect"]["key"], document["effect"]["status"]) == ("n:x", "completed")
    assert [p.name for p in (tmp_path / "runs/run-1/effects").iterdir()] == [f"{name}.json"]


# Moved from the storage spec's run tests (test_runs.py): the run folder is FileStorage's own.
def _file_run_with_everything(storage: FileStorage, run_id: str) -> None:
    storage.create_run(RunRecord(run_id=run_id))
    for seq in range(3):
        storage.save_checkpoint(make_checkpoint(run_id, seq))
    storage.request_control(run_id, ControlAction.PAUSE)
    storage.start_effect(run_id, "n", "n:x", "idem")
    storage.complete_effect(run_id, "n:x", 1)
    storage.claim_run(run_id, make_owner_id())


def test_file_delete_run_removes_the_folder(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path)
    _file_run_with_everything(storage, "run-1")

    storage.delete_run("run-1")

    assert list((tmp_path / "runs").iterdir()) == []


# Moved from the storage spec's corruption tests (test_corruption.py): a truncated or missing
# record file is a failure of the file backend's own layout.
def _save_growing_items(harness: FileHarness, count: int, run_id: str = "run-1") -> None:
    for seq in range(count):
        harness.storage.save_checkpoint(make_checkpoint(run_id, seq, {"items": list(range(seq))}))


def _items_checkpoint_id(seq: int) -> str:
    return f"ckpt_run-1_step_{seq:06d}"


def test_truncated_record_file_is_detected(tmp_path: Path) -> None:
    harness = FileHarness(tmp_path)
    _save_growing_items(harness, 3)
    harness.truncate("run-1", 2)

    with pytest.raises(CorruptCheckpointError):
        harness.storage.load_checkpoint("run-1", _items_checkpoint_id(2))
    with pytest.warns(CorruptCheckpointWarning):
        assert harness.storage.load_latest_checkpoint("run-1").seq == 1
    assert [p.seq for p in harness.storage.verify("run-1")] == [2]


def test_missing_record_file_is_reported_as_corrupt(tmp_path: Path) -> None:
    harness = FileHarness(tmp_path)
    _save_growing_items(harness, 2)
    harness.record_path("run-1", 1).unlink()

    with pytest.raises(CorruptCheckpointError, match="missing"):
        harness.storage.load_checkpoint("run-1", _items_checkpoint_id(1))
    with pytest.warns(CorruptCheckpointWarning):
        assert harness.storage.load_latest_checkpoint("run-1").seq == 0


def test_an_item_ledger_written_with_one_body_per_item_reads_the_same(tmp_path: Path):
    storage = FileStorage(tmp_path)
    storage.create_run(RunRecord(run_id="run-1"))
    token = storage.claim_run("run-1", make_owner_id()).fencing_token
    new = [NewItem(item_id=f"doc-{n}", input={"n": (n,)}, content_hash=f"h{n}") for n in range(2)]
    storage.add_items("run-1", new, fencing_token=token)
    storage.claim_items("run-1", limit=1, worker="w", fencing_token=token)
    done = ItemOutcome(item_id="doc-0", status=ItemStatus.COMPLETED, result={"ok": True})
    storage.finish_items("run-1", [done], fencing_token=token)
    before = storage.list_items("run-1")
    path = tmp_path / "runs/run-1/items.json"
    document = json.loads(path.read_bytes())
    for row in document["items"]:  # the form before rows had three parts: one body
        state, data, result = row[4:]
        row[4:] = [{**state, "input": data, "result": result}]
    content = {"counts": document["counts"], "items": document["items"]}
    document["checksum"] = codec.checksum(codec.canonical_bytes(content))
    path.write_bytes(codec.canonical_bytes(document))

    assert FileStorage(tmp_path).list_items("run-1") == before
