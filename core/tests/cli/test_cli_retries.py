"""Retries of failed nodes: the defaults the README states, and one console line per retry."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import framework
from framework.graph.node import NodeSpec
from framework.graph.retry import RetryPolicy

README = Path(__file__).resolve().parents[3] / "README.md"

# Fails the first FAIL_TIMES calls (counted in a file), then succeeds.
FUNCTIONS = """
import os
from pathlib import Path


def flaky(count):
    calls = Path(os.environ["CALLS"])
    n = int(calls.read_text()) + 1 if calls.exists() else 1
    calls.write_text(str(n))
    if n <= int(os.environ["FAIL_TIMES"]):
        raise ValueError(f"flaky call {n}")
    return count + 1
"""


def write_agent(folder: Path, **node: object) -> Path:
    folder.mkdir()
    flaky = {
        "id": "flaky",
        "name": "Flaky",
        "description": "Fails a few times, then works.",
        "input_keys": ["count"],
        "output_keys": ["count"],
        **node,
    }
    graph = {"id": "retries", "entry_node": "flaky", "terminal_nodes": ["flaky"], "nodes": [flaky]}
    goal = {"id": "goal", "name": "Goal", "description": "Count once."}
    (folder / "agent.json").write_text(json.dumps({"graph": graph, "goal": goal}))
    (folder / "functions.py").write_text(FUNCTIONS)
    return folder


def agentgraph(tmp_path: Path, *args: str, fail_times: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "framework.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "AGENTGRAPH_HOME": str(tmp_path / "home"),
            "HOME": str(tmp_path),
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(Path(framework.__file__).parents[1]),
            "CALLS": str(tmp_path / "calls"),
            "FAIL_TIMES": str(fail_times),
        },
        check=False,
    )


def test_each_retry_of_a_node_is_one_line_on_the_console(tmp_path: Path) -> None:
    agent = write_agent(tmp_path / "agent")  # max_retries left at its default
    url = f"sqlite://{tmp_path / 'state.db'}"
    completed = agentgraph(
        tmp_path, "run", str(agent), "--input", '{"count": 0}', "--storage", url, fail_times=2
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr.splitlines() == [
        "retry 1/3 of node 'flaky' in 0.5 s: ValueError: flaky call 1",
        "retry 2/3 of node 'flaky' in 1 s: ValueError: flaky call 2",
    ]
    assert "completed" in completed.stdout
    assert (tmp_path / "calls").read_text() == "3"


def test_a_node_that_still_fails_after_its_retries_ends_with_one_error_line(
    tmp_path: Path,
) -> None:
    agent = write_agent(tmp_path / "agent", max_retries=1)
    url = f"sqlite://{tmp_path / 'state.db'}"
    completed = agentgraph(
        tmp_path, "run", str(agent), "--input", '{"count": 0}', "--storage", url, fail_times=9
    )
    assert completed.returncode == 1
    assert completed.stderr.splitlines() == [
        "retry 1/1 of node 'flaky' in 0.5 s: ValueError: flaky call 1",
        "error: node 'flaky' failed after 2 attempts: ValueError: flaky call 2",
    ]


def test_json_output_stays_parseable_while_retries_are_noted(tmp_path: Path) -> None:
    agent = write_agent(tmp_path / "agent", max_retries=1)
    url = f"sqlite://{tmp_path / 'state.db'}"
    completed = agentgraph(
        tmp_path,
        "run",
        str(agent),
        "--input",
        '{"count": 0}',
        "--storage",
        url,
        "--json",
        fail_times=1,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["output"] == {"count": 1}
    assert completed.stderr.startswith("retry 1/1 of node 'flaky'")


def test_the_readme_states_the_retry_defaults_of_the_code() -> None:
    text = " ".join(README.read_text().split())
    retries = NodeSpec.model_fields["max_retries"].default
    policy = RetryPolicy()
    waits = [f"{policy.delay(n):g} s" for n in range(1, retries + 1)]
    assert f"retried {retries} times" in text
    assert f"waiting {', '.join(waits[:-1])} and {waits[-1]}" in text
    assert re.search(rf"doubling, at most {policy.max_delay:g} s", text)
    assert '"max_retries": 0' in text
    assert "retry 1/3 of node" in text
