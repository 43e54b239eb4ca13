"""The context a plan step's function may ask for: which run and step it is, and effects.

A FUNCTION step whose function declares a parameter named ``ctx`` receives a
:class:`StepContext` (see :class:`~framework.graph.worker_node.WorkerNode`). Its
:meth:`~StepContext.effect` is the plan's counterpart of ``NodeContext.effect``, with the
same guarantees: in a checkpointed plan run an effect happens at most once per run, even
when the step runs again after a crash or is retried (see :mod:`framework.durable._ledger`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from framework.durable import EffectLedger, perform_effect, require_event_loop

__all__ = ["StepContext"]


@dataclass(frozen=True)
class StepContext:
    """One attempt of one plan step, as its function sees it.

    ``run_id`` names the plan run (for a run with neither a checkpoint manager nor a
    runtime, which has no id, one made up for that ``execute_plan`` call); ``attempt``
    counts this step's attempts, this one included. ``effects`` is the run's ledger when
    the run is checkpointed.

    :meth:`effect` is a coroutine, so only an ``async`` step function can use it; a sync
    function (run in a worker thread) still receives the context and may read its fields.
    """

    run_id: str
    step_id: str
    attempt: int = 1
    effects: EffectLedger | None = None

    @classmethod
    def outside_run(cls, step_id: str, attempt: int = 1) -> StepContext:
        """The context of a step run on its own, not by an executor: a fresh ``run_id``, no
        ledger."""
        return cls(f"step-{uuid.uuid4().hex}", step_id, attempt)

    def effect(
        self, key: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Coroutine[Any, Any, Any]:
        """Perform side effect ``key`` with ``fn(*args, **kwargs)`` (sync or async) once.

        Exactly ``NodeContext.effect`` with the step in place of the node: the ledger key
        is ``f"{step_id}:{key}"`` and ``fn`` gets ``idempotency_key=`` (stable for this run,
        step and key) when it takes that parameter or ``**kwargs``. With a ledger an effect
        completed before returns its recorded result without calling ``fn``; one in doubt
        is called again with the same key, or raises ``InDoubtEffectError`` under
        ``CheckpointConfig(in_doubt_effects="raise")``. Without a ledger ``fn`` is called.
        """
        require_event_loop(self.step_id)
        return perform_effect(self.effects, self.run_id, self.step_id, key, fn, args, kwargs)
