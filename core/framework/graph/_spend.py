"""The spend journal: what a checkpointed run's model calls cost, stored as soon as they end.

A node's tokens and cost reach the run's totals with the checkpoint taken after the node.
A process killed after the model answered but before that checkpoint would lose them, yet
they were paid for, and the model is asked again when the run resumes. So every model
call a node of a checkpointed run makes is journaled the moment it returns (or fails for
good) as a completed record in the run's effects ledger, keyed ``{node}:llm-spend-{id}``,
its result holding what the call spent and its attempts.

A checkpoint's state is taken between nodes, so a call journaled after the checkpoint the
run resumes from was made by a node that checkpoint does not count: the run was charged for
it, but its totals lack it. :func:`count_interrupted_spend` adds those calls (all of them
when the run has no checkpoint yet; none from before a ``force_restart``, which starts the
totals over; a run created now reads nothing) to the restored state once: every
checkpoint written from then on is taken later than they are, and so counts them. The
node then runs again, and its new calls are counted with it. (The times compared are both
the clock of the process that held the run: its owner writes the journal and checkpoints.)
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from framework.durable import EffectLedger
from framework.graph.graph_run import RunState
from framework.llm.metered import MeteredLLM
from framework.llm.provider import LLMProvider
from framework.llm.usage import LLMAttempt, Spend
from framework.schemas.effect import EffectStatus

__all__ = ["count_interrupted_spend", "interrupted_spend", "journaled"]

_MARK = ":llm-spend-"


def journaled(
    provider: LLMProvider | None, ledger: EffectLedger | None, node_id: str
) -> LLMProvider | None:
    """The model a node attempt uses: in a checkpointed run (a ledger) its calls are
    journaled."""
    if provider is None or ledger is None:
        return provider

    async def journal(spent: Spend, attempts: list[LLMAttempt]) -> None:
        entry = {
            "input_tokens": spent.input_tokens,
            "output_tokens": spent.output_tokens,
            "cached_tokens": spent.cached_tokens,
            "cost": spent.cost,
            "unpriced": spent.unpriced,
            "attempts": [attempt.model_dump(mode="json") for attempt in attempts],
        }
        await ledger.record(node_id, f"llm-spend-{uuid.uuid4().hex[:16]}", entry)

    return MeteredLLM(provider, journal)


async def count_interrupted_spend(
    ledger: EffectLedger, counted_until: datetime, state: RunState
) -> None:
    """Add to ``state`` what the calls journaled after ``counted_until`` (the run's
    ``RunObserver.counted_until``: its state counts everything before) spent."""
    spent = await interrupted_spend(ledger, counted_until)
    state.total_tokens += spent.tokens
    state.total_cost += spent.cost


async def interrupted_spend(ledger: EffectLedger, since: datetime) -> Spend:
    """What the run's model calls journaled after ``since`` spent."""
    total = Spend()
    for record in await ledger.storage.alist_effects(ledger.run_id):
        entry = record.result
        if record.status is not EffectStatus.COMPLETED or _MARK not in record.key:
            continue
        if isinstance(entry, dict) and record.started_at > since:
            total = total + Spend(
                _int(entry, "input_tokens"),
                _int(entry, "output_tokens"),
                _int(entry, "cached_tokens"),
                float(entry.get("cost") or 0.0),
                _int(entry, "unpriced"),
            )
    return total


def _int(entry: dict[str, Any], name: str) -> int:
    value = entry.get(name)
    return value if isinstance(value, int) else 0
