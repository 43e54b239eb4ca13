"""`agentgraph pause`, `cancel`, `fork` and `preview`: one run by its id, or many by filters
after a confirmation; finished runs refused in one line; from another process."""

from __future__ import annotations

import itertools
import json
import os
import pty
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from framework.durable import idempotency_key
from framework.schemas.run import RunRecord, RunStatus
from framework.storage import open_storage

# The `agentgraph` fixture (conftest.py): the command in this process, output captured.
Agentgraph = Callable[..., Any]

FUNCTIONS = """
import os

import anyio


def _step(node):
    async def step(acc):
        await anyio.sleep(float(os.environ.get("STEP_DELAY", "0")))
        return [*acc, node]
    return step


FUNCTIONS = {node: _step(node) for node in ("a", "b", "c")}
"""
START = json.dumps({"acc": []})


def write_agent(folder: Path) -> Path:
    """a -> approve (a person answers ``approved``) -> b -> c, each step appending its name."""
    folder.mkdir(parents=True, exist_ok=True)
    step = {"input_keys": ["acc"], "output_keys": ["acc"], "max_retries": 0}
    nodes = [
        {"id": "a", "name": "a", "description": "step", **step},
        {
            "id": "approve",
            "name": "approve",
            "description": "a person approves",
            "node_type": "human_input",
            "output_keys": ["approved"],
        },
        {"id": "b", "name": "b", "description": "step", **step},
        {"id": "c", "name": "c", "description": "step", **step},
    ]
    order = ["a", "approve", "b", "c"]
    graph = {
        "id": "chain",
        "entry_node": "a",
        "terminal_nodes": ["c"],
        "nodes": nodes,
        "edges": [
            {"id": f"{x}-{y}", "source": x, "target": y} for x, y in itertools.pairwise(order)
        ],
    }
    goal = {"id": "goal", "name": "Goal", "description": "Run the chain."}
    (folder / "agent.json").write_text(json.dumps({"graph": graph, "goal": goal}))
    (folder / "functions.py").write_text(FUNCTIONS)
    return folder


class Store:
    """One storage URL, an agent folder, and the records in it."""

    def __init__(self, tmp_path: Path) -> None:
        self.url = f"sqlite://{tmp_path / 'state.db'}"
        self.agent = write_agent(tmp_path / "agent")
        self.env = {
            "AGENTGRAPH_HOME": str(tmp_path / "home"),
            "HOME": str(tmp_path),
            "PATH": "/usr/bin:/bin",
        }

    def record(self, run_id: str) -> RunRecord:
        with open_storage(self.url) as storage:
            record = storage.get_run(run_id)
        assert record is not None
        return record

    def status(self, run_id: str) -> RunStatus:
        return self.record(run_id).status

    def add(self, run_id: str, status: RunStatus, agent: str | None = "chain") -> None:
        """A run record as a crashed process leaves it: no live lease."""
        with open_storage(self.url) as storage:
            storage.create_run(RunRecord(run_id=run_id, status=status, agent_id=agent))

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "framework.cli.main", *args]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    made = Store(tmp_path)
    for name, value in made.env.items():
        monkeypatch.setenv(name, value)
    return made


def _paused(store: Store, agentgraph: Agentgraph, run_id: str) -> None:
    """Run ``run_id`` of the agent until it waits at ``approve``."""
    done = agentgraph(
        "run", str(store.agent), "--input", START, "--run-id", run_id, "--storage", store.url
    )
    assert done.code == 0, done.stderr
    assert store.status(run_id) is RunStatus.PAUSED


def _completed(store: Store, agentgraph: Agentgraph, run_id: str) -> None:
    _paused(store, agentgraph, run_id)
    done = agentgraph(
        "resume", str(store.agent), run_id, "--input", '{"approved": true}', "--storage", store.url
    )
    assert done.code == 0, done.stderr


# --- one run -----------------------------------------------------------------------------


def test_pausing_a_finished_or_paused_run_is_a_one_line_error(
    store: Store, agentgraph: Agentgraph
) -> None:
    _completed(store, agentgraph, "done")
    _paused(store, agentgraph, "waits")

    finished = agentgraph("pause", "done", "--storage", store.url)
    paused = agentgraph("pause", "waits", "--storage", store.url)
    unknown = agentgraph("pause", "nope", "--storage", store.url)

    assert (finished.code, finished.stdout) == (1, "")
    assert finished.stderr == "error: run done is completed: nothing to pause\n"
    assert paused.stderr == "error: run waits is paused: it is paused already\n"
    assert unknown.code == 1
    assert unknown.stderr.startswith("error: run 'nope' is not in storage sqlite:///")


