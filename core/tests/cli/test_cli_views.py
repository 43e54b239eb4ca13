"""`agentgraph runs / status / checkpoints / inspect / diff / verify / items` on a known store.

The store is written through the storage contract with the clock fixed, so that what the
commands print is the same on every machine: the human output is compared with the files in
`golden/` (``UPDATE_GOLDENS=1`` rewrites them), the JSON output is asserted on.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Agentgraph, Finished

from framework.batch.progress import BatchProgress
from framework.schemas import clock
from framework.schemas.checkpoint import Checkpoint, CheckpointKind, ExecutorType
from framework.schemas.item import ItemError, ItemOutcome, ItemStatus, ItemUsage, NewItem
from framework.schemas.run import RunBudget, RunRecord, RunStatus, RunTotals
from framework.storage import open_storage
from framework.storage.backend import StorageBackend

GOLDEN = Path(__file__).parent / "golden"
NOW = datetime(2026, 3, 14, 12, 0, 0, tzinfo=UTC)
"""The fixed present: every stored time is some minutes before it."""


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def freeze(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Make every framework module's clock read :data:`NOW` (the ledger's, the lease's,
    the one the tables count ages to)."""
    for loaded in ("framework.cli.main", "framework.storage.url"):
        importlib.import_module(loaded)  # so that every module reading the clock is there
    real = clock.utc_now
    for module in list(sys.modules.values()):
        name = getattr(module, "__name__", "")
        if name.startswith("framework") and getattr(module, "utc_now", None) is real:
            monkeypatch.setattr(module, "utc_now", lambda: NOW)
    return NOW


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> datetime:
    return freeze(monkeypatch)


# --- the store --------------------------------------------------------------------------


def seed_triage(storage: StorageBackend) -> None:
    """Run ``triage-1`` of agent ``triage``: three checkpoints, paused before ``approve``."""
    storage.create_run(
        RunRecord(
            run_id="triage-1",
            agent_id="triage",
            graph_id="triage",
            created_at=ago(30),
            updated_at=ago(30),
            budget=RunBudget(max_tokens=5000),
        )
    )
    document = "Invoice no. 9 from: Big Co. Total: $25,000.00"
    states: list[dict[str, Any]] = [
        {"kind": CheckpointKind.START, "node": None, "next": "normalize", "memory": {}},
        {
            "kind": CheckpointKind.NODE_COMPLETE,
            "node": "normalize",
            "next": "classify",
            "memory": {"document": document, "text": document.lower(), "draft": True},
        },
        {
            "kind": CheckpointKind.PAUSE,
            "node": "classify",
            "next": "approve",
            "memory": {"document": document, "text": document, "doc_type": "invoice"},
            "pending_input": {"amount": 25000.0},
        },
    ]
    path: list[str] = []
    for seq, state in enumerate(states):
        if state["node"]:
            path.append(state["node"])
        checkpoint = Checkpoint(
            id=f"ckpt_triage-1_{state['node'] or 'start'}_{seq:06d}",
            run_id="triage-1",
            seq=seq,
            kind=state["kind"],
            created_at=ago(30 - 10 * seq),
            current_node_id=state["node"],
            next_node_id=state["next"],
            memory_snapshot=state["memory"],
            pending_input=state.get("pending_input", {}),
            execution_path=list(path),
            step_number=len(path),
            visit_counts=dict.fromkeys(path, 1),
            retry_counts={"classify": 1} if seq == 2 else {},
            total_tokens=600 * len(path),
            total_cost=0.0012 * len(path),
            total_latency_ms=40 * len(path),
            metadata={"reviewer": "ops"} if seq == 2 else {},
        )
        storage.save_checkpoint(checkpoint)
    storage.update_run(
        "triage-1",
        status=RunStatus.PAUSED,
        status_reason="waiting for input at node 'approve'",
        latest_checkpoint_id="ckpt_triage-1_classify_000002",
        totals=RunTotals(steps=2, tokens=1200, cost=0.0024, latency_ms=80),
        updated_at=ago(10),
    )


