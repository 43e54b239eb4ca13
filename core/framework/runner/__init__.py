"""AgentRunner: load an agent folder, run it durably, recover its crashed runs."""

from framework.runner.description import AgentInfo, EdgeInfo, NodeInfo, ValidationResult
from framework.runner.loader import AgentDefinition, load_definition
from framework.runner.recovery import find_abandoned_runs, is_abandoned
from framework.runner.runner import (
    AgentRunner,
    RecoverySkipHandler,
    default_home,
    default_storage_url,
    new_run_id,
)

__all__ = [
    "AgentDefinition",
    "AgentInfo",
    "AgentRunner",
    "EdgeInfo",
    "NodeInfo",
    "RecoverySkipHandler",
    "ValidationResult",
    "default_home",
    "default_storage_url",
    "find_abandoned_runs",
    "is_abandoned",
    "load_definition",
    "new_run_id",
]
