"""A storage holding a finished batch (some items failed) and a graph run, one agent folder
that runs them, and the server's app on that storage behind a test client.

Imported by name (this folder is on ``sys.path`` while its tests run); the name is unique
among the test folders, so no other helper module or conftest can shadow it.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from framework.cli.main import main
from framework.server import ServerConfig, create_app
from framework.storage import open_storage

TOKEN = "test-token-0123456789"

# One function node per item: it sleeps ITEM_DELAY seconds, and fails for every n that is 7
# modulo 50 while the file FAIL_MARKER names exists; it logs the n it finished.
FUNCTIONS = """
import os
from pathlib import Path

import anyio

from framework.graph.node import NodeResult


async def work(n):
    await anyio.sleep(float(os.environ.get("ITEM_DELAY", "0")))
    marker = os.environ.get("FAIL_MARKER", "")
    if n % 50 == 7 and marker and Path(marker).exists():
        raise ValueError(f"{n} is unlucky")
    with open(os.environ["ITEM_LOG"], "a") as log:
        log.write(f"{n}\\n")
    return NodeResult(success=True, output={"square": n * n}, tokens_used=3)


FUNCTIONS = {"work": work}
"""


def write_agent(folder: Path) -> Path:
    """An agent (id ``per-item``) whose one node squares ``n``."""
    folder.mkdir(parents=True, exist_ok=True)
    node = {
        "id": "work",
        "name": "work",
        "description": "squares n, slowly",
        "input_keys": ["n"],
        "output_keys": ["square"],
        "max_retries": 0,
    }
    graph = {"id": "per-item", "entry_node": "work", "terminal_nodes": ["work"], "nodes": [node]}
    goal = {"id": "squares", "name": "Squares", "description": "Square every n."}
    (folder / "agent.json").write_text(json.dumps({"graph": graph, "goal": goal}))
    (folder / "functions.py").write_text(FUNCTIONS)
    return folder


def write_items(path: Path, count: int) -> Path:
    path.write_text("".join(json.dumps({"id": f"n{n}", "n": n}) + "\n" for n in range(count)))
    return path


def agentgraph(*args: str) -> tuple[int, str, str]:
    """``agentgraph *args`` in this process: exit code, stdout, stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    with redirect_stdout(stdout), redirect_stderr(stderr):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, stdout.getvalue(), stderr.getvalue()


def cli_json(*args: str) -> dict[str, Any]:
    """What ``agentgraph *args --json`` prints, parsed."""
    code, stdout, stderr = agentgraph(*args, "--json")
    assert code == 0, stderr
    document: dict[str, Any] = json.loads(stdout)
    return document


class Store:
    """One SQLite storage with batch ``docs`` (20 items, n7 failed), graph run ``g1``, and
    the agent folder both ran with."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.url = f"sqlite://{tmp_path / 'state.db'}"
        self.agent = write_agent(tmp_path / "agent")
        self.items = write_items(tmp_path / "items.jsonl", 20)
        self.log = tmp_path / "items.log"
        self.marker = tmp_path / "fail-now"
        self.marker.touch()
        monkeypatch.setenv("ITEM_LOG", str(self.log))
        monkeypatch.setenv("FAIL_MARKER", str(self.marker))
        monkeypatch.setenv("AGENTGRAPH_HOME", str(tmp_path / "home"))
        self.batch("docs")
        code, _, stderr = agentgraph(
            "run", str(self.agent), "--input", '{"n": 3}', "--run-id", "g1", "--storage", self.url
        )
        assert code == 0, stderr

    def batch(self, run_id: str, *options: str) -> None:
        code, _, stderr = agentgraph(
            "batch",
            str(self.agent),
            "--items",
            str(self.items),
            "--run-id",
            run_id,
            "--id-key",
            "id",
            "--max-attempts",
            "1",
            *options,
            "--storage",
            self.url,
        )
        assert code == 0, stderr

    def finished(self) -> list[int]:
        """The n of every item the function finished, in order (repeats included)."""
        if not self.log.exists():
            return []
        return [int(line) for line in self.log.read_text().split()]

    def item_attempts(self, run_id: str) -> dict[str, int]:
        with open_storage(self.url) as storage:
            return {item.item_id: item.attempts for item in storage.list_items(run_id)}


def serve(store: Store, **options: Any) -> TestClient:
    """A test client of the app on ``store`` (enter it to start the app)."""
    config = ServerConfig(storage=store.url, token=TOKEN, interval=0.02, **options)
    return TestClient(create_app(config))


BEARER = {"Authorization": f"Bearer {TOKEN}"}