def seed_failed(storage: StorageBackend) -> None:
    """Run ``triage-2``: failed in ``classify`` after one step."""
    storage.create_run(
        RunRecord(
            run_id="triage-2",
            agent_id="triage",
            graph_id="triage",
            created_at=ago(20),
            updated_at=ago(20),
        )
    )
    storage.save_checkpoint(
        Checkpoint(
            id="ckpt_triage-2_normalize_000000",
            run_id="triage-2",
            created_at=ago(19),
            current_node_id="normalize",
            next_node_id="classify",
            execution_path=["normalize"],
            step_number=1,
            memory_snapshot={"text": "hello"},
        )
    )
    storage.update_run(
        "triage-2",
        status=RunStatus.FAILED,
        status_reason="node 'classify' failed",
        last_error="node 'classify' failed after 3 attempts: TimeoutError: read timed out",
        latest_checkpoint_id="ckpt_triage-2_normalize_000000",
        totals=RunTotals(steps=1, tokens=0, cost=0.0, latency_ms=5),
        updated_at=ago(18),
    )


def seed_batch(storage: StorageBackend) -> None:
    """Batch ``docs-1``: six items, three completed, one failed, one waiting for a retry,
    one pending; running, held by ``worker-1``."""
    storage.create_run(
        RunRecord(
            run_id="docs-1",
            agent_id="summarise",
            graph_id="batch",
            executor_type=ExecutorType.BATCH,
            created_at=ago(12),
            updated_at=ago(12),
        )
    )
    token = storage.claim_run("docs-1", "worker-1", ttl_seconds=600).fencing_token
    storage.update_run("docs-1", expect_fencing_token=token, status=RunStatus.RUNNING)
    ids = [f"doc-{n}" for n in range(1, 7)]
    storage.add_items(
        "docs-1",
        [NewItem(item_id=i, input={"doc": i}, content_hash=f"h-{i}") for i in ids],
        fencing_token=token,
    )
    storage.claim_items("docs-1", limit=5, worker="worker-1", fencing_token=token, now=ago(5))
    usage = ItemUsage(tokens_in=100, tokens_out=20, cost=0.001)
    outcomes = [
        ItemOutcome(item_id=i, status=ItemStatus.COMPLETED, result={"summary": i}, usage=usage)
        for i in ids[:3]
    ]
    outcomes.append(
        ItemOutcome(
            item_id="doc-4",
            status=ItemStatus.FAILED,
            error=ItemError(type="ValueError", message="no text in the document"),
            usage=ItemUsage(tokens_in=10),
        )
    )
    outcomes.append(
        ItemOutcome(
            item_id="doc-5",
            status=ItemStatus.PENDING,
            error=ItemError(type="TimeoutError", message="read timed out"),
            retry_at=NOW + timedelta(seconds=90),
        )
    )
    storage.finish_items("docs-1", outcomes, fencing_token=token)
    counts = storage.item_counts("docs-1")
    progress = BatchProgress(
        counts=counts,
        samples=[(ago(2).timestamp(), 0), (NOW.timestamp(), counts.finished)],
        recent=ids[:3],
    )
    checkpoint = progress.to_checkpoint("docs-1").model_copy(
        update={"id": "ckpt_docs-1_batch_000000", "created_at": NOW}
    )
    storage.save_checkpoint(checkpoint, fencing_token=token)
    storage.update_run(
        "docs-1",
        expect_fencing_token=token,
        latest_checkpoint_id=checkpoint.id,
        totals=RunTotals(steps=counts.finished, tokens=350, cost=0.003),
        updated_at=NOW,
    )


def seed_store(tmp_path: Path) -> str:
    """The URL of a new SQLite store holding the three runs above."""
    url = f"sqlite://{tmp_path / 'runs.db'}"
    storage = open_storage(url)
    try:
        seed_triage(storage)
        seed_failed(storage)
        seed_batch(storage)
    finally:
        storage.close()
    return url


@pytest.fixture
def store(tmp_path: Path, frozen: datetime) -> str:
    return seed_store(tmp_path)


