"""benchmarks/batch_throughput.py runs end to end and writes its results.

Only the shape of the results is checked, never a time: ``--quick`` runs the small shapes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "batch_throughput.py"


def test_the_quick_batch_benchmark_reports_every_figure(tmp_path: Path) -> None:
    command = [sys.executable, str(SCRIPT), "--quick", "--out", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "batch-latest.json").read_text(encoding="utf-8"))
    assert results["trivial"]["items"] == 1_000
    assert results["trivial"]["items_per_s"] > 0
    assert results["llm_like"]["lockstep"]["ideal_seconds"] > 0
    assert results["llm_like"]["spread"]["bare_seconds"] > 0
    assert "items/s" in done.stdout and "% over" in done.stdout
