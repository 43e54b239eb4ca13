"""AgentRunner: load an agent folder, check it, describe it and run it."""

from framework.runner.loader import AgentDefinition, load_definition
from framework.runner.runner import (
    AgentInfo,
    AgentRunner,
    EdgeInfo,
    NodeInfo,
    ValidationResult,
    default_home,
)

__all__ = [
    "AgentDefinition",
    "AgentInfo",
    "AgentRunner",
    "EdgeInfo",
    "NodeInfo",
    "ValidationResult",
    "default_home",
    "load_definition",
]
