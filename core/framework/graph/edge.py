"""Edges: how control flows from one node to the next (the graph is :mod:`.spec`)."""

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
    applies is followed. ``conditional`` edges evaluate ``condition_expr`` (a safe
    expression) with the names ``output``, ``memory`` and every key of both (output wins).
    ``on_failure`` edges are followed when the source failed after all its retries, which
    turns the failure into a handled branch. ``input_mapping`` is ``{target input key:
    source key}``, looked up in the source's output, then in memory.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    source: str
    target: str
    condition: EdgeCondition = EdgeCondition.ALWAYS
    condition_expr: str | None = None
    input_mapping: dict[str, str] = Field(default_factory=dict)
    priority: int = 0
    description: str = ""

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
