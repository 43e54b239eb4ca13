"""Typed errors of the framework, one tree under :class:`AgentGraphError`.

Every error says what failed and what to do about it. The CLI prints ``str(error)`` on one
line and exits non-zero, so messages are complete sentences without tracebacks in them.
Errors are typed by what the caller does with them: a wrong argument (also a
``ValueError``) is fixed in the call, a missing run (also a ``LookupError``) by checking the
id, a failing store by fixing the store; lease and fencing errors carry their facts as
attributes. This module imports nothing of the framework, so every layer may use it::

    AgentGraphError
    ├── InvalidArgumentError (ValueError)    a call was given a value it cannot take
    │   ├── InvalidIdError                   an id unsafe in a path or a query
    │   ├── GraphValidationError             a graph, plan or session state is invalid
    │   └── BatchSubmissionError             a batch's items repeat an id or changed
    ├── ExpressionError                      a condition expression is refused or fails
    ├── MemoryAccessError                    a node used a key outside its declared keys
    ├── NodeExecutionError                   raised by a node implementation
    ├── PlanExecutionError                   a plan cannot run as given
    ├── UnsupportedActionError               a plan step asks for a refused action
    ├── ToolExecutionError                   a tool call could not be carried out
    ├── LLMError                             a provider failed or is missing
    │   ├── LLMScriptExhaustedError
    │   └── LLMCallError                     every attempt of a model call failed
    ├── DecisionLogError                     the decision log refused a record
    ├── AgentLoadError                       an agent folder cannot be loaded
    ├── RunNotFoundError (LookupError)       no stored run (or checkpoint) by that id
    ├── RunExistsError                       creating a run whose id is taken
    ├── RunConflictError                     a run id reused with other input
    ├── GraphChangedError                    a run resumed with another graph or plan
    ├── RunCancelledError                    a cancelled run asked to run again
    ├── StorageError                         the store could not complete an operation
    │   ├── LeaseHeldError                   another live owner holds the run
    │   ├── FencedOutError                   this writer's lease was taken over: stop
    │   └── CheckpointsLostError             a run progressed, but no checkpoint of it loads
    ├── CheckpointError
    │   ├── CheckpointEncodeError            a value cannot be stored (names its key path)
    │   ├── CheckpointDecodeError            stored bytes cannot be revived
    │   │   └── CorruptCheckpointError       checksum or chain broken
    │   ├── CheckpointTooLargeError          above max_checkpoint_bytes
    │   └── CheckpointSaveError              a save failed; the run must not go on as if saved
    ├── EffectError
    │   └── InDoubtEffectError               an effect started but never recorded an outcome
    ├── PermanentItemError                   raised by a batch's function: fail the item now
    └── ItemRunError                         an item's graph run failed or paused: retry it
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = [
    "AgentGraphError",
    "AgentLoadError",
    "BatchSubmissionError",
    "CheckpointDecodeError",
    "CheckpointEncodeError",
    "CheckpointError",
    "CheckpointSaveError",
    "CheckpointTooLargeError",
    "CheckpointsLostError",
    "CorruptCheckpointError",
    "DecisionLogError",
    "EffectError",
    "ExpressionError",
    "FencedOutError",
    "GraphChangedError",
    "GraphValidationError",
    "InDoubtEffectError",
    "InvalidArgumentError",
    "InvalidIdError",
    "ItemRunError",
    "LLMCallError",
    "LLMError",
    "LLMScriptExhaustedError",
    "LeaseHeldError",
    "MemoryAccessError",
    "NodeExecutionError",
    "PermanentItemError",
    "PlanExecutionError",
    "RunCancelledError",
    "RunConflictError",
    "RunExistsError",
    "RunNotFoundError",
    "StorageError",
    "ToolExecutionError",
    "UnsupportedActionError",
]


class AgentGraphError(Exception):
    """Base class of every error raised on purpose by the framework."""


class InvalidArgumentError(AgentGraphError, ValueError):
    """A call was given a value it cannot take (a bad limit, an unknown field or status)."""


class InvalidIdError(InvalidArgumentError):
    """A run, checkpoint, node or item id is unsafe to use in a path or a query."""


# --- graph model and execution ------------------------------------------------------------


class BatchSubmissionError(InvalidArgumentError):
    """A batch's submission gives one item id twice, or changes an item the batch holds.

    ``item_ids`` lists them (the first few are in the message).
    """

    def __init__(self, message: str, item_ids: list[str]) -> None:
        super().__init__(message)
        self.item_ids = item_ids


class ExpressionError(AgentGraphError):
    """A condition expression is malformed, uses a forbidden construct, or failed to evaluate."""


class GraphValidationError(InvalidArgumentError):
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


class LLMCallError(LLMError):
    """A model call failed after every attempt its provider allows.

    ``attempts`` holds every attempt (:class:`~framework.llm.usage.LLMAttempt`), failed
    ones included, so what the call spent is still counted. ``retryable`` is false for an
    error that another attempt cannot fix (a wrong key, a bad request): the message names
    the model and the endpoint, never the key.
    """

    def __init__(self, message: str, attempts: list[Any], *, retryable: bool) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.retryable = retryable


class DecisionLogError(AgentGraphError):
    """The runtime's decision log refused a record: unknown run or decision, or ended run."""


# --- loading agents -----------------------------------------------------------------------


