"""Conformance: every id is validated where it enters; nothing escapes the storage root."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from framework.errors import InvalidIdError
from framework.schemas.run import RunRecord, RunStatus
from framework.storage.backend import StorageBackend
from framework.testing.conformance import Harness
from framework.testing.values import make_checkpoint

BAD_IDS = ["../x", "/abs", "a/b", "a\\b", "x\x00y", "", "x" * 300, "..", "C:evil"]
GOOD_RUN = "run-1"
GOOD_CKPT = "ckpt_run-1_step_000000"


def _checkpoint_id(bad: str) -> str:
    # Checkpoint ids may be up to 300 characters (they embed run and node ids).
    return "x" * 301 if bad == "x" * 300 else bad


CALLS: dict[str, Callable[[StorageBackend, str], Awaitable[Any]]] = {
    "save: run id": lambda s, bad: s.asave_checkpoint(make_checkpoint(bad, 1, id=GOOD_CKPT)),
    "save: checkpoint id": lambda s, bad: s.asave_checkpoint(
        make_checkpoint(GOOD_RUN, 1, id=_checkpoint_id(bad))
    ),
    "save: current node id": lambda s, bad: s.asave_checkpoint(
        make_checkpoint(GOOD_RUN, 1, current_node_id=bad)
    ),
    "save: next node id": lambda s, bad: s.asave_checkpoint(
        make_checkpoint(GOOD_RUN, 1, next_node_id=bad)
    ),
    "load: run id": lambda s, bad: s.aload_checkpoint(bad, GOOD_CKPT),
    "load: checkpoint id": lambda s, bad: s.aload_checkpoint(GOOD_RUN, _checkpoint_id(bad)),
    "load_latest": lambda s, bad: s.aload_latest_checkpoint(bad),
    "list": lambda s, bad: s.alist_checkpoints(bad),
    "delete": lambda s, bad: s.adelete_checkpoints(bad),
    "prune": lambda s, bad: s.aprune_checkpoints(bad, 1),
    "verify": lambda s, bad: s.averify(bad),
    "latest_seq": lambda s, bad: s.alatest_seq(bad),
    "create_run": lambda s, bad: s.acreate_run(RunRecord(run_id=bad)),
    "get_run": lambda s, bad: s.aget_run(bad),
    "update_run": lambda s, bad: s.aupdate_run(bad, status=RunStatus.RUNNING),
}


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else b""
        for p in sorted(root.rglob("*"))
    }


@pytest.mark.parametrize("call", sorted(CALLS))
async def test_every_method_refuses_bad_ids_and_writes_nothing(harness: Harness, call: str) -> None:
    await harness.storage.asave_checkpoint(make_checkpoint(GOOD_RUN, 0))
    await harness.storage.acreate_run(RunRecord(run_id=GOOD_RUN))
    before = _tree(harness.root)

    for bad in BAD_IDS:
        with pytest.raises(InvalidIdError):
            await CALLS[call](harness.storage, bad)

    assert _tree(harness.root) == before
    assert not Path("/abs").exists()
    assert await harness.storage.alatest_seq(GOOD_RUN) == 0


async def test_async_methods_refuse_bad_ids(storage: StorageBackend) -> None:
    with pytest.raises(InvalidIdError):
        await storage.aload_latest_checkpoint("../x")
    with pytest.raises(InvalidIdError):
        await storage.asave_checkpoint(make_checkpoint("a/b", 0))
    with pytest.raises(InvalidIdError):
        await storage.aget_run("")


async def test_invalid_id_error_says_which_id_and_why(storage: StorageBackend) -> None:
    with pytest.raises(InvalidIdError, match=r"run id '\.\./x'.*'\.\.'"):
        await storage.alist_checkpoints("../x")
