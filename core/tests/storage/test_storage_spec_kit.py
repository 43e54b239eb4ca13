"""The shipped spec run as a third party runs it: a harness of its own, the package's spec."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

HARNESS = """
from framework.storage import SQLiteStorage
from framework.testing import SQLiteHarness, register_harness


class {backend}(SQLiteStorage):
    {body}


@register_harness
class MineHarness(SQLiteHarness):
    name = "mine"

    def __init__(self, root):
        super().__init__(root)
        self.storage.close()
        self.storage = {backend}(self.db_path)

    def reopen(self):
        return {backend}(self.db_path)
"""

SOUND = HARNESS.format(backend="MyStorage", body="pass")
# Lists a run's checkpoints newest first, against the contract's oldest first.
BROKEN = HARNESS.format(
    backend="ReversedStorage",
    body="def list_checkpoints(self, run_id):\n"
    "        return super().list_checkpoints(run_id)[::-1]",
)


def _run_spec(tmp_path: Path, harness_source: str) -> tuple[int, str]:
    (tmp_path / "mine_harness.py").write_text(harness_source)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        str(tmp_path / "pytest.ini"),
        "--rootdir",
        str(tmp_path),
        "-o",
        "asyncio_mode=auto",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        "-p",
        "framework.testing.conformance",
        "-p",
        "mine_harness",
        "--pyargs",
        "framework.testing.spec",
        "-k",
        "mine",
        "-q",
        "-p",
        "no:randomly",
    ]
    done = subprocess.run(
        command,
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, done.stdout + done.stderr


def _count(output: str, outcome: str) -> int:
    found = re.search(rf"(\d+) {outcome}", output)
    return int(found.group(1)) if found else 0


def test_a_third_party_backend_passes_the_shipped_spec_with_its_own_harness(tmp_path):
    code, output = _run_spec(tmp_path, SOUND)

    assert code == 0, output
    assert _count(output, "passed") >= 100, output


def test_the_shipped_spec_fails_a_backend_that_breaks_the_contract(tmp_path):
    code, output = _run_spec(tmp_path, BROKEN)

    assert code == 1, output
    assert _count(output, "failed") >= 1
    assert "list_checkpoints" in output or "seq" in output