def matches_golden(name: str, finished: Finished, store: str) -> None:
    """The command succeeded and printed ``golden/<name>`` (``<name>.txt`` without a
    suffix), the store's URL written ``STORE`` (``UPDATE_GOLDENS=1`` writes the file
    instead)."""
    assert finished.code == 0, finished.stderr
    printed = finished.stdout.replace(store, "STORE")
    golden = GOLDEN / (name if "." in name else f"{name}.txt")
    if os.environ.get("UPDATE_GOLDENS"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(printed, encoding="utf-8")
    assert printed == golden.read_text(encoding="utf-8")


# --- human output -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("runs", ["runs"]),
        ("runs_failed", ["runs", "--status", "failed"]),
        ("runs_by_status", ["runs", "--group-by", "status"]),
        ("runs_by_error", ["runs", "--group-by", "error"]),
        ("status_paused", ["status", "triage-1"]),
        ("status_failed", ["status", "triage-2"]),
        ("status_batch", ["status", "docs-1"]),
        ("checkpoints", ["checkpoints", "triage-1"]),
        ("inspect_latest", ["inspect", "triage-1"]),
        ("inspect_batch", ["inspect", "docs-1"]),
        ("diff", ["diff", "triage-1", "1", "2"]),
        ("verify_ok", ["verify", "triage-1"]),
        ("items", ["items", "docs-1"]),
        ("items_failed", ["items", "docs-1", "--status", "failed"]),
    ],
)
def test_human_output_reads_as_its_golden_file(
    agentgraph: Agentgraph, store: str, name: str, args: list[str]
) -> None:
    matches_golden(name, agentgraph(*args, "--storage", store), store)


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("runs.json", ["runs", "--json"]),
        ("runs.jsonl", ["runs", "--jsonl"]),
        ("runs_by_error.json", ["runs", "--group-by", "error", "--json"]),
        ("status_paused.json", ["status", "triage-1", "--json"]),
        ("status_batch.json", ["status", "docs-1", "--json"]),
        ("checkpoints.json", ["checkpoints", "triage-1", "--json"]),
        ("checkpoints.jsonl", ["checkpoints", "triage-1", "--jsonl"]),
        ("inspect_latest.json", ["inspect", "triage-1", "--json"]),
        ("diff.json", ["diff", "triage-1", "1", "2", "--json"]),
        ("verify_ok.json", ["verify", "triage-1", "--json"]),
        ("items.json", ["items", "docs-1", "--json"]),
        ("items.jsonl", ["items", "docs-1", "--jsonl"]),
    ],
)
def test_each_json_shape_reads_as_its_golden_file(
    agentgraph: Agentgraph, store: str, name: str, args: list[str]
) -> None:
    matches_golden(name, agentgraph(*args, "--storage", store), store)


# --- runs -------------------------------------------------------------------------------


def json_out(finished: Finished, key: str | None = None) -> Any:
    """The printed JSON document without its ``schema_version`` (checked), or its
    ``key`` (a listing's rows)."""
    assert finished.code == 0, finished.stderr
    document = json.loads(finished.stdout)
    assert document.pop("schema_version") == 1
    return document if key is None else document[key]


def json_lines(finished: Finished) -> list[Any]:
    """The printed JSON Lines, each without its ``schema_version`` (checked)."""
    assert finished.code == 0, finished.stderr
    objects = [json.loads(line) for line in finished.stdout.splitlines()]
    assert all(line.pop("schema_version") == 1 for line in objects)
    return objects


def test_runs_lists_every_run_newest_first_with_its_progress(
    agentgraph: Agentgraph, store: str
) -> None:
    rows = json_out(agentgraph("runs", "--json", "--storage", store), "runs")

    assert [row["run_id"] for row in rows] == ["docs-1", "triage-2", "triage-1"]
    batch, failed, paused = rows
    assert batch["kind"] == "batch"
    assert batch["progress"] == {"done": 4, "total": 6, "of": "items"}
    assert batch["tokens"] == 3 * 120 + 10 and batch["cost"] == pytest.approx(0.003)
    assert paused["progress"] == {"done": 2, "total": None, "of": "steps"}
    assert paused["status"] == "paused" and paused["tokens"] == 1200
    assert failed["last_error"].startswith("node 'classify' failed")
    assert paused["created_at"] == "2026-03-14T11:30:00+00:00"


def test_runs_filters_by_agent_error_and_time(agentgraph: Agentgraph, store: str) -> None:
    def ids(*filters: str) -> list[str]:
        rows = json_out(agentgraph("runs", *filters, "--json", "--storage", store), "runs")
        return [row["run_id"] for row in rows]

    assert ids("--agent", "triage") == ["triage-2", "triage-1"]
    assert ids("--error-contains", "TimeoutError") == ["triage-2"]
    assert ids("--since", "2026-03-14T11:35") == ["docs-1", "triage-2"]
    assert ids("--until", "2026-03-14T11:35") == ["triage-1"]
    assert ids("--status", "completed") == []


def test_runs_pages_with_limit_and_offset_and_says_what_is_left(
    agentgraph: Agentgraph, store: str
) -> None:
    first = agentgraph("runs", "--limit", "2", "--jsonl", "--storage", store)
    rest = agentgraph("runs", "--limit", "2", "--offset", "2", "--jsonl", "--storage", store)

    assert [line["run_id"] for line in json_lines(first)] == [
        "docs-1",
        "triage-2",
    ]
    assert first.stderr == "2 of 3 runs shown; the next ones with --offset 2\n"
    assert [line["run_id"] for line in json_lines(rest)] == ["triage-1"]
    assert rest.stderr == ""


