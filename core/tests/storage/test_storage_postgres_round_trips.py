"""PostgreSQL round trips: a step's commit, a claim and a finish of 64 items are one each,
and so is a read of one statement (promise 11 of DESIGN.md), counted from libpq's protocol
trace (:mod:`framework.testing.postgres_trace`). What they store is what the engine's
general path stores; when what this instance remembers is not what is stored any more
(another writer, a stale token, a requeued item) nothing is written in that one trip and
the general path decides.

Each test runs in a schema of its own on the session's server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from framework.errors import FencedOutError, InvalidArgumentError
from framework.schemas.control import ControlAction
from framework.schemas.item import ItemOutcome, ItemRecord, ItemStatus, ItemUsage, NewItem
from framework.schemas.lease import make_owner_id
from framework.schemas.run import RunRecord
from framework.storage import PostgresStorage
from framework.testing.conformance import PostgresHarness
from framework.testing.postgres_trace import Trace
from framework.testing.values import make_checkpoint

RUN = "run-1"


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[PostgresHarness]:
    harness = PostgresHarness(tmp_path)
    yield harness
    harness.close()
    harness.discard()


@pytest.fixture
def trace(tmp_path: Path) -> Iterator[Trace]:
    folder = tmp_path / "trace"
    folder.mkdir()
    with Trace(folder) as tracing:
        yield tracing


def _leased(storage: PostgresStorage, items: int = 0, ttl_seconds: float = 30) -> int:
    """Create the run with ``items`` pending items and lease it; its fencing token."""
    storage.create_run(RunRecord(run_id=RUN))
    token = storage.claim_run(RUN, make_owner_id(), ttl_seconds=ttl_seconds).fencing_token
    if items:
        new = [
            NewItem(item_id=f"i{n:03d}", input={"n": n}, content_hash=str(n)) for n in range(items)
        ]
        storage.add_items(RUN, new, fencing_token=token)
    return token


def _taken_over(pg: PostgresHarness) -> PostgresStorage:
    """Another instance that took the run over once its short lease ran out."""
    threading.Event().wait(0.05)
    other = PostgresStorage(pg.url)
    other.claim_run(RUN, make_owner_id())
    return other


def _drop_connections(pg: PostgresHarness) -> None:
    [(dropped,)] = pg.sql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE pid <> pg_backend_pid() AND datname = current_database() "
        "AND backend_type = 'client backend'"
    )
    assert dropped >= 1


def _done(items: list[ItemRecord]) -> list[ItemOutcome]:
    return [
        ItemOutcome(
            item_id=item.item_id,
            status=ItemStatus.COMPLETED,
            result={"doubled": 2 * item.input["n"]},
            usage=ItemUsage(tokens_in=3, tokens_out=1, cost=0.1),
        )
        for item in items
    ]


async def test_each_step_commit_is_one_round_trip_and_keeps_only_the_latest_checkpoint(
    pg: PostgresHarness, trace: Trace
) -> None:
    storage = PostgresStorage(pg.url)
    token = _leased(storage)
    trips = []
    for seq in range(4):
        mark = trace.mark()
        done = await storage.acommit_step(
            make_checkpoint(RUN, seq, {"step": seq}), fencing_token=token, keep=1
        )
        trips.append(trace.trips(mark).round_trips)

    assert trips == [1, 1, 1, 1]
    assert done.record.latest_checkpoint_id == make_checkpoint(RUN, 3).id
    assert done.control is None
    again = pg.reopen()
    assert [cp.seq for cp in again.list_checkpoints(RUN)] == [3]
    latest = again.load_latest_checkpoint(RUN)
    assert latest is not None and latest.memory_snapshot == {"step": 3}
    assert again.get_run(RUN) == done.record
    assert again.verify(RUN) == []
    storage.close()


async def test_a_claim_and_a_finish_of_64_items_are_one_round_trip_each(
    pg: PostgresHarness, trace: Trace
) -> None:
    storage = PostgresStorage(pg.url)
    token = _leased(storage, items=100)

    mark = trace.mark()
    claimed = await storage.aclaim_items(RUN, limit=64, worker="w", fencing_token=token)
    claim_trips = trace.trips(mark).round_trips
    mark = trace.mark()
    counts = await storage.afinish_items(RUN, _done(claimed), fencing_token=token)
    finish_trips = trace.trips(mark).round_trips

    assert (claim_trips, finish_trips) == (1, 1)
    assert (counts.pending, counts.running, counts.completed) == (36, 0, 64)
    assert counts.usage == sum((ItemUsage(tokens_in=3, tokens_out=1, cost=0.1),) * 64, ItemUsage())
    again = pg.reopen()
    assert again.item_counts(RUN) == counts
    item = again.get_item(RUN, "i007")
    assert item is not None
    assert (item.status, item.result, item.attempts, item.worker) == (
        ItemStatus.COMPLETED,
        {"doubled": 14},
        1,
        "w",
    )
    assert item.finished_at is not None and item.usage.tokens_in == 3
    storage.close()


async def test_a_read_of_one_statement_is_one_round_trip(pg: PostgresHarness, trace: Trace) -> None:
    storage = PostgresStorage(pg.url)
    _leased(storage, items=3)
    trips = {}
    for name, read in (
        ("get_run", lambda: storage.aget_run(RUN)),
        ("get_control", lambda: storage.aget_control(RUN)),
        ("item_counts", lambda: storage.aitem_counts(RUN)),
        ("list_items", lambda: storage.alist_items(RUN)),
    ):
        mark = trace.mark()
        await read()
        trips[name] = trace.trips(mark).round_trips

    assert trips == {"get_run": 1, "get_control": 1, "item_counts": 1, "list_items": 1}
    storage.close()


def test_a_step_with_a_stale_token_writes_nothing_and_is_fenced_out(pg: PostgresHarness) -> None:
    first = pg.storage
    stale = _leased(first, ttl_seconds=0.01)
    first.commit_step(make_checkpoint(RUN, 0, {"by": "first"}), fencing_token=stale, keep=1)
    second = _taken_over(pg)

    with pytest.raises(FencedOutError):
        first.commit_step(make_checkpoint(RUN, 1, {"by": "first, late"}), fencing_token=stale)

    assert [cp.seq for cp in pg.reopen().list_checkpoints(RUN)] == [0]
    second.close()


def test_a_step_after_another_instance_wrote_one_chains_on_what_is_stored(
    pg: PostgresHarness,
) -> None:
    first, second = pg.storage, pg.reopen()
    token = _leased(first)
    first.commit_step(make_checkpoint(RUN, 0, {"a": 0}), fencing_token=token, keep=1)
    second.commit_step(make_checkpoint(RUN, 1, {"a": 1}), fencing_token=token, keep=1)

    done = first.commit_step(make_checkpoint(RUN, 2, {"a": 2, "b": 2}), fencing_token=token, keep=1)

    again = pg.reopen()
    assert done.checkpoint.seq == 2
    assert [cp.seq for cp in again.list_checkpoints(RUN)] == [2]
    latest = again.load_latest_checkpoint(RUN)
    assert latest is not None and latest.memory_snapshot == {"a": 2, "b": 2}
    assert again.get_run(RUN) == done.record
    second.close()


def test_a_pause_requested_by_another_instance_is_read_back_by_the_next_step(
    pg: PostgresHarness,
) -> None:
    worker, operator = pg.storage, pg.reopen()
    token = _leased(worker)
    worker.commit_step(make_checkpoint(RUN, 0), fencing_token=token, keep=1)
    operator.request_control(RUN, ControlAction.PAUSE, "lunch")

    done = worker.commit_step(make_checkpoint(RUN, 1), fencing_token=token, keep=1)

    assert done.control is not None
    assert (done.control.action, done.control.reason) == (ControlAction.PAUSE, "lunch")
    operator.close()


def test_finishing_items_with_a_stale_token_writes_nothing_and_is_fenced_out(
    pg: PostgresHarness,
) -> None:
    first = pg.storage
    stale = _leased(first, items=4, ttl_seconds=0.01)
    claimed = first.claim_items(RUN, limit=4, worker="w", fencing_token=stale)
    second = _taken_over(pg)

    with pytest.raises(FencedOutError):
        first.finish_items(RUN, _done(claimed), fencing_token=stale)

    counts = pg.reopen().item_counts(RUN)
    assert (counts.running, counts.completed) == (4, 0)
    second.close()


def test_finishing_an_item_another_instance_put_back_says_it_is_not_running(
    pg: PostgresHarness,
) -> None:
    worker, operator = pg.storage, pg.reopen()
    token = _leased(worker, items=2)
    claimed = worker.claim_items(RUN, limit=2, worker="w", fencing_token=token)
    operator.requeue_items(RUN, status=ItemStatus.RUNNING, fencing_token=token, item_ids=["i001"])

    with pytest.raises(InvalidArgumentError, match="'i001' of run 'run-1' is pending, not running"):
        worker.finish_items(RUN, _done(claimed), fencing_token=token)

    counts = pg.reopen().item_counts(RUN)
    assert (counts.pending, counts.running, counts.completed) == (1, 1, 0)
    operator.close()


def test_items_another_instance_claimed_are_finished_by_the_general_path(
    pg: PostgresHarness,
) -> None:
    claimer, finisher = pg.storage, pg.reopen()
    token = _leased(claimer, items=3)
    claimed = claimer.claim_items(RUN, limit=3, worker="w", fencing_token=token)

    counts = finisher.finish_items(RUN, _done(claimed), fencing_token=token)

    assert (counts.running, counts.completed) == (0, 3)
    item = pg.reopen().get_item(RUN, "i002")
    assert item is not None and item.result == {"doubled": 4}
    finisher.close()


def test_a_step_after_the_server_dropped_the_connection_is_stored_once(
    pg: PostgresHarness,
) -> None:
    storage = pg.storage
    token = _leased(storage)
    storage.commit_step(make_checkpoint(RUN, 0), fencing_token=token, keep=1)
    _drop_connections(pg)

    done = storage.commit_step(make_checkpoint(RUN, 1, {"x": 1}), fencing_token=token, keep=1)

    again = pg.reopen()
    assert [cp.seq for cp in again.list_checkpoints(RUN)] == [1]
    assert again.get_run(RUN) == done.record


def test_a_finish_after_the_server_dropped_the_connection_is_counted_once(
    pg: PostgresHarness,
) -> None:
    storage = pg.storage
    token = _leased(storage, items=2)
    claimed = storage.claim_items(RUN, limit=2, worker="w", fencing_token=token)
    _drop_connections(pg)

    counts = storage.finish_items(RUN, _done(claimed), fencing_token=token)

    assert (counts.pending, counts.running, counts.completed) == (0, 0, 2)
    assert pg.reopen().item_counts(RUN) == counts
