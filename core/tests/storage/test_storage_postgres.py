"""What only the PostgreSQL backend promises: its URLs, its schema, locks and claims that
hold between instances and processes, and clear errors.

Each test runs in a schema of its own on the session's server (see
``framework.testing.postgres_server``).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from framework.durable import CheckpointManager
from framework.errors import FencedOutError, StorageError
from framework.schemas.item import ItemStatus, NewItem
from framework.schemas.lease import make_owner_id
from framework.schemas.run import RunRecord
from framework.storage import PostgresStorage, open_storage
from framework.storage.postgres import SCHEMA_VERSION
from framework.testing.conformance import PostgresHarness
from framework.testing.values import make_checkpoint

RUN = "run-1"


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[PostgresHarness]:
    harness = PostgresHarness(tmp_path)
    yield harness
    harness.close()
    harness.discard()


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_both_url_schemes_open_postgres_storage_on_the_same_data(
    pg: PostgresHarness, scheme: str
) -> None:
    pg.storage.create_run(RunRecord(run_id=RUN))
    url = scheme + pg.url.removeprefix("postgresql")

    with open_storage(url) as storage:
        assert isinstance(storage, PostgresStorage)
        assert storage.get_run(RUN) is not None


def test_the_query_string_form_with_a_unix_socket_opens_the_same_data(
    pg: PostgresHarness,
) -> None:
    pg.storage.create_run(RunRecord(run_id=RUN))
    given = conninfo_to_dict(pg.url)
    # The session's server listens on a unix socket, which the query names: ?host=/path.
    url = (
        f"postgresql:///{given['dbname']}?host={given['host']}&user={given['user']}"
        f"&password={given['password']}"
    )

    with open_storage(url) as storage:
        assert storage.get_run(RUN) is not None


def test_a_checkpoint_manager_opens_a_postgresql_url(pg: PostgresHarness) -> None:
    manager = CheckpointManager(pg.url)
    try:
        assert isinstance(manager.storage, PostgresStorage)
        manager.storage.save_checkpoint(make_checkpoint(RUN, 0, {"x": 1}))
    finally:
        manager.storage.close()
    assert [cp.id for cp in pg.storage.list_checkpoints(RUN)] == [make_checkpoint(RUN, 0, {}).id]


def test_an_unreachable_server_is_named_in_one_line_without_its_password() -> None:
    with pytest.raises(StorageError) as refused:
        open_storage("postgresql://alice:s3cret@127.0.0.1:1/ledger?connect_timeout=2")
    message = str(refused.value)
    assert message.startswith("cannot connect to PostgreSQL storage 127.0.0.1:1/ledger: ")
    assert "check that the server runs" in message
    assert "s3cret" not in message
    assert "\n" not in message


def test_without_psycopg_opening_says_which_extra_to_install() -> None:
    done = _python(
        "import sys; sys.modules['psycopg'] = None\n"
        "from framework.storage import open_storage\n"
        "open_storage('postgresql://localhost/db')\n"
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        "framework.errors.StorageError: PostgreSQL storage needs psycopg, which is not "
        "installed: pip install 'agentgraph-durable[postgres]'"
    )


def test_importing_the_framework_and_its_storage_does_not_import_psycopg() -> None:
    done = _python(
        "import sys, framework, framework.storage\n"
        "from framework.storage import PostgresStorage, open_storage\n"
        "print(sorted(m for m in sys.modules if m.startswith('psycopg')))\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


OPENER = """
import sys, time
from pathlib import Path
from framework.storage import open_storage

