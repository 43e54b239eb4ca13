"""The README keeps its promises: its code runs as printed; two commands set up."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[3] / "README.md"


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match[1]


def _code_block(section: str, language: str) -> str:
    match = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert match, f"no ```{language} block in the section"
    return match[1]


def test_quick_start_code_runs_and_prints_what_it_promises(tmp_path: Path) -> None:
    script = tmp_path / "quick_start.py"
    script.write_text(_code_block(_section("Quick start"), "python"), encoding="utf-8")
    completed = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "True ['count', 'judge'] long\n"


def test_durable_runs_code_runs_and_prints_what_it_promises(tmp_path: Path) -> None:
    script = tmp_path / "durable.py"
    script.write_text(_code_block(_section("Durable runs"), "python"), encoding="utf-8")
    for _ in range(2):  # the second time, the stored run answers
        completed = subprocess.run(
            [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout == "completed 21.5 C\n['fetch', 'report'] None\n"
    assert (tmp_path / "weather.db").is_file()


def test_fresh_machine_section_has_exactly_the_demo_and_test_commands() -> None:
    commands = _code_block(_section("Fresh machine"), "sh").split("\n")
    assert [c for c in commands if c.strip()] == ["make demo", "make test"]


def test_batches_code_runs_and_prints_what_it_promises(tmp_path: Path) -> None:
    script = tmp_path / "batch.py"
    script.write_text(_code_block(_section("Batches"), "python"), encoding="utf-8")
    for _ in range(2):  # the second time, the stored batch answers
        completed = subprocess.run(
            [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout == "completed 19 1\n"
    assert (tmp_path / "batches.db").is_file()


def test_a_provider_of_ones_own_runs_the_ticket_agent_as_printed(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", _section("Models"), re.S)
    [own] = [block for block in blocks if "class EchoProvider" in block]
    script = tmp_path / "echo_provider.py"
    script.write_text(own, encoding="utf-8")
    env = {**os.environ, "AGENTGRAPH_HOME": str(tmp_path / "home")}
    completed = subprocess.run(
        [sys.executable, str(script)],
        cwd=README.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "completed Write a reply of at most five sentences to this ticket.\n"