class AgentLoadError(AgentGraphError):
    """An agent folder could not be loaded; names the file or element and the reason."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")


# --- runs ---------------------------------------------------------------------------------


class RunNotFoundError(AgentGraphError, LookupError):
    """No stored run has the given id (or it has nothing to continue from); names the id."""

    def __init__(self, message: str, *, run_id: str | None = None) -> None:
        self.run_id = run_id
        super().__init__(message)


class RunExistsError(AgentGraphError):
    """A run is created with an id that another run already has."""


class RunConflictError(AgentGraphError):
    """A run id is reused with input different from the input the run started with."""


class GraphChangedError(AgentGraphError):
    """A run is resumed with a graph (or plan) other than the one it started with."""


class RunCancelledError(AgentGraphError):
    """The run was cancelled, which is final; start a new run (or fork this one) instead."""


# --- storage and leases -------------------------------------------------------------------


class StorageError(AgentGraphError):
    """A storage backend could not complete an operation."""


class LeaseHeldError(StorageError):
    """Another live owner holds the run's lease until ``expires_at``; wait, or let it expire."""

    def __init__(self, run_id: str, owner_id: str, expires_at: datetime) -> None:
        self.run_id = run_id
        self.owner_id = owner_id
        self.expires_at = expires_at
        super().__init__(
            f"run {run_id!r} is held by {owner_id} until {expires_at.isoformat()}; wait for "
            "that process to finish, or for its lease to expire if it died on another machine"
        )


class FencedOutError(StorageError):
    """A write carried a stale fencing token: another owner took the run over; stop writing.

    ``token`` is the writer's, ``current_token`` the run's now (``None``: the run was
    deleted), ``holder`` the run's current lease owner (``None``: nobody holds it).
    """

    def __init__(
        self,
        action: str,
        run_id: str,
        token: int,
        *,
        current_token: int | None,
        holder: str | None = None,
    ) -> None:
        self.action = action
        self.run_id = run_id
        self.token = token
        self.current_token = current_token
        self.holder = holder
        if current_token is None:
            situation = f"run {run_id!r} no longer exists (deleted); this writer must stop"
        elif current_token != token:
            situation = (
                f"run {run_id!r} was taken over ({holder or 'no owner'}, fencing token "
                f"{current_token}, not {token}); this writer must stop"
            )
        else:
            situation = (
                f"the lease of run {run_id!r} was released; claim the run again to keep writing"
            )
        super().__init__(f"{action} was refused: {situation}")


class CheckpointsLostError(StorageError):
    """A run's record says it progressed, but storage holds no checkpoint of it that loads.

    ``expected_checkpoint_id`` and ``expected_steps`` are what the record says: its latest
    checkpoint and the steps done; ``stored`` is how many checkpoints storage still lists
    for the run (all of them damaged). The run is neither continued nor started over.
    """

    def __init__(
        self, run_id: str, expected_checkpoint_id: str, expected_steps: int, *, stored: int
    ) -> None:
        self.run_id = run_id
        self.expected_checkpoint_id = expected_checkpoint_id
        self.expected_steps = expected_steps
        self.stored = stored
        found = (
            f"none of its {stored} stored checkpoints can be loaded (all are damaged)"
            if stored
            else "storage holds none of its checkpoints"
        )
        super().__init__(
            f"run {run_id!r} has progressed ({expected_steps} steps done, latest checkpoint "
            f"{expected_checkpoint_id!r}) but {found}; it was neither continued nor started "
            "over. Restore the store from a backup, or start the run over from its input with "
            "force_restart=True (agentgraph run --restart), which runs its completed nodes again"
        )


# --- checkpoints --------------------------------------------------------------------------


class CheckpointError(AgentGraphError):
    """Base class of checkpoint failures."""


class CheckpointEncodeError(CheckpointError):
    """A value cannot be stored; names the key path (``memory['docs'][3].author``) and type.

    ``hint``, when given, says what to do about it.
    """

    def __init__(self, path: str, type_name: str, reason: str = "", hint: str = "") -> None:
        self.path = path
        self.type_name = type_name
        extra = f" ({reason})" if reason else ""
        advice = f"; {hint}" if hint else ""
        super().__init__(f"cannot encode {path} of type {type_name}{extra}{advice}")


class CheckpointDecodeError(CheckpointError):
    """Stored bytes cannot be revived (unknown type tag, unregistered type, bad JSON)."""


class CorruptCheckpointError(CheckpointDecodeError):
    """A stored checkpoint failed its checksum or is truncated."""


class CheckpointTooLargeError(CheckpointError):
    """An encoded checkpoint exceeds ``max_checkpoint_bytes``; names the largest keys."""


class CheckpointSaveError(CheckpointError):
    """A checkpoint could not be saved; the run must not continue as if it had been."""


# --- effects ------------------------------------------------------------------------------


class EffectError(AgentGraphError):
    """Base class of effects-ledger failures."""


class InDoubtEffectError(EffectError):
    """An effect started but never recorded an outcome, and in_doubt_effects='raise'."""


class PermanentItemError(AgentGraphError):
    """Raised by a batch's item function: this item fails now, without another attempt.

    For an input that can never succeed (a document that is not text, say); any other
    exception is retried up to the batch's ``max_attempts``.
    """


class ItemRunError(AgentGraphError):
    """The graph run of one batch item failed or paused; the batch retries the item, and
    its run resumes where it stopped."""
