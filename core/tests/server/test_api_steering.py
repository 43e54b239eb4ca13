"""Pause, cancel, resume and retry-failed over the API: as the commands do, the server
running a resume itself when it was given the run's agent, else naming the command."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from server_helpers import BEARER, Store, serve


def wait_for(client: TestClient, run_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        document: dict[str, Any] = client.get(f"/api/runs/{run_id}").json()
        if document["status"] == status:
            return document
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} is still {document['status']}, not {status}")


@pytest.fixture
def paused(store: Store) -> str:
    """Batch ``tight``, paused by its budget after its first items."""
    store.batch("tight", "--max-tokens", "1")
    return "tight"


def test_a_paused_batch_resumes_in_the_server_given_its_agent(
    client: TestClient, store: Store, paused: str
) -> None:
    answer = client.post(f"/api/runs/{paused}/resume", json={"max_tokens": 1000}, headers=BEARER)

    assert answer.status_code == 202
    assert answer.json()["started"] is True
    assert answer.json()["message"] == "run tight resumes: running in this server"
    final = wait_for(client, paused, "completed")
    assert final["counts"]["completed"] == 19 and final["counts"]["failed"] == 1
    assert final["counts"]["usage"]["tokens_in"] == 3 * 19
    # docs (19 completed) and g1 (1) ran before; tight's 19 completed items each ran once.
    assert len(store.finished()) == 19 + 1 + 19


def test_without_its_agent_the_server_names_the_command_a_worker_runs(
    store: Store, paused: str
) -> None:
    with serve(store) as client:
        answer = client.post(f"/api/runs/{paused}/resume", headers=BEARER)

    command = f"agentgraph resume tight --storage {store.url}"
    assert answer.status_code == 409
    assert answer.json() == {
        "error": "this server was not given the run's agent (agent 'per-item') with --agent; "
        f"a worker must resume run tight: {command}",
        "command": command,
    }


def test_pause_and_cancel_of_a_run_that_cannot_are_409_saying_why(client: TestClient) -> None:
    paused = client.post("/api/runs/docs/pause", headers=BEARER)
    cancelled = client.post("/api/runs/g1/cancel", headers=BEARER)

    assert paused.status_code == 409
    assert paused.json() == {"error": "run docs is completed: nothing to pause"}
    assert cancelled.json() == {"error": "run g1 is completed already: nothing to cancel"}


def test_a_paused_run_cancelled_stays_cancelled_and_is_never_resumed(
    client: TestClient, paused: str
) -> None:
    again = client.post(f"/api/runs/{paused}/pause", headers=BEARER)
    cancel = client.post(f"/api/runs/{paused}/cancel", json={"reason": "enough"}, headers=BEARER)
    resume = client.post(f"/api/runs/{paused}/resume", headers=BEARER)

    assert again.json() == {"error": "run tight is paused: it is paused already"}
    assert cancel.json()["message"] == "run tight cancelled"
    assert client.get(f"/api/runs/{paused}").json()["reason"] == "enough"
    assert resume.json() == {"error": "run tight is cancelled: a cancelled run is never continued"}


def test_retry_failed_runs_only_the_failed_items_in_the_server(
    client: TestClient, store: Store
) -> None:
    store.marker.unlink()
    before = store.item_attempts("docs")
    finished_before = len(store.finished())

    answer = client.post("/api/runs/docs/retry-failed", headers=BEARER)

    assert answer.json()["message"] == (
        "batch docs: 1 failed item(s) pending again: running in this server"
    )
    final = wait_for(client, "docs", "completed")
    deadline = time.monotonic() + 20
    while final["counts"]["pending"] or final["counts"]["running"]:
        assert time.monotonic() < deadline
        final = wait_for(client, "docs", "completed")
    assert final["counts"]["completed"] == 20 and final["counts"]["failed"] == 0
    after = store.item_attempts("docs")
    assert {item: after[item] - before[item] for item in after if after[item] != before[item]} == {
        "n7": 1
    }
    assert store.finished()[finished_before:] == [7]


def test_retry_failed_of_a_graph_run_is_409_and_without_the_agent_names_the_command(
    store: Store,
) -> None:
    with serve(store) as client:
        graph = client.post("/api/runs/g1/retry-failed", headers=BEARER)
        batch = client.post(
            "/api/runs/docs/retry-failed", json={"item_ids": ["n7"]}, headers=BEARER
        )

    assert graph.status_code == 409
    assert graph.json() == {"error": "run g1 is a graph run, not a batch: it has no items"}
    assert batch.json()["command"] == f"agentgraph resume docs --storage {store.url}"
    assert batch.json()["message"].startswith("batch docs: 1 failed item(s) pending again; ")


def test_a_bad_body_is_a_400_naming_the_field(client: TestClient) -> None:
    extra = client.post("/api/runs/docs/pause", json={"why": "x"}, headers=BEARER)
    ids = client.post("/api/runs/docs/retry-failed", json={"item_ids": ["a/b"]}, headers=BEARER)

    assert (
        extra.status_code == 400 and "why: Extra inputs are not permitted" in extra.json()["error"]
    )
    assert ids.status_code == 400 and "invalid item id 'a/b'" in ids.json()["error"]


def _events(client: TestClient, run_id: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    with client.stream("GET", f"/api/runs/{run_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: ") and name is not None:
                events.append((name, json.loads(line.removeprefix("data: "))))
    return events


def test_the_event_stream_of_a_run_standing_still_is_its_status_then_end(
    client: TestClient, store: Store
) -> None:
    events = _events(client, "docs")

    assert [name for name, _ in events] == ["status", "end"]
    status = client.get("/api/runs/docs").json()
    assert events[0][1] == {key: value for key, value in status.items() if key != "schema_version"}
    assert events[1][1] == {"run_id": "docs", "status": "completed"}


def test_the_event_stream_follows_a_resumed_batch_to_its_end(
    client: TestClient, store: Store, paused: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ITEM_DELAY", "0.05")
    client.post(f"/api/runs/{paused}/resume", json={"max_tokens": 1000}, headers=BEARER)
    wait_for(client, paused, "running")

    events = _events(client, paused)

    names = [name for name, _ in events]
    statuses = [document for name, document in events if name == "status"]
    completed = [document["counts"]["completed"] for document in statuses]
    assert names[-1] == "end" and events[-1][1]["status"] == "completed"
    assert ("status-change", {"run_id": "tight", "from": "running", "to": "completed"}) in events
    assert completed == sorted(completed) and len(set(completed)) > 1
    assert ("item-failed", "n7") in [(name, doc.get("item_id")) for name, doc in events]


def test_an_event_stream_of_an_unknown_run_is_a_404(client: TestClient) -> None:
    answer = client.get("/api/runs/nope/events")

    assert answer.status_code == 404 and "no run 'nope'" in answer.json()["error"]
