"""Edges: how control flows from one node to the next (the graph is :mod:`.spec`).

Public as :mod:`framework.graph.edge` and :mod:`framework.graph`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from framework.graph.expressions import compile_expression

__all__ = ["EdgeCondition", "EdgeSpec"]


class EdgeCondition(StrEnum):
    """When an edge is followed."""

    ALWAYS = "always"
    """Whenever its source succeeded."""
    ON_SUCCESS = "on_success"
    """When its source succeeded (the same as ``always``, said explicitly)."""
    ON_FAILURE = "on_failure"
    """When its source failed after all its retries: a handled failure branch."""
    CONDITIONAL = "conditional"
    """When its source succeeded and ``condition_expr`` holds."""
    LLM_DECIDE = "llm_decide"
    """When the executor's LLM picks it among the source's llm_decide edges."""


class EdgeSpec(BaseModel):
    """A possible transition from ``source`` to ``target``.

    Edges leaving a node are tried by ``priority``, highest first, and the first that
    applies is followed; a node's own choice (a router's ``next_node``) wins over them all.
    """

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    id: str
    """Unique within the graph; decisions and errors name the edge by it."""
    source: str
    """The node it leaves."""
    target: str
    """The node it leads to."""
    condition: EdgeCondition = EdgeCondition.ALWAYS
    """When it is followed."""
    condition_expr: str | None = None
    """For ``conditional`` edges: a safe expression over the names ``output``, ``memory``
    and every key of both (output wins on a clash); the edge is followed when it is true."""
    input_mapping: dict[str, str] = Field(default_factory=dict)
    """``{target input key: source key}``: what the target receives, each value looked up
    in the source's output, then in memory (an ``on_failure`` edge reads the failure,
    ``node_id``, ``error`` and ``attempts``, as the output)."""
    priority: int = 0
    """Higher is tried first; among equal priorities the edges keep the graph's order."""
    description: str = ""
    """For people, and for the LLM: an ``llm_decide`` edge shows it as its condition."""

    def matches(self, success: bool, output: dict[str, Any], memory: dict[str, Any]) -> bool:
        """Whether this edge applies; ``llm_decide`` edges are decided by the executor."""
        if self.condition is EdgeCondition.ON_FAILURE:
            return not success
        if not success:
            return False
        if self.condition is EdgeCondition.CONDITIONAL:
            names = {**memory, **output, "output": output, "memory": memory}
            return bool(compile_expression(self.condition_expr or "").evaluate(names))
        return True

    def map_inputs(self, output: dict[str, Any], memory: dict[str, Any]) -> dict[str, Any]:
        """The input the target receives through this edge."""
        mapped: dict[str, Any] = {}
        for target_key, source_key in self.input_mapping.items():
            if source_key in output:
                mapped[target_key] = output[source_key]
            elif source_key in memory:
                mapped[target_key] = memory[source_key]
        return mapped
