"""examples/01_basic_checkpoint.py runs as documented: saves, lists and restores."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "01_basic_checkpoint.py"


def test_example_01_saves_lists_and_restores_the_latest_checkpoint() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    ids = ["ckpt_doc-run-1_load_000000", "ckpt_doc-run-1_extract_000001"]
    ids.append("ckpt_doc-run-1_summarise_000002")
    for checkpoint_id in ids:
        assert f"saved {checkpoint_id}" in out
    table = [line for line in out.splitlines() if re.match(r"\d+\s+ckpt_", line)]
    assert [line.split()[1] for line in table] == ids
    assert [line.split()[2] for line in table] == ["load", "extract", "summarise"]
    assert "  documents = ('contract.txt', 'invoice.txt')" in out
    assert "  summary = '2 documents between Acme Corp and Northwind'" in out
    assert "loaded_at = datetime.datetime(" in out
    assert out.rstrip().endswith("resume node: publish")
