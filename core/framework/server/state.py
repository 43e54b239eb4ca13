"""What ``agentgraph serve`` is started with, and what one serving process holds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import Request

from framework.durable import CheckpointManager
from framework.server.auth import Auth
from framework.server.resumer import Resumer

__all__ = ["Served", "ServerConfig", "served"]


@dataclass(frozen=True)
class ServerConfig:
    """How the server serves: its storage, the agents it may run, its access."""

    storage: str | None = None
    """The storage URL (``None``: ``$AGENTGRAPH_STORAGE``, else ``state.db`` in
    ``$AGENTGRAPH_HOME``), named in the commands the API suggests."""
    agents: tuple[Path, ...] = ()
    """Agent folders whose runs the server continues itself (``--agent``)."""
    read_only: bool = False
    """Refuse every request that changes a run (``--read-only``)."""
    token: str | None = None
    """The bearer token changes need (``None``: ``$AGENTGRAPH_API_TOKEN``, else generated)."""
    interval: float = 1.0
    """Seconds between two reads of a run for its live updates."""


@dataclass
class Served:
    """One serving process: its config, access, storage and the runs it continues."""

    config: ServerConfig
    auth: Auth
    resumer: Resumer
    manager: CheckpointManager | None = None
    """Open while the server serves."""

    @property
    def open_manager(self) -> CheckpointManager:
        assert self.manager is not None, "the server's storage is open while it serves"
        return self.manager


def served(request: Request) -> Served:
    """The :class:`Served` of the app answering ``request``."""
    state: Served = request.app.state.served
    return state