def test_runs_group_by_counts_every_matching_run(agentgraph: Agentgraph, store: str) -> None:
    by_status = json_out(
        agentgraph("runs", "--group-by", "status", "--json", "--storage", store), "groups"
    )
    by_error = json_out(
        agentgraph("runs", "--group-by", "error", "--json", "--storage", store), "groups"
    )

    assert sorted((g["status"], g["runs"]) for g in by_status) == [
        ("failed", 1),
        ("paused", 1),
        ("running", 1),
    ]
    assert by_error == [
        {"error": None, "runs": 2},
        {
            "error": "node 'classify' failed after 3 attempts: TimeoutError: read timed out",
            "runs": 1,
        },
    ]


def test_runs_refuses_paging_the_groups_and_two_formats(agentgraph: Agentgraph, store: str) -> None:
    grouped = agentgraph("runs", "--group-by", "status", "--limit", "1", "--storage", store)
    both = agentgraph("runs", "--json", "--jsonl", "--storage", store)

    assert grouped.code == 2 and "--group-by counts every matching run" in grouped.stderr
    assert both.code == 2 and "give --json or --jsonl, not both" in both.stderr


def test_runs_of_an_empty_store_says_so(agentgraph: Agentgraph, tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'empty.db'}"

    assert agentgraph("runs", "--storage", url).stdout == "no runs\n"
    assert agentgraph("runs", "--status", "failed", "--storage", url).stdout == "no runs match\n"
    assert json_out(agentgraph("runs", "--json", "--storage", url), "runs") == []


def test_a_bad_time_is_one_error_line(agentgraph: Agentgraph, store: str) -> None:
    finished = agentgraph("runs", "--since", "yesterday", "--storage", store)

    assert finished.code == 1
    assert finished.stderr.startswith("error: --since / --until: 'yesterday' is not a time")
    assert finished.stderr.count("\n") == 1


# --- status -----------------------------------------------------------------------------


def test_status_json_of_a_batch_is_its_batch_status(agentgraph: Agentgraph, store: str) -> None:
    document = json_out(agentgraph("status", "docs-1", "--json", "--storage", store))

    assert document["kind"] == "batch" and document["status"] == "running"
    counts = document["counts"]
    assert counts == {
        "pending": 2,
        "running": 0,
        "completed": 3,
        "failed": 1,
        "skipped": 0,
        "usage": {"tokens_in": 310, "tokens_out": 60, "cost": pytest.approx(0.003)},
        "total": 6,
    }
    assert document["percent"] == pytest.approx(100 * 4 / 6)
    assert document["rate_per_minute"] == pytest.approx(2.0)
    assert document["eta_seconds"] == pytest.approx(60.0)
    assert document["recent"] == ["doc-1", "doc-2", "doc-3"]
    assert [item["item_id"] for item in document["failed"]] == ["doc-4"]
    assert document["failed"][0]["error"]["type"] == "ValueError"
    assert [item["item_id"] for item in document["retrying"]] == ["doc-5"]
    assert document["retrying"][0]["next_attempt_at"] == (NOW + timedelta(seconds=90)).timestamp()


def test_status_json_of_a_batch_has_the_shape_of_batch_status(
    agentgraph: Agentgraph, store: str
) -> None:
    from framework.batch import BatchStatus

    document = json_out(agentgraph("status", "docs-1", "--json", "--storage", store))

    assert set(document) == {"kind", *BatchStatus.model_fields}
    del document["kind"], document["counts"]["total"]
    assert BatchStatus.model_validate(document).counts.total == 6


def test_status_json_of_a_graph_run_says_where_it_is(agentgraph: Agentgraph, store: str) -> None:
    document = json_out(agentgraph("status", "triage-1", "--json", "--storage", store))

    assert document["kind"] == "graph"
    assert document["status"] == "paused"
    assert document["reason"] == "waiting for input at node 'approve'"
    assert document["current_node"] == "classify" and document["next_node"] == "approve"
    assert document["path"] == ["normalize", "classify"]
    assert document["checkpoint_id"] == "ckpt_triage-1_classify_000002"
    assert document["totals"] == {"steps": 2, "tokens": 1200, "cost": 0.0024, "latency_ms": 80}
    assert document["budget"] == {"max_tokens": 5000, "max_cost": None}
    assert document["damage"] == []


