"""Typed errors of the framework.

Every error says what failed and what to do about it. The CLI prints ``str(error)`` on one
line and exits non-zero, so messages are complete sentences without tracebacks in them.
"""

from __future__ import annotations

__all__ = [
    "AgentGraphError",
    "AgentLoadError",
    "CheckpointDecodeError",
    "CheckpointEncodeError",
    "CheckpointError",
    "CheckpointSaveError",
    "CheckpointTooLargeError",
    "CorruptCheckpointError",
    "DecisionLogError",
    "ExpressionError",
    "FencedOutError",
    "GraphChangedError",
    "GraphValidationError",
    "InDoubtEffectError",
    "InvalidIdError",
    "LLMError",
    "LLMScriptExhaustedError",
    "LeaseHeldError",
    "MemoryAccessError",
    "NodeExecutionError",
    "PlanExecutionError",
    "RunCancelledError",
    "RunConflictError",
    "RunNotFoundError",
    "StorageError",
    "ToolExecutionError",
    "UnsupportedActionError",
]


class AgentGraphError(Exception):
    """Base class of every error raised on purpose by the framework."""


# --- graph model and execution ------------------------------------------------------------


class ExpressionError(AgentGraphError):
    """A condition expression is malformed, uses a forbidden construct, or failed to evaluate."""


class GraphValidationError(AgentGraphError):
    """A graph (or plan) is invalid; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: list[str], *, subject: str = "graph") -> None:
        self.problems = list(problems)
        self.subject = subject
        detail = "; ".join(self.problems) if self.problems else "no details"
        super().__init__(f"invalid {subject}: {detail}")


class MemoryAccessError(AgentGraphError):
    """A node read or wrote a shared-memory key outside its declared keys."""


class NodeExecutionError(AgentGraphError):
    """A node failed; raised by node implementations, recorded as the node's error."""

    def __init__(self, node_id: str, message: str) -> None:
        self.node_id = node_id
        self.message = message
        super().__init__(f"node '{node_id}' failed: {message}")


class PlanExecutionError(AgentGraphError):
    """A plan cannot be executed as given (cycle, missing dependency, unknown step)."""


class UnsupportedActionError(AgentGraphError):
    """A plan step asks for an action this framework refuses to perform."""


class ToolExecutionError(AgentGraphError):
    """A tool call could not be carried out (unknown tool, no tool executor, tool raised)."""


class LLMError(AgentGraphError):
    """An LLM provider failed or is missing where a node needs one."""


class LLMScriptExhaustedError(LLMError):
    """The scripted mock provider was asked for more responses than it was given."""


class DecisionLogError(AgentGraphError):
    """The runtime's decision log refused a record: unknown run or decision, or ended run."""


# --- loading agents -----------------------------------------------------------------------


class AgentLoadError(AgentGraphError):
    """An agent folder could not be loaded; names the file or element and the reason."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")


# --- storage and checkpoints ----------------------------------------------------------------


class StorageError(AgentGraphError):
    """A storage backend could not complete an operation."""


class InvalidIdError(StorageError, ValueError):
    """A run, checkpoint, node or item id is unsafe to use in a path or a query."""


class CheckpointError(AgentGraphError):
    """Base class of checkpoint failures."""


class CheckpointEncodeError(CheckpointError):
    """A value cannot be stored; names the key path (``memory['docs'][3].author``) and type."""

    def __init__(self, path: str, type_name: str, reason: str = "") -> None:
        self.path = path
        self.type_name = type_name
        extra = f" ({reason})" if reason else ""
        super().__init__(
            f"cannot encode {path} of type {type_name}{extra}; store JSON-compatible values "
            "or register the type with framework.storage.codec.register_type"
        )


class CheckpointDecodeError(CheckpointError):
    """Stored bytes cannot be revived (unknown type tag, unregistered type, bad JSON)."""


class CorruptCheckpointError(CheckpointDecodeError):
    """A stored checkpoint failed its checksum or is truncated."""


class CheckpointTooLargeError(CheckpointError):
    """An encoded checkpoint exceeds ``max_checkpoint_bytes``; names the largest keys."""


class CheckpointSaveError(CheckpointError):
    """A checkpoint could not be saved; the run must not continue as if it had been."""


class LeaseHeldError(StorageError):
    """Another live owner holds the run's lease; names the owner and when the lease expires."""


class FencedOutError(StorageError):
    """A write carried a stale fencing token: another owner took the run over; stop writing."""


class RunNotFoundError(AgentGraphError):
    """No stored run has the given id (or it has nothing to continue from); names the id."""


class RunConflictError(AgentGraphError):
    """A run id is reused with input different from the input the run started with."""


class GraphChangedError(AgentGraphError):
    """A run is resumed with a graph (or plan) other than the one it started with."""


class RunCancelledError(AgentGraphError):
    """The run was cancelled, which is final; start a new run (or fork this one) instead."""


class InDoubtEffectError(CheckpointError):
    """An effect started but never recorded an outcome, and in_doubt_effects='raise'."""
