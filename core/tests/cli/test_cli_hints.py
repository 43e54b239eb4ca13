"""The `resume with:` hint after a pause, a stop, a crash or a spent budget runs as printed.

Each test takes the command the hint prints and runs it in a shell (bash, with the
``agentgraph`` script on its PATH): it must continue the run. The agent folder and the
storage path hold spaces, a quote and a ``$``, so a hint not quoted for the shell would
fail. An answer with the wrong keys is refused, naming the missing ones, and a complete
answer afterwards continues the run.
"""

from __future__ import annotations

import itertools
import json
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import framework
from framework.schemas.run import RunRecord, RunStatus
from framework.storage import open_storage

SCRIPT = Path(sys.executable).parent / "agentgraph"
NODES = ["a", "b", "c"]
START = json.dumps({"acc": []})

# Each step logs, may crash or sleep (asynchronously, so a second signal interrupts it),
# and reports 50 tokens, so a budget can run out.
FUNCTIONS = """
import os
import signal

import anyio

from framework.graph.node import NodeResult


def _make(node):
    async def step(acc):
        with open(os.environ["HINT_TEST_LOG"], "a") as log:
            log.write(f"start {node}\\n")
        if os.environ.get("HINT_TEST_CRASH_AT") == node:
            os.kill(os.getpid(), signal.SIGKILL)
        if os.environ.get("HINT_TEST_SLOW") == node:
            await anyio.sleep(30)
        return NodeResult(success=True, output={"acc": [*acc, node]}, tokens_used=50)
    return step


FUNCTIONS = {node: _make(node) for node in ["a", "b", "c"]}
"""


def write_agent(folder: Path, *, human: bool = False, pause_after: str | None = None) -> Path:
    """A chain a -> b -> c, with a human_input node ``approve`` after ``a`` if ``human``."""
    folder.mkdir(parents=True)
    nodes: list[dict[str, object]] = [
        {
            "id": node,
            "name": node,
            "description": "logged step",
            "input_keys": ["acc"],
            "output_keys": ["acc"],
            "max_retries": 0,
        }
        for node in NODES
    ]
    order = list(NODES)
    if human:
        order.insert(1, "approve")
        nodes.insert(
            1,
            {
                "id": "approve",
                "name": "approve",
                "description": "a person approves",
                "node_type": "human_input",
                "output_keys": ["approved", "note"],
            },
        )
    graph = {
        "id": "hint-chain",
        "entry_node": "a",
        "terminal_nodes": ["c"],
        "pause_nodes": [pause_after] if pause_after else [],
        "nodes": nodes,
        "edges": [
            {"id": f"{x}-{y}", "source": x, "target": y} for x, y in itertools.pairwise(order)
        ],
    }
    goal = {"id": "goal", "name": "Goal", "description": "Run the chain."}
    (folder / "agent.json").write_text(json.dumps({"graph": graph, "goal": goal}))
    (folder / "functions.py").write_text(FUNCTIONS)
    return folder


class Cli:
    """`agentgraph` in child processes, with an awkward agent path and storage path."""

    def __init__(self, tmp_path: Path) -> None:
        self.log = tmp_path / "nodes.log"
        self.url = f"sqlite://{tmp_path / 'the store' / 'run state.db'}"
        self.env = {
            "AGENTGRAPH_HOME": str(tmp_path / "home"),
            "HOME": str(tmp_path),
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(Path(framework.__file__).parents[1]),
            "HINT_TEST_LOG": str(self.log),
        }
        self.cwd = tmp_path

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**self.env, **env},
            cwd=self.cwd,
            check=False,
        )

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(SCRIPT), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**self.env, **env},
            cwd=self.cwd,
        )

    def run_hint(self, output: str) -> subprocess.CompletedProcess[str]:
        """Paste the one ``resume with: ...`` command in ``output`` into a shell, as printed."""
        hints = [
            line.split("resume with: ", 1)[1]
            for line in output.splitlines()
            if "resume with: " in line
        ]
        assert len(hints) == 1, output
        assert shlex.split(hints[0])[:2] == ["agentgraph", "resume"], hints[0]
        return subprocess.run(
            ["bash", "-c", hints[0]],
            capture_output=True,
            text=True,
            timeout=60,
            env={**self.env, "PATH": f"{SCRIPT.parent}:{self.env['PATH']}"},
            cwd=self.cwd,
            check=False,
        )

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def record(self, run_id: str) -> RunRecord:
        with open_storage(self.url) as storage:
            record = storage.get_run(run_id)
        assert record is not None
        return record


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def awkward_folder(tmp_path: Path) -> Path:
    return tmp_path / "agents" / "Bob's agent $HOME"


def assert_completed(completed: subprocess.CompletedProcess[str]) -> None:
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.startswith("completed"), completed.stdout


