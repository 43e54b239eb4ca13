"""`agentgraph batch` in real processes: paused from another process, resumed, Ctrl-C, failures
retried with `retry-failed`, new lines added, bad lines named, and `resume RUN_ID`."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_cli_durable import Cli, wait_until

from framework.schemas.item import ItemCounts
from framework.schemas.run import RunRecord, RunStatus
from framework.storage import open_storage

# The `agentgraph` fixture (conftest.py): the command in this process, output captured.
Agentgraph = Callable[..., Any]

# One function node per item: it sleeps, fails for the numbers in FAIL_ON, reports
# ITEM_TOKENS tokens, and logs the number it finished, so the tests see which items ran and
# how often.
FUNCTIONS = """
import os

import anyio

from framework.graph.node import NodeResult


async def work(n):
    await anyio.sleep(float(os.environ.get("ITEM_DELAY", "0")))
    if str(n) in os.environ.get("FAIL_ON", "").split(","):
        raise ValueError(f"{n} is unlucky")
    with open(os.environ["ITEM_LOG"], "a") as log:
        log.write(f"{n}\\n")
    tokens = int(os.environ.get("ITEM_TOKENS", "0"))
    return NodeResult(success=True, output={"square": n * n}, tokens_used=tokens)


FUNCTIONS = {"work": work}
"""


def write_agent(folder: Path) -> Path:
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


def write_items(path: Path, numbers: range) -> Path:
    with path.open("a") as lines:
        for n in numbers:
            lines.write(json.dumps({"id": str(n), "n": n}) + "\n")
    return path


class BatchCli(Cli):
    """`agentgraph` in child processes against one storage, with one log of finished items."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.agent = write_agent(tmp_path / "agent")
        self.items = tmp_path / "items.jsonl"
        self.log = tmp_path / "items.log"
        self.env["ITEM_LOG"] = str(self.log)

    def batch_args(self, run_id: str, *options: str) -> list[str]:
        return [
            "batch",
            str(self.agent),
            "--items",
            str(self.items),
            "--run-id",
            run_id,
            "--id-key",
            "id",
            *options,
            "--storage",
            self.url,
        ]

    def pasted(self, line: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run a printed ``agentgraph ...`` command as a shell would."""
        words = shlex.split(line)
        assert words[0] == "agentgraph", line
        return self.run(*words[1:], **env)

    def finished(self) -> Counter[int]:
        """How often each item's function finished."""
        return Counter(int(n) for n in self.lines())

    def counts(self, run_id: str) -> ItemCounts:
        with open_storage(self.url) as storage:
            return storage.item_counts(run_id)


def hint(output: str, label: str = "resume with: ") -> str:
    """The one ``<label><command>`` line of ``output``, as printed."""
    found = [line.split(label, 1)[1] for line in output.splitlines() if label in line]
    assert len(found) == 1, output
    return found[0]


@pytest.fixture
def cli(tmp_path: Path) -> BatchCli:
    return BatchCli(tmp_path)


def test_a_batch_paused_from_another_process_stops_after_its_items_in_flight_and_completes_on_rerun(
    cli: BatchCli, agentgraph: Agentgraph
) -> None:
    write_items(cli.items, range(300))
    args = cli.batch_args("docs", "--concurrency", "3")
    child = cli.start(*args, ITEM_DELAY="0.02")
    wait_until(lambda: cli.counts("docs").completed >= 30)

    paused = agentgraph("pause", "docs", "--storage", cli.url)

    assert paused.code == 0, paused.stderr
    assert paused.stdout.splitlines() == [
        "pause requested: run docs pauses after its items in flight",
        f"resume with: agentgraph resume docs --storage {cli.url}",
    ]
    stdout, stderr = child.communicate(timeout=120)
    assert child.returncode == 0, stderr
    assert stdout.startswith("batch docs paused: paused by agentgraph pause\n")
    assert hint(stdout) == f"agentgraph resume docs --storage {cli.url}"
    counts = cli.counts("docs")
    assert cli.record("docs").status is RunStatus.PAUSED
    assert (counts.running, counts.failed, counts.total) == (0, 0, 300)
    assert counts.completed + counts.pending == 300
    assert 30 <= counts.completed < 300
    # The items in flight finished before it paused: every completed item ran once.
    assert sum(cli.finished().values()) == counts.completed
    assert max(cli.finished().values()) == 1

    again = cli.run(*args, ITEM_DELAY="0")

    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("batch docs completed\n")
    assert "300 completed, 0 failed, 0 remaining (300 items)" in again.stdout
    assert cli.counts("docs").completed == 300
    assert cli.finished() == Counter(range(300))


def test_a_batch_with_failed_items_completes_and_retry_failed_runs_only_those(
    cli: BatchCli,
) -> None:
    write_items(cli.items, range(40))
    done = cli.run(*cli.batch_args("fails", "--max-attempts", "1"), FAIL_ON="3,17,29")

    assert done.returncode == 0, done.stderr
    assert "37 completed, 3 failed, 0 remaining (40 items)" in done.stdout
    assert "failed: 3: ItemRunError: " in done.stdout
    assert "ValueError: 3 is unlucky" in done.stdout
    retry = hint(done.stdout, "retry them with: ")
    assert retry == f"agentgraph retry-failed fails --storage {cli.url}"

    retried = cli.pasted(retry)

    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.splitlines() == [
        "batch fails: 3 failed item(s) pending again",
        f"run them with: agentgraph resume fails --storage {cli.url}",
    ]
    assert cli.counts("fails").pending == 3
    finished_before = cli.finished()
    resumed = cli.pasted(hint(retried.stdout, "run them with: "))
    assert resumed.returncode == 0, resumed.stderr
    assert cli.counts("fails").completed == 40
    assert cli.finished() - finished_before == Counter([3, 17, 29])


def test_retry_failed_takes_only_the_items_and_error_type_asked_for(
    cli: BatchCli, agentgraph: Agentgraph
) -> None:
    write_items(cli.items, range(10))
    cli.run(*cli.batch_args("some", "--max-attempts", "1"), FAIL_ON="2,5,7")

    other_type = agentgraph(
        "retry-failed", "some", "--error-type", "KeyError", "--storage", cli.url
    )
    two = agentgraph("retry-failed", "some", "--item", "2", "--item", "7", "--storage", cli.url)

    assert other_type.code == 0, other_type.stderr
    assert other_type.stdout.splitlines() == ["batch some: no failed items to retry"]
    assert two.stdout.splitlines()[0] == "batch some: 2 failed item(s) pending again"
    counts = cli.counts("some")
    assert (counts.pending, counts.failed, counts.completed) == (2, 1, 7)
    assert cli.record("some").status is RunStatus.PAUSED


def test_the_first_ctrl_c_pauses_after_the_items_in_flight(cli: BatchCli) -> None:
    write_items(cli.items, range(300))
    child = cli.start(*cli.batch_args("sig", "--concurrency", "3"), ITEM_DELAY="0.02")
    wait_until(lambda: cli.counts("sig").completed >= 20)

    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=120)

    assert child.returncode == 0, stderr
    assert "SIGINT: batch sig pauses once the items in flight are done; Ctrl-C again" in stderr
    assert stdout.startswith("batch sig paused: SIGINT received; the items in flight finished")
    counts = cli.counts("sig")
    assert (counts.running, counts.completed + counts.pending) == (0, 300)
    assert sum(cli.finished().values()) == counts.completed


