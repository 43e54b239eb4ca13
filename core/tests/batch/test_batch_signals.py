"""Ctrl-C and SIGTERM with ``pause_on_signals``: the first pauses a batch once the items in
flight are done, a second stops it at once; running it again finishes it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

CHILD = Path(__file__).parent / "signal_child.py"


def live(folder: Path, signals: list[signal.Signals], seconds: float = 0.02) -> dict[str, Any]:
    """Run the child (items of ``seconds`` each), send it ``signals`` once its first item
    started, and return its result."""
    command = [sys.executable, str(CHILD), str(folder / "state.db"), str(folder / "calls.log")]
    command.append(str(seconds))
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout is not None
    if signals:
        assert child.stdout.readline().strip() == "started"
        for number in signals:
            time.sleep(0.05)
            child.send_signal(number)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def calls(folder: Path) -> Counter[str]:
    lines = (folder / "calls.log").read_text(encoding="utf-8").splitlines()
    return Counter(line.removeprefix("start ") for line in lines)


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_the_first_signal_pauses_after_the_items_in_flight(
    tmp_path: Path, number: signal.Signals
) -> None:
    paused = live(tmp_path, [number])
    assert paused["status"] == "paused"
    assert paused["reason"].startswith(f"{number.name} received")
    assert paused["counts"]["running"] == 0
    assert 0 < paused["counts"]["completed"] < 60

    finished = live(tmp_path, [])
    assert finished["status"] == "completed"
    assert finished["counts"]["completed"] == 60
    assert set(calls(tmp_path).values()) == {1}


def test_a_second_signal_stops_at_once_and_the_items_in_flight_run_again(tmp_path: Path) -> None:
    # Items of 0.5 s: the second signal comes while the first waits for the items in flight.
    stopped = live(tmp_path, [signal.SIGINT, signal.SIGINT], seconds=0.5)
    assert stopped["status"] == "paused"
    assert stopped["reason"].startswith("interrupted")
    assert stopped["counts"]["completed"] < 60

    finished = live(tmp_path, [])
    assert finished["counts"]["completed"] == 60
    twice = [item for item, count in calls(tmp_path).items() if count > 1]
    assert len(twice) <= 2  # at most the items in flight (concurrency 2)