def test_status_shows_a_pending_pause_request(agentgraph: Agentgraph, store: str) -> None:
    storage = open_storage(store)
    try:
        storage.request_control("docs-1", "pause", "deploy at noon")
    finally:
        storage.close()

    shown = agentgraph("status", "docs-1", "--storage", store)

    assert "requested  pause: deploy at noon (now)" in shown.stdout


def test_status_of_a_run_whose_process_died_says_so(agentgraph: Agentgraph, store: str) -> None:
    storage = open_storage(store)
    try:
        storage.update_run("triage-2", status=RunStatus.RUNNING)  # no lease: nobody runs it
    finally:
        storage.close()

    shown = agentgraph("status", "triage-2", "--storage", store)

    assert "process     none alive: the process running it has gone" in shown.stdout
    assert f"continue it with: agentgraph recover AGENT_DIR --storage {store}" in shown.stdout


# --- unknown ids ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["status", "nope"],
        ["watch", "nope", "--interval", "0.01"],
        ["checkpoints", "nope"],
        ["inspect", "nope"],
        ["diff", "nope", "0", "1"],
        ["verify", "nope"],
        ["items", "nope"],
    ],
)
def test_an_unknown_run_exits_3_with_one_line_naming_it(
    agentgraph: Agentgraph, store: str, command: list[str]
) -> None:
    finished = agentgraph(*command, "--storage", store)

    assert finished.code == 3
    assert finished.stdout == ""
    assert finished.stderr == (
        f"error: no run 'nope' in storage {store}; list its runs with: "
        f"agentgraph runs --storage {store}\n"
    )


@pytest.mark.parametrize("ref", ["7", "ckpt_triage-1_b_000009"])
def test_an_unknown_checkpoint_exits_3_suggesting_the_list(
    agentgraph: Agentgraph, store: str, ref: str
) -> None:
    finished = agentgraph("inspect", "triage-1", ref, "--storage", store)

    assert finished.code == 3
    assert finished.stderr.startswith("error: run 'triage-1' has no checkpoint ")
    assert finished.stderr.endswith(f"agentgraph checkpoints triage-1 --storage {store}\n")


def test_an_invalid_run_id_is_one_error_line(agentgraph: Agentgraph, store: str) -> None:
    finished = agentgraph("status", "../etc", "--storage", store)

    assert finished.code == 1
    assert finished.stderr.startswith("error: ") and finished.stderr.count("\n") == 1


# --- checkpoints, inspect, diff -----------------------------------------------------------


def test_checkpoints_lists_them_oldest_first(agentgraph: Agentgraph, store: str) -> None:
    rows = json_out(
        agentgraph("checkpoints", "triage-1", "--json", "--storage", store), "checkpoints"
    )
    lines = json_lines(agentgraph("checkpoints", "triage-1", "--jsonl", "--storage", store))

    assert [(row["seq"], row["kind"], row["node_id"]) for row in rows] == [
        (0, "start", None),
        (1, "node_complete", "normalize"),
        (2, "pause", "classify"),
    ]
    assert lines == rows


def test_inspect_shows_memory_pending_input_and_executor_state(
    agentgraph: Agentgraph, store: str
) -> None:
    latest = json_out(agentgraph("inspect", "triage-1", "--json", "--storage", store))
    by_seq = json_out(agentgraph("inspect", "triage-1", "2", "--json", "--storage", store))
    by_id = agentgraph(
        "inspect", "triage-1", "ckpt_triage-1_classify_000002", "--json", "--storage", store
    )

    assert latest == by_seq == json_out(by_id)
    assert latest["memory"]["doc_type"] == "invoice"
    assert latest["pending_input"] == {"amount": 25000.0}
    assert latest["path"] == ["normalize", "classify"]
    assert latest["next_node_id"] == "approve"
    assert latest["metadata"] == {"reviewer": "ops"}
    assert latest["state"] == {
        "visit_counts": {"normalize": 1, "classify": 1},
        "retry_counts": {"classify": 1},
        "context": {},
    }


def test_inspect_of_a_batch_checkpoint_shows_its_progress(
    agentgraph: Agentgraph, store: str
) -> None:
    document = json_out(agentgraph("inspect", "docs-1", "--json", "--storage", store))

    progress = document["state"]["batch"]
    assert progress["counts"]["completed"] == 3
    assert progress["recent"] == ["doc-1", "doc-2", "doc-3"]


