"""Choosing where a run goes after a node: the next node and the input it receives."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from framework.errors import ExpressionError
from framework.graph._edges import EdgeCondition, EdgeSpec
from framework.graph.spec import GraphRoutes
from framework.llm.provider import Message, Role

if TYPE_CHECKING:
    from framework.llm.provider import LLMProvider


@dataclass(frozen=True)
class Transition:
    """The outcome of routing: ``target`` and its input, completion, or an error.

    ``target`` is ``None`` when the run is complete (or when ``error`` is set, in which
    case the run fails with it). ``tokens_used`` counts LLM calls made to decide.
    """

    target: str | None = None
    pending_input: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    error: str | None = None
    tokens_used: int = 0


async def success_transition(
    graph: GraphRoutes,
    node_id: str,
    output: dict[str, Any],
    memory: dict[str, Any],
    *,
    chosen: str | None = None,
    llm: LLMProvider | None = None,
) -> Transition:
    """Where to go after ``node_id`` succeeded with ``output``.

    A node's own choice (``chosen``, a router's ``next_node``) wins; its input is mapped by
    the edge to that target if there is one. Else a terminal node (see
    ``GraphSpec.terminal_nodes``), or a pause node no edge leaves on success, completes
    the run. Else the edges are tried by priority and the first that matches is followed;
    none matching (or none to try) is an error naming the node: a dead end never ends a
    run as if it had completed.
    """
    edges = graph.outgoing_edges(node_id)
    if chosen is not None:
        if graph.get_node(chosen) is None:
            return Transition(error=f"node '{node_id}' chose next node '{chosen}', not in graph")
        edge = next((edge for edge in edges if edge.target == chosen), None)
        mapped = edge.map_inputs(output, memory) if edge else {}
        return Transition(chosen, mapped, reason=f"chosen by node '{node_id}'")
    if graph.is_terminal(node_id):
        return Transition(reason=f"'{node_id}' is a terminal node")
    candidates = graph.success_edges(node_id)
    if not candidates and node_id in graph.pause_nodes:
        return Transition(reason=f"pause node '{node_id}' has no outgoing edges")
    tokens = 0
    for edge in candidates:
        try:
            if edge.condition is EdgeCondition.LLM_DECIDE:
                matched, used = await _ask_llm(edge, output, llm)
                tokens += used
            else:
                matched = edge.matches(True, output, memory)
        except ExpressionError as exc:
            return Transition(error=f"edge '{edge.id}' condition failed: {exc}", tokens_used=tokens)
        except Exception as exc:
            message = f"edge '{edge.id}' could not be decided: {type(exc).__name__}: {exc}"
            return Transition(error=message, tokens_used=tokens)
        if matched:
            reason = f"edge '{edge.id}' ({edge.condition}) from '{node_id}'"
            return Transition(edge.target, edge.map_inputs(output, memory), reason, None, tokens)
    tried = ", ".join(f"'{edge.id}'" for edge in candidates)
    why = f"none of its edges matched ({tried})" if candidates else "no edge leaves it"
    error = (
        f"node '{node_id}' is a dead end: {why} and it is not a terminal node; add an edge "
        "that always applies, or list it in terminal_nodes"
    )
    return Transition(error=error, tokens_used=tokens)


def failure_transition(
    graph: GraphRoutes, node_id: str, failure: dict[str, Any], memory: dict[str, Any]
) -> Transition | None:
    """The ``on_failure`` edge to follow after ``node_id`` failed, or ``None`` if it has none.

    ``failure`` plays the role of the node's output for the edge's input mapping.
    """
    for edge in graph.outgoing_edges(node_id):
        if edge.condition is EdgeCondition.ON_FAILURE:
            reason = f"on_failure edge '{edge.id}' from '{node_id}'"
            return Transition(edge.target, edge.map_inputs(failure, memory), reason)
    return None


async def _ask_llm(
    edge: EdgeSpec, output: dict[str, Any], llm: LLMProvider | None
) -> tuple[bool, int]:
    """Ask the LLM whether to follow ``edge``; a reply starting with "yes" means follow."""
    if llm is None:
        raise ValueError("llm_decide edges need an LLM; pass llm= to GraphExecutor")
    prompt = (
        f"Decide whether an agent should move from step '{edge.source}' to step "
        f"'{edge.target}'.\nCondition: {edge.description or 'none given'}\n"
        f"Output of '{edge.source}':\n{json.dumps(output, default=str, sort_keys=True)}\n"
        "Answer with exactly one word: yes or no."
    )
    response = await llm.complete([Message(role=Role.USER, content=prompt)])
    answer = response.content.strip().strip("\"'`.").lower()
    return answer.startswith("yes"), response.spend().tokens
