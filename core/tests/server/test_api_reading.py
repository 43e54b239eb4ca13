"""The API's reading endpoints answer what the view commands print with --json, and every
bad request is a JSON error with a message, never a 5xx."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from server_helpers import Store, cli_json


def test_runs_lists_what_agentgraph_runs_json_prints(client: TestClient, store: Store) -> None:
    assert client.get("/api/runs").json() == cli_json("runs", "--storage", store.url)


def test_runs_takes_the_cli_filters_and_group_by(client: TestClient, store: Store) -> None:
    graph_runs = client.get("/api/runs", params={"agent": "per-item", "since": "1h"}).json()
    grouped = client.get("/api/runs", params={"group_by": "status"}).json()
    paged = client.get("/api/runs", params={"limit": 1, "offset": 1}).json()

    assert graph_runs == cli_json(
        "runs", "--agent", "per-item", "--since", "1h", "--storage", store.url
    )
    assert grouped == cli_json("runs", "--group-by", "status", "--storage", store.url)
    assert {"status": "failed", "runs": 1} in grouped["groups"]  # the child run of n7
    assert paged == cli_json("runs", "--limit", "1", "--offset", "1", "--storage", store.url)
    assert len(paged["runs"]) == 1


def test_a_batch_status_is_what_agentgraph_status_json_prints(
    client: TestClient, store: Store
) -> None:
    answered = client.get("/api/runs/docs").json()

    assert answered == cli_json("status", "docs", "--storage", store.url)
    assert answered["counts"]["completed"] == 19 and answered["counts"]["failed"] == 1
    assert [item["item_id"] for item in answered["failed"]] == ["n7"]


def test_a_graph_run_status_gives_its_node_path(client: TestClient, store: Store) -> None:
    answered = client.get("/api/runs/g1").json()
    printed = cli_json("status", "g1", "--storage", store.url)

    assert {**answered, "lease": None} == {**printed, "lease": None}
    assert answered["path"] == ["work"] and answered["kind"] == "graph"


def test_checkpoints_and_inspect_are_what_the_commands_print(
    client: TestClient, store: Store
) -> None:
    listed = client.get("/api/runs/g1/checkpoints").json()
    by_seq = client.get("/api/runs/g1/checkpoints/1").json()
    latest = client.get("/api/runs/g1/checkpoints/latest").json()
    by_id = client.get(f"/api/runs/g1/checkpoints/{by_seq['id']}").json()

    assert listed == cli_json("checkpoints", "g1", "--storage", store.url)
    assert by_seq == latest == by_id == cli_json("inspect", "g1", "1", "--storage", store.url)
    assert by_seq["memory"] == {"n": 3, "square": 9}


def test_items_filter_by_status_and_error_as_items_does(client: TestClient, store: Store) -> None:
    failed = client.get("/api/runs/docs/items", params={"status": "failed"}).json()
    unlucky = client.get("/api/runs/docs/items", params={"error_contains": "unlucky"}).json()
    first = client.get("/api/runs/docs/items", params={"limit": 2}).json()

    assert failed == cli_json("items", "docs", "--status", "failed", "--storage", store.url)
    assert unlucky == failed and [item["item_id"] for item in failed["items"]] == ["n7"]
    assert [item["item_id"] for item in first["items"]] == ["n0", "n1"]
    assert client.get("/api/runs/g1/items").json() == {"schema_version": 1, "items": []}


@pytest.mark.parametrize(
    ("path", "status", "said"),
    [
        ("/api/runs/nope", 404, "no run 'nope' in storage sqlite://"),
        ("/api/runs/nope/items", 404, "list its runs with: agentgraph runs --storage"),
        ("/api/runs/a%20b", 400, "invalid run id 'a b'"),
        ("/api/runs/-x/checkpoints", 400, "invalid run id '-x'"),
        ("/api/runs/g1/checkpoints/9", 404, "run 'g1' has no checkpoint numbered 9"),
        ("/api/runs/g1/checkpoints/a%20b", 400, "invalid checkpoint id 'a b'"),
        ("/api/runs?since=soon", 400, "since: 'soon' is not a time"),
        ("/api/runs?status=sleeping", 400, "invalid request: query.status: Input should be"),
        ("/api/runs?limit=0", 400, "query.limit: Input should be greater than or equal to 1"),
        ("/api/runs?agent=..", 400, "invalid agent id '..'"),
        ("/api/runs?group_by=status&limit=3", 400, "group_by counts every matching run"),
        ("/api/runs/docs/items?status=lost", 400, "query.status: Input should be"),
        ("/api/nothing-here", 404, "no such page or endpoint: /api/nothing-here"),
    ],
)
def test_a_bad_request_is_a_json_error_with_a_message(
    client: TestClient, path: str, status: int, said: str
) -> None:
    answer = client.get(path)

    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/json"
    assert said in answer.json()["error"]
    assert "Traceback" not in answer.text


def test_a_wrong_method_is_a_json_405(client: TestClient) -> None:
    answer = client.delete("/api/runs/docs")

    assert answer.status_code == 405
    assert answer.json() == {"error": "DELETE is not allowed on /api/runs/docs"}


def test_the_openapi_document_names_every_endpoint_and_the_bearer_token(
    client: TestClient,
) -> None:
    document = client.get("/api/openapi.json").json()

    assert set(document["paths"]) == {
        "/api/runs",
        "/api/runs/{run_id}",
        "/api/runs/{run_id}/checkpoints",
        "/api/runs/{run_id}/checkpoints/{ref}",
        "/api/runs/{run_id}/items",
        "/api/runs/{run_id}/events",
        "/api/session",
        "/api/runs/{run_id}/pause",
        "/api/runs/{run_id}/cancel",
        "/api/runs/{run_id}/resume",
        "/api/runs/{run_id}/retry-failed",
    }
    pause = document["paths"]["/api/runs/{run_id}/pause"]["post"]
    assert pause["security"] == [{"HTTPBearer": []}]
