"""What makes any run survive: the checkpoint manager, the run driver and the one path every
run takes, opening runs, run commands, and the effects and item ledgers.

Executors report to a :class:`RunObserver` — a :class:`DurableRun` or a :class:`NullRun` —
through :func:`run_durably`, with a :class:`RunAdapter` that says what their checkpoint
holds. This package knows storage and schemas, never graphs.
"""

from framework.durable._commands import ResumePreview
from framework.durable._driver import INTERRUPTED, DurableRun
from framework.durable._items import ItemLedger
from framework.durable._ledger import (
    EffectLedger,
    effect_key,
    idempotency_key,
    perform_effect,
    require_event_loop,
)
from framework.durable._observer import NullRun, RunAdapter, RunObserver, Stop
from framework.durable._opening import BUDGET_EXHAUSTED, RunSpec, input_fingerprint
from framework.durable._runs import run_durably
from framework.durable._verifying import RunVerification
from framework.durable.manager import CheckpointManager, CheckpointSaveWarning

__all__ = [
    "BUDGET_EXHAUSTED",
    "INTERRUPTED",
    "CheckpointManager",
    "CheckpointSaveWarning",
    "DurableRun",
    "EffectLedger",
    "ItemLedger",
    "NullRun",
    "ResumePreview",
    "RunAdapter",
    "RunObserver",
    "RunSpec",
    "RunVerification",
    "Stop",
    "effect_key",
    "idempotency_key",
    "input_fingerprint",
    "perform_effect",
    "require_event_loop",
    "run_durably",
]