go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.002)
open_storage(sys.argv[1]).close()
"""


def test_processes_opening_one_empty_schema_at_once_migrate_it_once(
    pg: PostgresHarness, tmp_path: Path
) -> None:
    pg.sql(f"DROP SCHEMA {pg.schema} CASCADE")
    pg.sql(f"CREATE SCHEMA {pg.schema} AUTHORIZATION {pg.schema}")
    go = tmp_path / "go"
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, pg.url, str(go)], stderr=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    go.touch()
    errors = [opener.communicate(timeout=60)[1] for opener in openers]

    assert [opener.returncode for opener in openers] == [0] * 6, errors
    assert pg.sql("SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    tables = pg.sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
        "ORDER BY table_name",
        (pg.schema,),
    )
    assert [name for (name,) in tables] == [
        "checkpoint_records",
        "control_signals",
        "effects",
        "item_counts",
        "items",
        "runs",
        "schema_version",
    ]


def test_a_schema_newer_than_this_agentgraph_is_refused(pg: PostgresHarness) -> None:
    pg.sql("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))

    with pytest.raises(StorageError, match=r"schema version 2, newer than the 1 .*upgrade"):
        pg.reopen()


def test_a_lease_taken_over_by_another_instance_fences_out_the_first(
    pg: PostgresHarness,
) -> None:
    first, second = pg.storage, pg.reopen()
    try:
        first.create_run(RunRecord(run_id=RUN))
        stale = first.claim_run(RUN, make_owner_id(), ttl_seconds=0.01)
        first.commit_step(
            make_checkpoint(RUN, 0, {"by": "first"}), fencing_token=stale.fencing_token
        )
        threading.Event().wait(0.05)
        taken = second.claim_run(RUN, make_owner_id())

        with pytest.raises(FencedOutError):
            first.commit_step(
                make_checkpoint(RUN, 1, {"by": "first, late"}), fencing_token=stale.fencing_token
            )
        with pytest.raises(FencedOutError):
            first.claim_items(RUN, limit=1, worker="late", fencing_token=stale.fencing_token)
        second.commit_step(
            make_checkpoint(RUN, 1, {"by": "second"}), fencing_token=taken.fencing_token
        )
    finally:
        second.close()

    latest = pg.reopen().load_latest_checkpoint(RUN)
    assert latest is not None and latest.memory_snapshot == {"by": "second"}


def test_a_writer_of_one_run_holds_back_writers_of_that_run_only(pg: PostgresHarness) -> None:
    holder, other, reader = pg.storage, pg.reopen(), pg.reopen()
    for run_id in ("run-a", "run-b"):
        holder.create_run(RunRecord(run_id=run_id))
    holding, release = threading.Event(), threading.Event()

    def hold_run_a() -> None:
        with holder._writing("run-a"):
            holding.set()
            release.wait(30)

    keeper = threading.Thread(target=hold_run_a)
    keeper.start()
    assert holding.wait(30)
    waiter = threading.Thread(
        target=other.update_run, args=("run-a",), kwargs={"status_reason": "after"}
    )
    try:
        reader.update_run("run-b", status_reason="not held back")
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive(), "a write of run-a went through while another writer held it"
        record = reader.get_run("run-a")
        assert record is not None and record.status_reason is None
    finally:
        release.set()
        keeper.join(30)
    waiter.join(30)
    assert not waiter.is_alive()
    record = reader.get_run("run-a")
    assert record is not None and record.status_reason == "after"
    other.close()
    reader.close()


def test_claims_from_two_instances_at_once_never_take_an_item_twice(pg: PostgresHarness) -> None:
    pg.storage.create_run(RunRecord(run_id=RUN))
    token = pg.storage.claim_run(RUN, make_owner_id()).fencing_token
    items = [NewItem(item_id=f"doc-{n:04d}", input=n, content_hash=str(n)) for n in range(600)]
    pg.storage.add_items(RUN, items, fencing_token=token)
    instances = [pg.storage, pg.reopen(), pg.reopen()]
    claimed: list[list[str]] = [[] for _ in instances]

    def claim_all(index: int) -> None:
        while batch := instances[index].claim_items(
            RUN, limit=7, worker=f"w{index}", fencing_token=token
        ):
            claimed[index].extend(item.item_id for item in batch)

    threads = [threading.Thread(target=claim_all, args=(i,)) for i in range(len(instances))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    every = [item_id for ids in claimed for item_id in ids]
    assert sorted(every) == [item.item_id for item in items]
    counts = pg.storage.item_counts(RUN)
    assert (counts.pending, counts.running) == (0, 600)
    rows = pg.sql("SELECT worker, count(*) FROM items GROUP BY worker ORDER BY worker")
    assert rows == [(f"w{i}", len(ids)) for i, ids in enumerate(claimed) if ids]
    for instance in instances[1:]:
        instance.close()


def test_a_claim_returns_items_as_running_with_their_input(pg: PostgresHarness) -> None:
    pg.storage.create_run(RunRecord(run_id=RUN))
    token = pg.storage.claim_run(RUN, make_owner_id()).fencing_token
    pg.storage.add_items(
        RUN, [NewItem(item_id="a", input={"text": "x\x00y"}, content_hash="h")], fencing_token=token
    )

    [item] = pg.storage.claim_items(RUN, limit=5, worker="w", fencing_token=token)

    assert (item.status, item.attempts, item.worker, item.input) == (
        ItemStatus.RUNNING,
        1,
        "w",
        {"text": "x\x00y"},
    )
    assert pg.reopen().get_item(RUN, "a") == item


def test_a_connection_the_server_dropped_is_replaced_at_the_next_call(
    pg: PostgresHarness,
) -> None:
    pg.storage.create_run(RunRecord(run_id=RUN))
    [(dropped,)] = pg.sql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE pid <> pg_backend_pid() AND datname = current_database() "
        "AND backend_type = 'client backend'"
    )

    assert dropped >= 1
    assert pg.storage.get_run(RUN) is not None
    pg.storage.update_run(RUN, status_reason="written on a new connection")
    record = pg.reopen().get_run(RUN)
    assert record is not None and record.status_reason == "written on a new connection"
