"""Running ``agentgraph`` in this process, as its console script does, with output captured.

Imported by name (this folder is on ``sys.path`` while its tests run); the name is unique
among the test folders, so no other helper module or conftest can shadow it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass

from framework.cli.main import main


@dataclass(frozen=True)
class Finished:
    """How one in-process ``agentgraph`` command ended."""

    code: int
    stdout: str
    stderr: str


Agentgraph = Callable[..., Finished]


def run_main(*args: str) -> Finished:
    """``agentgraph *args`` through :func:`framework.cli.main.main`, as the console script."""
    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    with redirect_stdout(stdout), redirect_stderr(stderr):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return Finished(code, stdout.getvalue(), stderr.getvalue())
