"""`agentgraph run` on a damaged store: a run that lost its checkpoints is refused, not redone."""

from __future__ import annotations

import shutil
from pathlib import Path

from test_cli_durable import START, Cli, assert_one_error_line, write_agent


def test_a_run_whose_checkpoints_were_lost_is_refused_until_run_with_restart(
    tmp_path: Path,
) -> None:
    cli = Cli(tmp_path)
    store = tmp_path / "store"
    cli.url = f"file://{store}"
    agent = write_agent(tmp_path / "agent")
    args = ("run", str(agent), "--input", START, "--run-id", "r1", "--storage", cli.url)
    crashed = cli.run(*args, CLI_TEST_CRASH_AT="c")
    assert crashed.returncode < 0  # killed in node c, after a and b completed
    run_folder = store / "runs" / "r1"
    shutil.rmtree(run_folder / "checkpoints")
    (run_folder / "index.json").unlink()

    refused = cli.run(*args)

    assert refused.returncode == 1
    assert_one_error_line(refused.stderr, "run 'r1' has progressed")
    assert "--restart" in refused.stderr
    assert cli.lines().count("start a") == 1, "nothing ran again"
    assert cli.record("r1").latest_checkpoint_id is not None

    restarted = cli.run(*args, "--restart")

    assert restarted.returncode == 0, restarted.stderr
    assert "completed" in restarted.stdout
    assert "starts over" in restarted.stderr
    assert cli.lines().count("done a") == 2 and cli.lines().count("done c") == 1
    assert cli.record("r1").status == "completed"


def test_a_restart_without_the_input_is_refused_and_deletes_nothing(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    cli.url = f"file://{tmp_path / 'store'}"
    agent = write_agent(tmp_path / "agent")
    run = ("run", str(agent), "--run-id", "r1", "--storage", cli.url)
    assert cli.run(*run, "--input", START).returncode == 0

    refused = cli.run(*run, "--restart")

    assert refused.returncode == 1
    assert_one_error_line(refused.stderr, "cannot start over without its input")
    again = cli.run(*run, "--input", START)
    assert again.returncode == 0, again.stderr
    assert "completed" in again.stdout
    assert cli.lines().count("start a") == 1, "the completed run's result came back"
