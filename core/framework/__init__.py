"""agentgraph-durable: agent graphs that survive crashes, pauses and restarts.

This package stays light: importing it (or any submodule) imports no optional SDK.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