def test_a_second_ctrl_c_stops_at_once_and_resume_runs_the_items_in_flight_again(
    cli: BatchCli,
) -> None:
    write_items(cli.items, range(30))
    child = cli.start(*cli.batch_args("stop", "--concurrency", "3"), ITEM_DELAY="0.5")
    wait_until(lambda: cli.counts("stop").completed >= 3)
    child.send_signal(signal.SIGINT)
    time.sleep(0.2)
    child.send_signal(signal.SIGINT)
    _stdout, stderr = child.communicate(timeout=120)

    assert child.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "stopped at once by SIGINT; the items in flight run again on resume" in stderr
    assert cli.record("stop").status is RunStatus.PAUSED
    resumed = cli.pasted(hint(stderr), ITEM_DELAY="0")
    assert resumed.returncode == 0, resumed.stderr
    assert cli.counts("stop").completed == 30
    assert set(cli.finished()) == set(range(30))


def test_running_the_batch_again_adds_the_lines_appended_to_its_file(cli: BatchCli) -> None:
    write_items(cli.items, range(10))
    first = cli.run(*cli.batch_args("grow"))
    assert first.returncode == 0, first.stderr
    write_items(cli.items, range(10, 15))

    second = cli.run(*cli.batch_args("grow"))

    assert second.returncode == 0, second.stderr
    assert "15 completed, 0 failed, 0 remaining (15 items)" in second.stdout
    assert cli.finished() == Counter(range(15))