def test_diff_says_which_memory_keys_changed_and_how_the_path_grew(
    agentgraph: Agentgraph, store: str
) -> None:
    document = json_out(agentgraph("diff", "triage-1", "1", "2", "--json", "--storage", store))

    memory = document["memory"]
    assert memory["added"] == {"doc_type": "invoice"}
    assert memory["removed"] == {"draft": True}
    assert list(memory["changed"]) == ["text"]
    assert memory["changed"]["text"]["new"] == "Invoice no. 9 from: Big Co. Total: $25,000.00"
    assert document["path"]["added"] == ["classify"] and document["path"]["removed"] == []
    assert document["next_node"] == {"from": "classify", "to": "approve"}
    assert document["steps"] == {"from": 1, "to": 2}
    assert document["from"]["id"] == "ckpt_triage-1_normalize_000001"


def test_diff_backwards_shows_the_path_shrinking(agentgraph: Agentgraph, store: str) -> None:
    document = json_out(agentgraph("diff", "triage-1", "2", "0", "--json", "--storage", store))

    assert document["path"]["removed"] == ["normalize", "classify"]
    assert document["path"]["added"] == []
    assert set(document["memory"]["removed"]) == {"document", "text", "doc_type"}


def test_diff_of_a_plan_run_compares_its_steps(tmp_path: Path) -> None:
    from framework.cli.diffing import diff_checkpoints
    from framework.cli.shapes import executor_state
    from framework.schemas.checkpoint import PlanState

    plan = {"id": "p", "steps": [{"id": "s1", "status": "completed"}, {"id": "s2"}]}
    before = Checkpoint(id="a", run_id="r", seq=0, executor_type=ExecutorType.FLEXIBLE)
    after = before.model_copy(
        update={
            "id": "b",
            "seq": 1,
            "current_step_id": "s1",
            "execution_path": ["s1"],
            "memory_snapshot": {"n": 1},
            "plan_state": PlanState(plan=plan, revision=2),
        }
    )

    diff = diff_checkpoints(before, after)

    assert diff.added == {"n": 1} and diff.path.added == ["s1"]
    assert executor_state(after)["plan"] == plan
    assert executor_state(after)["plan_revision"] == 2


# --- items ------------------------------------------------------------------------------


def test_items_lists_the_ledger_with_errors_and_usage(agentgraph: Agentgraph, store: str) -> None:
    rows = json_out(agentgraph("items", "docs-1", "--json", "--storage", store), "items")

    assert [(row["item_id"], row["status"], row["attempts"]) for row in rows] == [
        ("doc-1", "completed", 1),
        ("doc-2", "completed", 1),
        ("doc-3", "completed", 1),
        ("doc-4", "failed", 1),
        ("doc-5", "pending", 1),
        ("doc-6", "pending", 0),
    ]
    assert rows[0]["tokens"] == 120 and rows[0]["cost"] == pytest.approx(0.001)
    assert rows[3]["error"]["type"] == "ValueError"
    assert rows[4]["next_attempt_at"] == (NOW + timedelta(seconds=90)).isoformat()


def test_items_filters_by_status_and_error_and_limits(agentgraph: Agentgraph, store: str) -> None:
    def ids(*options: str) -> list[str]:
        finished = agentgraph("items", "docs-1", *options, "--jsonl", "--storage", store)
        assert finished.code == 0, finished.stderr
        return [line["item_id"] for line in json_lines(finished)]

    assert ids("--status", "pending") == ["doc-5", "doc-6"]
    assert ids("--error-contains", "timed out") == ["doc-5"]
    assert ids("--error-contains", "ValueError") == ["doc-4"]
    limited = agentgraph("items", "docs-1", "--limit", "2", "--storage", store)
    assert limited.stdout.count("\n") == 3  # the header and two items
    assert limited.stderr == "the first 2 matching items are shown; see more with --limit\n"


def test_items_of_a_graph_run_says_it_has_none(agentgraph: Agentgraph, store: str) -> None:
    finished = agentgraph("items", "triage-1", "--json", "--storage", store)

    assert json_out(finished, "items") == []
    assert finished.stderr == "run triage-1 is a graph run; only batches have items\n"


def test_without_storage_the_default_store_is_read_and_named(
    agentgraph: Agentgraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("AGENTGRAPH_STORAGE", raising=False)
    default = f"sqlite://{tmp_path / 'home' / 'state.db'}"

    finished = agentgraph("status", "r1")

    assert finished.code == 3
    assert finished.stderr == (
        f"error: no run 'r1' in storage {default}; list its runs with: agentgraph runs\n"
    )
