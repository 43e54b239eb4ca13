"""The ``agentgraph`` command line (see :mod:`framework.cli.main`).

Kept empty on purpose: importing ``framework.cli`` loads nothing until a command runs.
"""

__all__: list[str] = []