def test_a_crashed_run_is_paused_at_once_and_the_hint_names_its_agent(
    store: Store, agentgraph: Agentgraph
) -> None:
    store.add("crashed", RunStatus.RUNNING)

    paused = agentgraph("pause", "crashed", "--storage", store.url, "--reason", "deploy")

    assert paused.code == 0, paused.stderr
    assert paused.stdout.splitlines() == [
        "run crashed paused (no live process was running it)",
        f"resume with: agentgraph resume AGENT_DIR crashed --storage {store.url} "
        "(AGENT_DIR: the folder of agent 'chain')",
    ]
    record = store.record("crashed")
    assert (record.status, record.status_reason) == (RunStatus.PAUSED, "deploy")


def test_cancel_ends_a_paused_run_for_good_and_refuses_a_second_time(
    store: Store, agentgraph: Agentgraph
) -> None:
    _paused(store, agentgraph, "ask")

    cancelled = agentgraph("cancel", "ask", "--storage", store.url)
    again = agentgraph("cancel", "ask", "--storage", store.url)
    resumed = agentgraph(
        "resume", str(store.agent), "ask", "--input", '{"approved": true}', "--storage", store.url
    )

    assert cancelled.stdout == "run ask cancelled\n"
    assert store.status("ask") is RunStatus.CANCELLED
    assert again.code == 1
    assert again.stderr == "error: run ask is cancelled already: nothing to cancel\n"
    assert resumed.code == 1
    assert "was cancelled (cancelled by agentgraph cancel)" in resumed.stderr


def test_a_run_in_another_process_pauses_after_its_current_node(
    store: Store, agentgraph: Agentgraph
) -> None:
    child = subprocess.Popen(
        store.command(
            "run", str(store.agent), "--input", START, "--run-id", "live", "--storage", store.url
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**store.env, "STEP_DELAY": "1.5"},
    )
    deadline = time.monotonic() + 30
    while not _exists(store, "live") or store.status("live") is not RunStatus.RUNNING:
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.05)

    paused = agentgraph("pause", "live", "--storage", store.url)
    stdout, stderr = child.communicate(timeout=60)

    assert (
        paused.stdout.splitlines()[0] == "pause requested: run live pauses after its current node"
    )
    assert child.returncode == 0, stderr
    assert "paused by agentgraph pause" in stdout
    assert f"resume with: agentgraph resume {store.agent} live --input" in stdout
    assert store.record("live").status_reason == "paused by agentgraph pause"


def _exists(store: Store, run_id: str) -> bool:
    with open_storage(store.url) as storage:
        return storage.get_run(run_id) is not None


# --- many runs, by filters ---------------------------------------------------------------


def test_filters_without_a_terminal_refuse_unless_yes_is_given(
    store: Store, agentgraph: Agentgraph
) -> None:
    for run_id in ("r1", "r2", "r3"):
        store.add(run_id, RunStatus.RUNNING)
    store.add("other", RunStatus.RUNNING, agent="another")

    refused = agentgraph("pause", "--agent", "chain", "--storage", store.url)
    assert refused.code == 1
    assert refused.stdout.splitlines()[0] == "3 run(s) match:"
    assert refused.stderr == (
        "error: Pause 3 run(s)? No terminal to ask on: pass --yes to go ahead\n"
    )
    assert {store.status(r) for r in ("r1", "r2", "r3")} == {RunStatus.RUNNING}

    done = agentgraph(
        "pause", "--agent", "chain", "--status", "running", "--yes", "--storage", store.url
    )

    assert done.code == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "3 of 3 run(s) done"
    assert {store.status(r) for r in ("r1", "r2", "r3")} == {RunStatus.PAUSED}
    assert store.status("other") is RunStatus.RUNNING


def test_filters_skip_the_runs_that_cannot_be_steered_and_name_them(
    store: Store, agentgraph: Agentgraph
) -> None:
    store.add("paused", RunStatus.PAUSED)
    store.add("done", RunStatus.COMPLETED)

    result = agentgraph("cancel", "--agent", "chain", "--yes", "--storage", store.url)

    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "run paused cancelled" in lines
    assert "skipped: run done is completed already: nothing to cancel" in lines
    assert lines[-1] == "1 of 2 run(s) done"


def test_time_filters_select_by_creation_and_a_bad_time_is_an_error(
    store: Store, agentgraph: Agentgraph
) -> None:
    store.add("r1", RunStatus.RUNNING)

    none = agentgraph("pause", "--until", "1h", "--storage", store.url)
    since = agentgraph("pause", "--since", "1h", "--yes", "--storage", store.url)
    bad = agentgraph("pause", "--since", "yesterday", "--storage", store.url)

    assert (none.code, none.stdout) == (0, "no runs match\n")
    assert since.stdout.splitlines()[-1] == "1 of 1 run(s) done"
    assert bad.code == 1
    assert bad.stderr.startswith("error: --since / --until: 'yesterday' is not a time")


