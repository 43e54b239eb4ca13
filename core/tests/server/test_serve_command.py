"""``agentgraph serve`` is an optional extra: ``import framework`` never loads the server
stack, and without the extra the command says in one line how to install it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from server_helpers import agentgraph


def test_importing_framework_and_its_command_loads_no_server_stack() -> None:
    code = (
        "import sys, framework, framework.cli.main; "
        "print(sorted(m for m in ('fastapi', 'starlette', 'uvicorn') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert done.stdout.strip() == "[]"


def test_serve_without_the_extra_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name in ("fastapi", "uvicorn") else found(name, *args),
    )

    code, stdout, stderr = agentgraph("serve")

    assert (code, stdout) == (1, "")
    assert stderr == (
        "error: agentgraph serve needs fastapi and uvicorn: "
        "pip install 'agentgraph-durable[server]'\n"
    )


def test_serve_with_a_broken_agent_folder_is_a_one_line_error(tmp_path) -> None:
    code, _, stderr = agentgraph("serve", "--agent", str(tmp_path), "--storage", "memory://")

    assert code == 1
    assert stderr.startswith("error: ") and stderr.count("\n") == 1 and "agent.json" in stderr
