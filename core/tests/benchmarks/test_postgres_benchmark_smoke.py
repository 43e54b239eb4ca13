"""benchmarks/postgres_baseline.py runs end to end against the tests' server and writes its
results.

Only the shape of the results is checked, never a time: ``--quick`` runs the tiny sizes on
the session's PostgreSQL server (``--url``), so no second server is started.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from framework.testing.postgres_server import server_url

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "postgres_baseline.py"
BACKENDS = {"sqlite", "postgres", "postgres-nosync"}


def is_positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """The quick run's stdout and its results file."""
    out = tmp_path_factory.mktemp("pg-bench")
    command = [sys.executable, str(SCRIPT), "--quick", "--url", server_url(), "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads((out / "postgres-latest.json").read_text(encoding="utf-8"))


def test_the_quick_postgres_baseline_reports_every_figure_on_every_backend(
    quick: tuple[str, dict[str, Any]],
) -> None:
    stdout, results = quick
    assert results["meta"]["quick"] is True and results["meta"]["server"]["embedded"] is False
    assert set(results["batch"]) == set(results["claims"]) == BACKENDS
    assert set(results["checkpoint"]) == {"none", *BACKENDS}
    for backend in BACKENDS:
        assert is_positive(results["batch"][backend]["items_per_s"])
        claims = results["claims"][backend]
        for stem in ("claim", "finish", "direct_claim", "direct_finish"):
            assert is_positive(claims[f"{stem}_p50_us"]) and is_positive(claims[f"{stem}_p99_us"])
        assert isinstance(results["checkpoint"][backend]["extra_us_per_node"], float)
    assert "items/s" in stdout and "| one `acommit_step` |" in stdout


def test_round_trips_are_counted_for_every_call_and_the_profile_is_kept(
    quick: tuple[str, dict[str, Any]],
) -> None:
    _, results = quick
    trips = results["round_trips"]
    # One commit per node and one more: the START checkpoint, written before the entry node.
    assert trips["graph"]["commit_step_calls"] == results["plan"]["nodes"] + 1
    assert trips["graph"]["commit_step_round_trips"] >= 1
    assert trips["claims"]["claim_round_trips"] >= 1
    assert trips["claims"]["finish_round_trips"] >= 1
    assert trips["batch"]["aclaim_items_calls"] >= 1
    assert is_positive(trips["batch"]["round_trips_per_item"])
    assert results["profile"]["top_own_time"] and results["profile"]["framework_top_cumulative"]


def test_the_benchmark_leaves_no_schema_behind_on_the_server(
    quick: tuple[str, dict[str, Any]],
) -> None:
    with psycopg.connect(server_url(), autocommit=True) as conn:
        left = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'pgbench\\_%'"
        ).fetchall()
    assert left == []