@pytest.mark.parametrize(
    "args", [("pause",), ("pause", "r1", "--status", "running"), ("cancel",), ("retry-failed",)]
)
def test_a_run_id_and_filters_together_or_neither_is_a_usage_error(
    store: Store, agentgraph: Agentgraph, args: tuple[str, ...]
) -> None:
    assert agentgraph(*args, "--storage", store.url).code == 2


@pytest.mark.parametrize(("answer", "code", "status"), [("y", 0, "cancelled"), ("n", 1, "paused")])
def test_on_a_terminal_filters_ask_before_acting(
    store: Store, answer: str, code: int, status: str
) -> None:
    store.add("p1", RunStatus.PAUSED)
    store.add("p2", RunStatus.PAUSED)
    main, terminal = pty.openpty()
    try:
        child = subprocess.Popen(
            store.command("cancel", "--status", "paused", "--storage", store.url),
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=store.env,
        )
        os.write(main, f"{answer}\n".encode())
        _stdout, stderr = child.communicate(timeout=60)
    finally:
        os.close(main)
        os.close(terminal)

    assert child.returncode == code, stderr
    assert "Cancel 2 run(s)? [y/N]" in stderr
    assert {store.status("p1"), store.status("p2")} == {RunStatus(status)}
    if answer == "n":
        assert stderr.rstrip().endswith("nothing done")


# --- fork ----------------------------------------------------------------------------------


def test_fork_starts_a_new_run_with_memory_set_and_leaves_the_run_as_it_was(
    store: Store, agentgraph: Agentgraph
) -> None:
    _paused(store, agentgraph, "ask")

    forked = agentgraph(
        "fork", "ask", "--set", 'acc=["forked"]', "--run-id", "ask-2", "--storage", store.url
    )

    assert forked.code == 0, forked.stderr
    first, hint = forked.stdout.splitlines()
    assert first.startswith("forked run ask at checkpoint ckpt_ask_")
    assert first.endswith(" as run ask-2 with acc set")
    assert hint == (f"run it with: agentgraph resume ask-2 --storage {store.url}")
    resumed = agentgraph(
        "resume",
        str(store.agent),
        "ask-2",
        "--input",
        '{"approved": true}',
        "--json",
        "--storage",
        store.url,
    )
    assert resumed.code == 0, resumed.stderr
    assert json.loads(resumed.stdout)["output"]["acc"] == ["forked", "b", "c"]
    assert store.status("ask") is RunStatus.PAUSED
    assert store.record("ask-2").parent_run_id == "ask"


@pytest.mark.parametrize(
    ("args", "code", "error"),
    [
        (("--set", "acc=[1,"), 1, "error: --set acc: '[1,' is not valid JSON"),
        (("--set", "acc"), 2, ""),
        (("--checkpoint", "ckpt_ask_a_000099"), 1, "error: run 'ask' has no checkpoint"),
    ],
)
def test_a_bad_fork_is_refused(
    store: Store, agentgraph: Agentgraph, args: tuple[str, ...], code: int, error: str
) -> None:
    _paused(store, agentgraph, "ask")

    refused = agentgraph("fork", "ask", *args, "--storage", store.url)

    assert refused.code == code
    assert refused.stderr.startswith(error)


# --- preview -------------------------------------------------------------------------------


def test_preview_says_what_is_done_what_runs_next_and_which_effects_are_in_doubt(
    store: Store, agentgraph: Agentgraph
) -> None:
    _paused(store, agentgraph, "ask")
    with open_storage(store.url) as storage:
        storage.start_effect("ask", "b", "b:charge", idempotency_key("ask", "b", "b:charge"))

    shown = agentgraph("preview", "ask", "--storage", store.url)

    assert shown.code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("run ask: paused (")
    assert lines[1].startswith("continues from checkpoint ckpt_ask_")
    assert lines[2:5] == [
        "done: a",
        "next: approve",
        "spent: 1 steps, 0 tokens, cost 0.0000",
    ]
    assert lines[5] == "effects in doubt (started, no outcome recorded): 1"
    assert lines[6].startswith("  b:charge (node b, 1 attempt(s), first started ")
    assert lines[-1] == (f"resume with: agentgraph resume ask --storage {store.url}")


def test_preview_of_a_completed_run_says_resuming_runs_nothing(
    store: Store, agentgraph: Agentgraph
) -> None:
    _completed(store, agentgraph, "done")

    shown = agentgraph("preview", "done", "--storage", store.url)

    assert shown.stdout.splitlines()[:2] == [
        "run done: completed",
        "resuming runs nothing: it is done",
    ]
    assert "resume with" not in shown.stdout
