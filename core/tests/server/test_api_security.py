"""Who may change runs: the bearer token, or the page's login cookie with its CSRF token;
a read-only server refuses every change; reading stays open."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from server_helpers import BEARER, TOKEN, Store, serve

from framework.server import ServerConfig, create_app
from framework.settings import API_TOKEN_ENV


def _status(client: TestClient, run_id: str) -> str:
    status: str = client.get(f"/api/runs/{run_id}").json()["status"]
    return status


def test_a_change_without_the_token_is_refused_and_changes_nothing(
    client: TestClient, store: Store
) -> None:
    store.batch("tight", "--max-tokens", "1")

    bare = client.post("/api/runs/tight/cancel")
    wrong = client.post("/api/runs/tight/cancel", headers={"Authorization": "Bearer nope"})

    assert bare.status_code == 401 and bare.headers["www-authenticate"] == "Bearer"
    assert bare.json()["error"].startswith("changing a run needs 'Authorization: Bearer <token>'")
    assert wrong.status_code == 401
    assert wrong.json() == {"error": "wrong bearer token: give the token agentgraph serve printed"}
    assert _status(client, "tight") == "paused"


def test_a_read_only_server_refuses_every_change_but_answers_reads(store: Store) -> None:
    with serve(store, read_only=True) as client:
        refused = client.post("/api/runs/docs/retry-failed", headers=BEARER)
        read = client.get("/api/runs/docs")

    assert refused.status_code == 403
    assert refused.json() == {"error": "this server is read-only (agentgraph serve --read-only)"}
    assert read.status_code == 200 and read.json()["counts"]["failed"] == 1


def test_the_login_link_works_once_and_sets_a_strict_http_only_cookie(store: Store) -> None:
    with serve(store) as client:
        code = client.app.state.served.auth.login_code  # type: ignore[attr-defined]
        first = client.get(f"/login?code={code}", follow_redirects=False)
        again = client.get(f"/login?code={code}", follow_redirects=False)

    cookie = first.headers["set-cookie"]
    assert first.status_code == 303 and first.headers["location"] == "/"
    assert "agentgraph_session=" in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie and "Path=/" in cookie
    assert again.status_code == 403 and "wrong or was used already" in again.json()["error"]


def test_the_page_session_changes_runs_only_with_its_csrf_token(store: Store) -> None:
    store.batch("tight", "--max-tokens", "1")
    with serve(store) as client:
        auth = client.app.state.served.auth  # type: ignore[attr-defined]
        client.get(f"/login?code={auth.login_code}")
        session = client.get("/api/session").json()
        without = client.post("/api/runs/tight/cancel")
        forged = client.post("/api/runs/tight/cancel", headers={"X-CSRF-Token": "guess"})
        with_csrf = client.post(
            "/api/runs/tight/cancel", headers={"X-CSRF-Token": session["csrf_token"]}
        )

    assert session["read_only"] is False and session["agents"] == []
    assert without.status_code == forged.status_code == 403
    assert without.json() == {"error": "missing or wrong X-CSRF-Token header for this session"}
    assert with_csrf.status_code == 200 and with_csrf.json()["status"] == "cancelled"


def test_the_token_comes_from_agentgraph_api_token_when_set(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(API_TOKEN_ENV, "from-the-environment")
    with TestClient(create_app(ServerConfig(storage=store.url))) as client:
        env = client.post(
            "/api/runs/docs/pause", headers={"Authorization": "Bearer from-the-environment"}
        )
        fixed = client.post("/api/runs/docs/pause", headers=BEARER)

    assert env.status_code == 409  # let in: the completed run has nothing to pause
    assert fixed.status_code == 401 and TOKEN != "from-the-environment"


def test_without_a_token_given_one_is_generated_per_server(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(API_TOKEN_ENV, raising=False)
    first = create_app(ServerConfig(storage=store.url)).state.served.auth
    second = create_app(ServerConfig(storage=store.url)).state.served.auth

    assert len(first.token) >= 40 and first.token != second.token
    assert first.login_code != first.token
