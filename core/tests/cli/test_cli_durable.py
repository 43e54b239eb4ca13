"""`agentgraph run --run-id/--storage`, `resume`, `recover`, and Ctrl-C / SIGTERM handling."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from framework.graph.checkpoint_manager import CheckpointManager
from framework.schemas.run import RunRecord
from framework.storage import open_storage

NODES = ["a", "b", "c"]
START = json.dumps({"acc": []})

# Async steps, so a second signal interrupts the node in flight at once.
FUNCTIONS = """
import os
import signal

import anyio


def _make(node):
    async def step(acc):
        with open(os.environ["CLI_TEST_LOG"], "a") as log:
            log.write(f"start {node}\\n")
        if os.environ.get("CLI_TEST_CRASH_AT") == node:
            os.kill(os.getpid(), signal.SIGKILL)
        await anyio.sleep(float(os.environ.get("CLI_TEST_DELAY", "0")))
        with open(os.environ["CLI_TEST_LOG"], "a") as log:
            log.write(f"done {node}\\n")
        return [*acc, node]
    return step


FUNCTIONS = {node: _make(node) for node in NODES}
"""


def write_agent(folder: Path, *, human: bool = False) -> Path:
    """A chain a -> b -> c (with a human_input node ``approve`` after ``a`` if ``human``)."""
    folder.mkdir(parents=True, exist_ok=True)
    nodes = [
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
                "output_keys": ["approved"],
            },
        )
    graph = {
        "id": "cli-chain",
        "entry_node": "a",
        "terminal_nodes": ["c"],
        "nodes": nodes,
        "edges": [
            {"id": f"{x}-{y}", "source": x, "target": y} for x, y in itertools.pairwise(order)
        ],
    }
    goal = {"id": "goal", "name": "Goal", "description": "Run the chain."}
    (folder / "agent.json").write_text(json.dumps({"graph": graph, "goal": goal}))
    (folder / "functions.py").write_text(f"NODES = {NODES!r}\n{FUNCTIONS}")
    return folder


class Cli:
    """Runs `agentgraph` in a child process against one storage and one node log."""

    def __init__(self, tmp_path: Path) -> None:
        self.home = tmp_path / "home"
        self.log = tmp_path / "nodes.log"
        self.url = f"sqlite://{tmp_path / 'state.db'}"
        self.env = {
            "AGENTGRAPH_HOME": str(self.home),
            "HOME": str(tmp_path),
            "PATH": "/usr/bin:/bin",
            "CLI_TEST_LOG": str(self.log),
        }

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "framework.cli.main", *args]

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            timeout=60,
            env={**self.env, **env},
            check=False,
        )

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**self.env, **env},
        )

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def record(self, run_id: str) -> RunRecord:
        with open_storage(self.url) as storage:
            record = storage.get_run(run_id)
        assert record is not None
        return record


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def assert_one_error_line(stderr: str, fragment: str) -> None:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert fragment in lines[0]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def test_run_with_a_run_id_stores_it_and_a_rerun_returns_the_stored_result(
    cli: Cli, tmp_path: Path
) -> None:
    agent = write_agent(tmp_path / "agent")
    first = cli.run("run", str(agent), "--input", START, "--run-id", "r1", "--storage", cli.url)
    assert first.returncode == 0, first.stderr
    assert "completed" in first.stdout
    assert cli.record("r1").status == "completed"
    again = cli.run(
        "run", str(agent), "--input", START, "--run-id", "r1", "--storage", cli.url, "--json"
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["output"]["acc"] == NODES
    assert cli.lines().count("done a") == 1, "nothing ran the second time"


def test_storage_comes_from_the_environment_without_the_option(cli: Cli, tmp_path: Path) -> None:
    agent = write_agent(tmp_path / "agent")
    done = cli.run(
        "run", str(agent), "--input", START, "--run-id", "r1", AGENTGRAPH_STORAGE=cli.url
    )
    assert done.returncode == 0, done.stderr
    assert cli.record("r1").status == "completed"
    assert not (cli.home / "state.db").exists()


def test_reusing_a_run_id_with_other_input_is_a_one_line_error(cli: Cli, tmp_path: Path) -> None:
    agent = write_agent(tmp_path / "agent")
    cli.run("run", str(agent), "--input", START, "--run-id", "r1", "--storage", cli.url)
    other = cli.run(
        "run", str(agent), "--input", '{"acc": ["x"]}', "--run-id", "r1", "--storage", cli.url
    )
    assert other.returncode == 1
    assert_one_error_line(other.stderr, "was started with other input")


def test_paused_human_input_run_is_resumed_with_the_answer(cli: Cli, tmp_path: Path) -> None:
    agent = write_agent(tmp_path / "agent", human=True)
    paused = cli.run("run", str(agent), "--input", START, "--run-id", "ask", "--storage", cli.url)
    assert paused.returncode == 0, paused.stderr
    assert "paused at node 'approve'" in paused.stdout
    assert f"resume with: agentgraph resume {agent} ask" in paused.stdout
    assert cli.record("ask").status == "paused"
    resumed = cli.run(
        "resume", str(agent), "ask", "--input", '{"approved": true}', "--storage", cli.url, "--json"
    )
    assert resumed.returncode == 0, resumed.stderr
    data = json.loads(resumed.stdout)
    assert data["run_status"] == "completed"
    assert data["path"] == ["a", "approve", "b", "c"]
    assert data["output"]["approved"] is True
    assert cli.lines().count("done a") == 1


def test_a_paused_run_the_command_started_is_resumed_by_its_id_alone(
    cli: Cli, tmp_path: Path
) -> None:
    agent = write_agent(tmp_path / "agent", human=True)
    paused = cli.run("run", str(agent), "--input", START, "--run-id", "ask", "--storage", cli.url)
    assert paused.returncode == 0, paused.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    resumed = subprocess.run(
        cli.command("resume", "ask", "--input", '{"approved": true}', "--storage", cli.url),
        capture_output=True,
        text=True,
        timeout=60,
        env=cli.env,
        cwd=elsewhere,
        check=False,
    )

    assert resumed.returncode == 0, resumed.stderr
    assert cli.record("ask").status == "completed"
    assert cli.lines().count("done a") == 1


def test_a_run_cancelled_from_another_process_refuses_to_resume(cli: Cli, tmp_path: Path) -> None:
    agent = write_agent(tmp_path / "agent", human=True)
    cli.run("run", str(agent), "--input", START, "--run-id", "ask", "--storage", cli.url)
    with CheckpointManager(cli.url) as manager:
        manager.request_cancel("ask", reason="claim withdrawn")
    assert cli.record("ask").status == "cancelled"
    result = cli.run(
        "resume", str(agent), "ask", "--input", '{"approved": true}', "--storage", cli.url
    )
    assert result.returncode == 1
    assert_one_error_line(result.stderr, "run 'ask' was cancelled (claim withdrawn)")


def test_resume_of_an_unknown_run_is_a_one_line_error(cli: Cli, tmp_path: Path) -> None:
    agent = write_agent(tmp_path / "agent")
    result = cli.run("resume", str(agent), "nope", "--storage", cli.url)
    assert result.returncode == 1
    assert_one_error_line(result.stderr, "run 'nope' is not in storage")


def test_recover_continues_crashed_runs_and_run_does_it_first(cli: Cli, tmp_path: Path) -> None:
    agent = write_agent(tmp_path / "agent")
    args = ("--input", START, "--storage", cli.url)
    crashed = cli.run("run", str(agent), *args, "--run-id", "crash-1", CLI_TEST_CRASH_AT="b")
    assert crashed.returncode == -signal.SIGKILL
    assert cli.record("crash-1").status == "running"
    recovered = cli.run("recover", str(agent), "--storage", cli.url)
    assert recovered.returncode == 0, recovered.stderr
    assert recovered.stdout.splitlines() == ["recovered run crash-1: completed"]
    assert cli.lines() == ["start a", "done a", "start b", "start b", "done b", "start c", "done c"]
    nothing = cli.run("recover", str(agent), "--storage", cli.url)
    assert nothing.stdout.strip() == "no crashed runs of agent 'cli-chain'"
    crashed = cli.run("run", str(agent), *args, "--run-id", "crash-3", CLI_TEST_CRASH_AT="c")
    assert crashed.returncode == -signal.SIGKILL
    fresh = cli.run("run", str(agent), *args, "--run-id", "fresh")
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.startswith("recovered run crash-3: completed\n")
    assert [cli.record(r).status for r in ("crash-3", "fresh")] == ["completed", "completed"]


def _start_slow_run(cli: Cli, agent: Path, node_delay: str) -> subprocess.Popen[str]:
    """Start run ``sig`` of ``agent`` with slow nodes; return once node ``b`` has started."""
    child = cli.start(
        "run",
        str(agent),
        "--input",
        START,
        "--run-id",
        "sig",
        "--storage",
        cli.url,
        CLI_TEST_DELAY=node_delay,
    )
    wait_until(lambda: "start b" in cli.lines())
    return child


def test_first_interrupt_pauses_after_the_current_node_and_resume_finishes(
    cli: Cli, tmp_path: Path
) -> None:
    agent = write_agent(tmp_path / "agent")
    child = _start_slow_run(cli, agent, node_delay="0.5")
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=30)
    assert child.returncode == 0, stderr
    assert "SIGINT: run sig pauses after its current node; Ctrl-C again stops at once" in stderr
    assert "paused at node" in stdout
    assert "SIGINT received" in stdout
    assert cli.lines() == ["start a", "done a", "start b", "done b"]
    record = cli.record("sig")
    assert (record.status, record.status_reason) == ("paused", "SIGINT received")
    resumed = cli.run("resume", str(agent), "sig", "--storage", cli.url)
    assert resumed.returncode == 0, resumed.stderr
    assert cli.lines()[4:] == ["start c", "done c"]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_second_interrupt_stops_at_once_and_the_node_in_flight_reruns_on_resume(
    cli: Cli, tmp_path: Path, signum: signal.Signals, code: int
) -> None:
    agent = write_agent(tmp_path / "agent")
    child = _start_slow_run(cli, agent, node_delay="2")
    child.send_signal(signum)
    time.sleep(0.3)
    child.send_signal(signum)
    _stdout, stderr = child.communicate(timeout=30)
    assert child.returncode == code, stderr
    assert "Traceback" not in stderr
    assert f"stopped at once by {signum.name}" in stderr
    assert f"resume with: agentgraph resume {agent} sig" in stderr
    assert cli.lines() == ["start a", "done a", "start b"]
    assert cli.record("sig").status == "paused"
    resumed = cli.run("resume", str(agent), "sig", "--storage", cli.url, CLI_TEST_DELAY="0")
    assert resumed.returncode == 0, resumed.stderr
    assert cli.lines()[3:] == ["start b", "done b", "start c", "done c"]


def test_sigterm_during_recovery_pauses_the_recovered_run_and_starts_nothing_new(
    cli: Cli, tmp_path: Path
) -> None:
    agent = write_agent(tmp_path / "agent")
    args = ("--input", START, "--storage", cli.url)
    crashed = cli.run("run", str(agent), *args, "--run-id", "crashed", CLI_TEST_CRASH_AT="a")
    assert crashed.returncode == -signal.SIGKILL
    child = cli.start("run", str(agent), *args, "--run-id", "new", CLI_TEST_DELAY="0.5")
    wait_until(lambda: cli.lines().count("start a") == 2)
    child.send_signal(signal.SIGTERM)
    stdout, stderr = child.communicate(timeout=30)
    assert child.returncode == 0, stderr
    assert "recovered run crashed: paused at node" in stdout
    assert "paused; run new was not started" in stderr
    assert cli.record("crashed").status == "paused"
    with open_storage(cli.url) as storage:
        assert storage.get_run("new") is None


def test_recover_of_a_run_with_a_changed_graph_reports_it_and_exits_one(
    cli: Cli, tmp_path: Path
) -> None:
    agent = write_agent(tmp_path / "agent")
    crashed = cli.run(
        "run",
        str(agent),
        "--input",
        START,
        "--run-id",
        "old",
        "--storage",
        cli.url,
        CLI_TEST_CRASH_AT="b",
    )
    assert crashed.returncode == -signal.SIGKILL
    spec = json.loads((agent / "agent.json").read_text())
    spec["graph"]["nodes"][2]["max_retries"] = 4
    (agent / "agent.json").write_text(json.dumps(spec))
    result = cli.run("recover", str(agent), "--storage", cli.url)
    assert result.returncode == 1
    assert result.stdout.startswith("skipped run old: run 'old' started with another version")
    assert cli.record("old").status == "running"
    forced = cli.run("resume", str(agent), "old", "--force", "--storage", cli.url)
    assert forced.returncode == 0, forced.stderr
    assert cli.record("old").status == "completed"


def test_help_lists_the_durable_commands(cli: Cli) -> None:
    result = cli.run("--help")
    assert result.returncode == 0
    for command in ("run", "resume", "recover", "info", "validate"):
        assert command in result.stdout
