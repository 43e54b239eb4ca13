"""What a node receives: its resolved inputs, and a human_input node's answer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from framework._callables import call_sync_or_async
from framework.graph.node import NodeSpec


def resolve_inputs(
    spec: NodeSpec, pending: dict[str, Any], memory: dict[str, Any]
) -> dict[str, Any]:
    """A node's inputs: each input key from the edge's input first, then from memory."""
    if not spec.input_keys:
        return {**memory, **pending}
    return {
        key: pending[key] if key in pending else memory[key]
        for key in spec.input_keys
        if key in pending or key in memory
    }


async def human_answer(
    callback: Callable[..., Any] | None,
    spec: NodeSpec,
    inputs: dict[str, Any],
    input_data: dict[str, Any],
    resumed_at: str | None,
) -> dict[str, Any] | None:
    """The human's input for a human_input node, or ``None`` when the run must pause.

    The approval callback answers first; else this call's ``input_data`` answers if it
    holds every output key (a node without output keys takes all of it when the call
    resumes at that node).
    """
    if callback is not None:
        answer = await call_sync_or_async(callback, spec, dict(inputs))
        if answer is not None:
            if not isinstance(answer, Mapping):
                raise TypeError(
                    f"it returned {type(answer).__name__}; return a dict of the human's "
                    "input, or None to pause"
                )
            return dict(answer)
    if spec.output_keys and all(key in input_data for key in spec.output_keys):
        return {key: input_data[key] for key in spec.output_keys}
    if not spec.output_keys and resumed_at == spec.id:
        return dict(input_data)
    return None
