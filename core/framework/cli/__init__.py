"""The ``agentgraph`` command line: :data:`app` (typer) and :func:`main`, its entry point.

Both are loaded on first use: importing ``framework.cli`` loads nothing until a command
runs, and ``python -m framework.cli.main`` runs the module fresh.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework._lazy import lazy_exports

if TYPE_CHECKING:
    from framework.cli.main import app as app
    from framework.cli.main import main as main

__all__ = ["app", "main"]

__getattr__, __dir__ = lazy_exports(__name__, dict.fromkeys(__all__, "framework.cli.main"))
