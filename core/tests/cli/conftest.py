"""The ``agentgraph`` fixture: the command run in this process (see :mod:`cli_helpers`)."""

from __future__ import annotations

import pytest
from cli_helpers import Agentgraph, run_main


@pytest.fixture
def agentgraph() -> Agentgraph:
    """Call it with the command's arguments; returns a :class:`~cli_helpers.Finished`."""
    return run_main