def test_a_bad_line_is_a_one_line_error_naming_it_and_the_fixed_file_runs(cli: BatchCli) -> None:
    write_items(cli.items, range(4))
    with cli.items.open("a") as lines:
        lines.write('{"id": "4", "n": \n')
    write_items(cli.items, range(5, 8))

    bad = cli.run(*cli.batch_args("lines"))

    assert bad.returncode == 1
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: {cli.items} line 5 is not valid JSON: Expecting value at column 18; fix that "
        "line and run the same command again (items already done do not run again)"
    ]
    assert "Traceback" not in bad.stderr
    assert cli.record("lines").status is RunStatus.FAILED
    text = cli.items.read_text().replace('"n": \n', '"n": 4}\n')
    cli.items.write_text(text)

    fixed = cli.run(*cli.batch_args("lines"))

    assert fixed.returncode == 0, fixed.stderr
    assert cli.finished() == Counter(range(8))


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("[1, 2]", "line 2 is an array, not a JSON object"),
        ('{"n": 9}', "line 2 has no 'id' field to take its id from (--id-key)"),
        ('{"id": true, "n": 9}', "line 2 has id=True; an item id is a string or an integer"),
    ],
)
def test_a_line_that_is_no_item_is_named(
    cli: BatchCli, agentgraph: Agentgraph, line: str, problem: str
) -> None:
    write_items(cli.items, range(1))
    with cli.items.open("a") as lines:
        lines.write(line + "\n")

    bad = agentgraph(*cli.batch_args("kinds"))

    assert bad.code == 1
    assert bad.stderr.splitlines()[-1].startswith(f"error: {cli.items} {problem}; fix that line")


def test_resume_by_id_continues_a_batch_and_a_graph_run_from_python_needs_its_folder(
    cli: BatchCli, agentgraph: Agentgraph
) -> None:
    write_items(cli.items, range(5))
    cli.run(*cli.batch_args("byid", "--max-attempts", "1"), FAIL_ON="1")
    agentgraph("retry-failed", "byid", "--storage", cli.url)
    with open_storage(cli.url) as storage:  # a graph run started from Python: no folder kept
        storage.create_run(RunRecord(run_id="g1", agent_id="per-item", graph_id="per-item"))

    resumed = cli.run("resume", "byid", "--storage", cli.url)
    needs_folder = agentgraph("resume", "g1", "--storage", cli.url)
    no_input = agentgraph("resume", "byid", "--input", "{}", "--storage", cli.url)

    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.startswith("batch byid completed\n")
    assert cli.counts("byid").completed == 5
    assert needs_folder.code == 1
    assert needs_folder.stderr == (
        "error: run 'g1' is a run of agent 'per-item'; its folder is not stored with it, so "
        f"give it: agentgraph resume AGENT_DIR g1 --storage {cli.url}\n"
    )
    assert no_input.stderr.startswith("error: run 'byid' is a batch: its items are its input")


