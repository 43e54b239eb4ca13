"""benchmarks/checkpoint_overhead.py runs end to end and writes every section of its results.

Only the shape of the results is checked, never a time: ``--quick`` runs the tiny shapes
(N=10, one round, five concurrent runs), without the peers, once for this module.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "checkpoint_overhead.py"
OUR_MODES = {"none", "memory", "file", "sqlite", "sqlite-fsync", "sqlite-async", "sqlite-exit"}


@dataclass
class QuickRun:
    stdout: str
    out: Path
    results: dict[str, Any]


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> QuickRun:
    folder = tmp_path_factory.mktemp("bench")
    out = folder / "results"
    command = [sys.executable, str(SCRIPT), "--quick", "--out", str(out)]
    command += ["--tmp", str(folder / "storage"), "--baseline", str(folder / "none.json")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    results = json.loads((out / "latest.json").read_text(encoding="utf-8"))
    return QuickRun(done.stdout, out, results)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def test_every_mode_and_shape_has_its_figures(quick: QuickRun) -> None:
    runs = quick.results["runs"]
    assert quick.results["meta"]["quick"] is True
    assert {item["mode"] for item in runs} == OUR_MODES
    assert {(item["n"], item["payload"]) for item in runs} == {(10, "small"), (10, "large")}
    for item in runs:
        assert is_number(item["median_ms"]), item
        assert is_number(item["extra_us_per_node"]), item
        assert is_number(item["last_over_first"]), item
        assert is_number(item["bytes_on_disk"]) == (item["mode"] not in ("none", "memory"))


def test_resume_floor_and_concurrency_sections_have_numbers(quick: QuickRun) -> None:
    assert [is_number(item["median_ms"]) for item in quick.results["resume"]] == [True]
    concurrency = quick.results["concurrency"]
    assert {item["mode"] for item in concurrency} == {"none", "sqlite"}
    for item in concurrency:
        assert all(is_number(item[name]) for name in ("runs_per_s", "p50_step_ms", "p99_step_ms"))
    floor = quick.results["floor"]
    assert set(floor) == {"fsync_write_us", "sqlite_normal_us", "sqlite_full_us"}
    assert all(is_number(value) for value in floor.values())


def test_every_target_has_our_figure(quick: QuickRun) -> None:
    targets = quick.results["targets"]
    assert len(targets) == 7
    assert all(is_number(target["ours"]) for target in targets)


def test_the_markdown_report_is_printed_and_written(quick: QuickRun) -> None:
    report = (quick.out / "latest.md").read_text(encoding="utf-8")
    assert report.startswith("# Checkpoint overhead")
    assert "| figure | ours | reference | measured | goal | met |" in report
    assert report.strip() in quick.stdout
    written = sorted(path.name for path in quick.out.glob("*.json"))
    assert "latest.json" in written and len(written) == 2