def test_a_human_input_pause_hints_a_command_with_the_storage_and_the_expected_keys(
    cli: Cli, tmp_path: Path
) -> None:
    agent = write_agent(awkward_folder(tmp_path), human=True)
    paused = cli.run("run", str(agent), "--input", START, "--run-id", "ask", "--storage", cli.url)
    assert paused.returncode == 0, paused.stderr
    assert "paused at node 'approve'" in paused.stdout
    hint = next(line for line in paused.stdout.splitlines() if line.startswith("resume with: "))
    words = shlex.split(hint.removeprefix("resume with: "))
    assert words[words.index("--storage") + 1] == cli.url
    assert set(json.loads(words[words.index("--input") + 1])) == {"approved", "note"}

    assert_completed(cli.run_hint(paused.stdout))
    assert cli.record("ask").status is RunStatus.COMPLETED
    assert cli.lines() == ["start a", "start b", "start c"]


def test_a_pause_node_hints_a_command_that_continues_the_run(cli: Cli, tmp_path: Path) -> None:
    agent = write_agent(awkward_folder(tmp_path), pause_after="a")
    paused = cli.run("run", str(agent), "--input", START, "--run-id", "p", "--storage", cli.url)
    assert paused.returncode == 0, paused.stderr
    assert "--input" not in paused.stdout.split("resume with: ", 1)[1]

    assert_completed(cli.run_hint(paused.stdout))
    assert cli.lines() == ["start a", "start b", "start c"]


def test_a_spent_budget_hints_a_command_with_a_larger_budget(cli: Cli, tmp_path: Path) -> None:
    agent = write_agent(awkward_folder(tmp_path))
    args = ("--input", START, "--run-id", "money", "--storage", cli.url)
    paused = cli.run("run", str(agent), *args, "--max-tokens", "60")
    assert paused.returncode == 0, paused.stderr
    assert "paused at node 'c': budget_exhausted" in paused.stdout
    assert cli.lines() == ["start a", "start b"]

    assert_completed(cli.run_hint(paused.stdout))
    assert cli.lines() == ["start a", "start b", "start c"]


def test_a_run_stopped_at_once_hints_a_command_that_reruns_the_node_in_flight(
    cli: Cli, tmp_path: Path
) -> None:
    agent = write_agent(awkward_folder(tmp_path))
    args = ("--input", START, "--run-id", "sig", "--storage", cli.url)
    child = cli.start("run", str(agent), *args, HINT_TEST_SLOW="b")
    wait_until(lambda: "start b" in cli.lines())
    child.send_signal(signal.SIGINT)
    time.sleep(0.3)
    child.send_signal(signal.SIGINT)
    _stdout, stderr = child.communicate(timeout=30)
    assert child.returncode == 130, stderr
    assert "stopped at once by SIGINT" in stderr

    assert_completed(cli.run_hint(stderr))
    assert cli.lines() == ["start a", "start b", "start b", "start c"]


def test_a_recovered_run_that_pauses_hints_how_to_answer_it(cli: Cli, tmp_path: Path) -> None:
    agent = write_agent(awkward_folder(tmp_path), human=True)
    args = ("--input", START, "--run-id", "crash", "--storage", cli.url)
    crashed = cli.run("run", str(agent), *args, HINT_TEST_CRASH_AT="a")
    assert crashed.returncode == -signal.SIGKILL

    recovered = cli.run("recover", str(agent), "--storage", cli.url)
    assert recovered.returncode == 0, recovered.stderr
    assert recovered.stdout.startswith("recovered run crash: paused at node 'approve'")

    assert_completed(cli.run_hint(recovered.stdout))
    assert cli.record("crash").status is RunStatus.COMPLETED


def test_an_answer_with_the_wrong_keys_is_refused_naming_the_missing_ones(
    cli: Cli, tmp_path: Path
) -> None:
    agent = write_agent(awkward_folder(tmp_path), human=True)
    cli.run("run", str(agent), "--input", START, "--run-id", "ask", "--storage", cli.url)
    wrong = cli.run(
        "resume", str(agent), "ask", "--input", '{"aproved": true}', "--storage", cli.url
    )
    assert wrong.returncode == 1, wrong.stdout
    lines = wrong.stderr.splitlines()
    assert len(lines) == 1, wrong.stderr
    assert lines[0].startswith("error: ")
    assert "node 'approve'" in lines[0]
    assert "lacks 'approved', 'note'" in lines[0]
    assert cli.lines() == ["start a"]

    answered = cli.run(
        "resume",
        str(agent),
        "ask",
        "--input",
        '{"approved": true, "note": "ok"}',
        "--storage",
        cli.url,
    )
    assert_completed(answered)
    assert cli.lines() == ["start a", "start b", "start c"]


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