def test_a_batch_prints_its_outcome_as_json_and_its_run_is_listed_under_its_agent(
    cli: BatchCli, agentgraph: Agentgraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_items(cli.items, range(3))
    for name, value in cli.env.items():
        monkeypatch.setenv(name, value)

    done = agentgraph(*cli.batch_args("json"), "--json")

    assert done.code == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["status"] == "completed"
    assert outcome["counts"]["completed"] == 3
    with open_storage(cli.url) as storage:
        assert [r.run_id for r in storage.list_runs(agent_id="per-item")] == ["json"]


def test_a_run_id_of_a_graph_run_is_refused_as_a_batch(
    cli: BatchCli, agentgraph: Agentgraph
) -> None:
    write_items(cli.items, range(3))
    cli.run("run", str(cli.agent), "--input", '{"n": 3}', "--run-id", "g1", "--storage", cli.url)

    refused = agentgraph(*cli.batch_args("g1"))

    assert refused.code == 1
    assert refused.stderr == (
        "error: run 'g1' is a graph run, not a batch; choose another --run-id\n"
    )


def test_a_spent_budget_pauses_the_batch_and_the_hint_allows_as_much_again(cli: BatchCli) -> None:
    write_items(cli.items, range(40))
    args = cli.batch_args("budget", "--concurrency", "1", "--max-tokens", "50")

    paused = cli.run(*args, ITEM_TOKENS="10")

    assert paused.returncode == 0, paused.stderr
    assert paused.stdout.startswith("batch budget paused: budget_exhausted\n")
    first = cli.counts("budget")
    spent = first.usage.tokens_in + first.usage.tokens_out
    assert spent >= 50 and first.completed < 40
    command = hint(paused.stdout)
    assert command == (f"agentgraph resume budget --max-tokens {spent + 50} --storage {cli.url}")

    again = cli.pasted(command, ITEM_TOKENS="10")

    assert again.returncode == 0, again.stderr
    assert first.completed < cli.counts("budget").completed < 40
    assert cli.record("budget").budget.max_tokens == spent + 50


def test_recover_names_a_killed_batch_and_the_command_that_continues_it(cli: BatchCli) -> None:
    write_items(cli.items, range(300))
    child = cli.start(*cli.batch_args("docs", "--concurrency", "3"), ITEM_DELAY="0.02")
    wait_until(lambda: cli.counts("docs").completed >= 10)
    child.send_signal(signal.SIGKILL)
    child.wait()

    recovered = cli.run("recover", str(cli.agent), "--storage", cli.url)

    assert recovered.returncode == 0, recovered.stderr
    said = recovered.stdout + recovered.stderr
    assert "batch docs was interrupted" in said
    command = hint(said, "continue it with: ")
    assert command == f"agentgraph resume docs --storage {cli.url}"
    assert cli.pasted(command, ITEM_DELAY="0").returncode == 0
    assert cli.counts("docs").completed == 300


def test_a_batch_paused_from_another_process_shows_its_counts_and_is_watched_to_its_end(
    cli: BatchCli,
) -> None:
    write_items(cli.items, range(300))
    child = cli.start(*cli.batch_args("docs", "--concurrency", "3"), ITEM_DELAY="0.02")
    wait_until(lambda: cli.counts("docs").completed >= 30)
    assert cli.run("pause", "docs", "--storage", cli.url).returncode == 0
    child.communicate(timeout=120)

    shown = cli.run("status", "docs", "--json", "--storage", cli.url)
    status = json.loads(shown.stdout)
    counts = status["counts"]
    resumed = cli.start("resume", "docs", "--storage", cli.url, ITEM_DELAY="0.005")
    wait_until(lambda: cli.record("docs").status in (RunStatus.RUNNING, RunStatus.COMPLETED))
    watched = cli.run("watch", "docs", "--interval", "0.2", "--storage", cli.url)
    _stdout, stderr = resumed.communicate(timeout=120)

    assert shown.returncode == 0 and status["status"] == "paused"
    assert counts["total"] == 300 and counts["running"] == 0
    assert counts["completed"] + counts["failed"] + counts["pending"] == 300
    assert 30 <= counts["completed"] < 300
    assert watched.returncode == 0, watched.stderr
    assert "completed" in watched.stdout.splitlines()[-1]
    assert resumed.returncode == 0, stderr
    assert cli.counts("docs").completed == 300
    assert cli.finished() == Counter(range(300))
