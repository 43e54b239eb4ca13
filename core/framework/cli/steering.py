"""The commands that steer runs, as one typer app that :mod:`framework.cli.main` adds to its own.

``pause``, ``cancel``, ``retry-failed``, ``fork`` (:mod:`.run_control`), ``preview``
(:mod:`.previewing`), ``prune`` (:mod:`.pruning`) and ``batch`` (:mod:`.batch_command`).
They are registered here, not on ``main``'s app, because ``main`` imports them (its
``resume`` continues a batch by its id through :func:`resume_by_id`) and nothing may import
``main`` back.
"""

from __future__ import annotations

import typer

from framework.cli.batch_command import batch, resume_by_id
from framework.cli.previewing import preview
from framework.cli.pruning import prune
from framework.cli.run_control import cancel, fork, pause, retry_failed

__all__ = ["resume_by_id", "steering_commands"]

steering_commands = typer.Typer()
for _command in (pause, cancel, retry_failed, fork, preview, prune, batch):
    steering_commands.command()(_command)
