"""SharedMemory: one dict of run state, with views scoped to a node's declared keys."""

from __future__ import annotations

import pytest

from framework.errors import MemoryAccessError
from framework.graph.shared_memory import SharedMemory


def test_unrestricted_memory_reads_writes_and_defaults() -> None:
    memory = SharedMemory({"a": 1})
    memory.write("b", 2)
    memory.update({"c": 3})
    assert memory.read("a") == 1
    assert memory.read("missing", "default") == "default"
    assert memory.read_all() == {"a": 1, "b": 2, "c": 3}
    assert "b" in memory
    assert len(memory) == 3


def test_memory_copies_its_initial_data() -> None:
    data = {"a": 1}
    memory = SharedMemory(data)
    memory.write("a", 2)
    assert data == {"a": 1}


def test_scoped_view_reads_only_its_read_keys() -> None:
    view = SharedMemory({"allowed": 1, "secret": 2}).with_permissions(read_keys=["allowed"])
    assert view.read("allowed") == 1
    assert view.read_all() == {"allowed": 1}
    with pytest.raises(MemoryAccessError, match="may not read memory key 'secret'"):
        view.read("secret")


def test_scoped_view_writes_only_its_write_keys() -> None:
    view = SharedMemory().with_permissions(write_keys=["result"])
    view.write("result", "ok")
    with pytest.raises(MemoryAccessError, match=r"may not write memory key 'other'.*\['result'\]"):
        view.write("other", 1)


def test_views_share_the_same_data() -> None:
    memory = SharedMemory({"x": 1})
    writer = memory.with_permissions(read_keys=[], write_keys=["y"])
    reader = memory.with_permissions(read_keys=["y"], write_keys=[])
    writer.write("y", 42)
    assert reader.read("y") == 42
    assert memory.read_all() == {"x": 1, "y": 42}
    with pytest.raises(MemoryAccessError):
        reader.write("y", 0)
