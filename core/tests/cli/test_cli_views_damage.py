"""`agentgraph verify / status / inspect` on a damaged store, on every backend on disk.

A flipped byte in a stored checkpoint is found by `verify` (exit 1, what is damaged, what to
do), shown by `status` as damage instead of a Python warning, and refused by `inspect` with
one error line; the run's other checkpoints still read.
"""

from __future__ import annotations

import json

import pytest
from cli_helpers import Agentgraph
from test_cli_views import freeze, seed_batch, seed_triage

from framework.testing.conformance import Harness


@pytest.fixture(autouse=True)
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    freeze(monkeypatch)


def seeded(harness: Harness) -> str:
    seed_triage(harness.storage)
    harness.close()
    return harness.url


def test_verify_of_an_intact_run_exits_0(agentgraph: Agentgraph, disk_harness: Harness) -> None:
    url = seeded(disk_harness)

    finished = agentgraph("verify", "triage-1", "--json", "--storage", url)

    assert finished.code == 0, finished.stderr
    report = json.loads(finished.stdout)
    assert report["ok"] is True and report["lost"] is False
    assert report["corrupt"] == [] and report["problems"] == [] and report["advice"] == []
    assert report["latest_valid"]["id"] == "ckpt_triage-1_classify_000002"


def test_verify_finds_a_damaged_newest_checkpoint_and_says_what_to_do(
    agentgraph: Agentgraph, disk_harness: Harness
) -> None:
    url = seeded(disk_harness)
    disk_harness.corrupt("triage-1", 2)

    as_json = agentgraph("verify", "triage-1", "--json", "--storage", url)
    shown = agentgraph("verify", "triage-1", "--storage", url)

    assert as_json.code == 1 and shown.code == 1
    report = json.loads(as_json.stdout)
    assert report["ok"] is False
    assert [c["seq"] for c in report["corrupt"]] == [2]
    assert report["latest_valid"]["seq"] == 1
    assert any("older than" in problem for problem in report["problems"])
    assert report["advice"][0].startswith("resuming continues from ckpt_triage-1_normalize_000001")
    assert "run triage-1: damaged, 1 of 3 checkpoint(s) fail their checks" in shown.stdout
    assert "what to do:" in shown.stdout
    assert shown.stderr == ""


def test_status_shows_damage_and_where_the_run_would_continue(
    agentgraph: Agentgraph, disk_harness: Harness
) -> None:
    url = seeded(disk_harness)
    disk_harness.corrupt("triage-1", 2)

    shown = agentgraph("status", "triage-1", "--storage", url)
    as_json = agentgraph("status", "triage-1", "--json", "--storage", url)

    assert shown.code == 0, shown.stderr
    assert "Warning" not in shown.stderr and shown.stderr == ""
    assert "next        node 'classify'" in shown.stdout  # from the intact checkpoint 1
    assert "damaged: " in shown.stdout and "ckpt_triage-1_classify_000002" in shown.stdout
    assert f"check its checkpoints with: agentgraph verify triage-1 --storage {url}" in shown.stdout
    document = json.loads(as_json.stdout)
    assert document["checkpoint_id"] == "ckpt_triage-1_normalize_000001"
    assert len(document["damage"]) == 1
    assert as_json.stderr.startswith("damaged: ")


def test_inspect_refuses_a_damaged_checkpoint_with_one_line(
    agentgraph: Agentgraph, disk_harness: Harness
) -> None:
    url = seeded(disk_harness)
    disk_harness.corrupt("triage-1", 2)

    refused = agentgraph("inspect", "triage-1", "2", "--storage", url)
    older = agentgraph("inspect", "triage-1", "1", "--json", "--storage", url)

    assert refused.code == 1 and refused.stdout == ""
    assert refused.stderr.startswith("error: ") and refused.stderr.count("\n") == 1
    assert refused.stderr.endswith(f"agentgraph verify triage-1 --storage {url}\n")
    assert json.loads(older.stdout)["memory"]["draft"] is True


def test_inspect_of_the_latest_says_a_newer_damaged_one_was_skipped(
    agentgraph: Agentgraph, disk_harness: Harness
) -> None:
    url = seeded(disk_harness)
    disk_harness.corrupt("triage-1", 2)

    finished = agentgraph("inspect", "triage-1", "--json", "--storage", url)

    assert finished.code == 0, finished.stderr
    assert json.loads(finished.stdout)["seq"] == 1
    assert finished.stderr.startswith("damaged: checkpoint 'ckpt_triage-1_classify_000002'")
    assert finished.stderr.endswith(
        f"check the run with: agentgraph verify triage-1 --storage {url}\n"
    )
    assert finished.stderr.count("\n") == 1


def test_verify_of_a_run_whose_every_checkpoint_is_damaged_says_it_is_lost(
    agentgraph: Agentgraph, disk_harness: Harness
) -> None:
    url = seeded(disk_harness)
    for seq in range(3):
        disk_harness.corrupt("triage-1", seq)

    finished = agentgraph("verify", "triage-1", "--json", "--storage", url)

    assert finished.code == 1
    report = json.loads(finished.stdout)
    assert report["lost"] is True and report["latest_valid"] is None
    assert "restore the store from a backup" in report["advice"][0]
    assert "--restart" in report["advice"][1]


def test_verify_of_a_batch_says_its_items_are_in_the_ledger(
    agentgraph: Agentgraph, disk_harness: Harness
) -> None:
    seed_batch(disk_harness.storage)
    storage = disk_harness.storage
    record = storage.get_run("docs-1")
    assert record is not None
    newer = storage.load_checkpoint("docs-1", "ckpt_docs-1_batch_000000")
    assert newer is not None
    newer = newer.model_copy(update={"id": "ckpt_docs-1_batch_000001", "seq": 1})
    storage.save_checkpoint(newer, fencing_token=record.fencing_token)
    storage.update_run(
        "docs-1", expect_fencing_token=record.fencing_token, latest_checkpoint_id=newer.id
    )
    disk_harness.close()
    disk_harness.corrupt("docs-1", 1)

    finished = agentgraph("verify", "docs-1", "--json", "--storage", disk_harness.url)
    status = agentgraph("status", "docs-1", "--json", "--storage", disk_harness.url)

    assert finished.code == 1
    report = json.loads(finished.stdout)
    assert report["latest_valid"]["seq"] == 0
    assert report["advice"] == [
        "nothing is done again: a batch's items are in its ledger; its rate and last items "
        "done continue from ckpt_docs-1_batch_000000 (seq 0)"
    ]
    assert json.loads(status.stdout)["counts"]["total"] == 6
    assert status.stderr.startswith("damaged: checkpoint 'ckpt_docs-1_batch_000001'")
