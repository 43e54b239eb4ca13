"""Fingerprints: short stable digests that tell a resume of a run from a changed reuse of it.

A run records the fingerprint of the graph (or plan) it started with and of its input.
Resuming compares them: a different graph means the stored checkpoints may not fit it any
more (``GraphChangedError`` unless forced), a different input means the run id is reused
for other work (``RunConflictError``).

Only what changes behaviour is fingerprinted. Names, descriptions and other prose are left
out, so fixing a typo in a description does not strand running work; node order does not
count either, while the order of edges leaving one node does (it breaks priority ties).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from framework.graph.edge import GraphSpec
from framework.graph.plan import Plan
from framework.storage import codec

__all__ = ["graph_fingerprint", "input_fingerprint", "plan_fingerprint"]


def graph_fingerprint(graph: GraphSpec) -> str:
    """``sha256:`` of the canonical JSON of what decides how ``graph`` runs.

    Covered: version, entry node, terminal and pause nodes, every node's id, type, input
    and output keys, function, routes, tools, model, retry settings and prompts, and every
    edge's source, target, condition, expression, input mapping and priority.
    """
    nodes = sorted(
        (
            {
                "id": node.id,
                "type": str(node.node_type),
                "input_keys": node.input_keys,
                "output_keys": node.output_keys,
                "function": node.function,
                "routes": node.routes,
                "tools": node.tools,
                "model": node.model,
                "max_retries": node.max_retries,
                "retry_on": node.retry_on,
                "system_prompt": node.system_prompt,
                "prompt_template": node.prompt_template,
            }
            for node in graph.nodes
        ),
        key=lambda node: str(node["id"]),
    )
    # A stable sort by source keeps the order of edges leaving one node, which routing uses.
    edges = sorted(
        (
            {
                "source": edge.source,
                "target": edge.target,
                "condition": str(edge.condition),
                "expr": edge.condition_expr,
                "mapping": edge.input_mapping,
                "priority": edge.priority,
            }
            for edge in graph.edges
        ),
        key=lambda edge: str(edge["source"]),
    )
    return _digest(
        {
            "version": graph.version,
            "entry_node": graph.entry_node,
            "terminal_nodes": sorted(graph.terminal_nodes),
            "pause_nodes": sorted(graph.pause_nodes),
            "nodes": nodes,
            "edges": edges,
        }
    )


def plan_fingerprint(plan: Plan) -> str:
    """``sha256:`` of what a plan does, without its progress (statuses, results, attempts).

    Covered: id, goal, revision, context and every step's id, action, inputs, expected
    outputs, dependencies, approval requirement and retry limit. A plan handed back from an
    earlier result therefore has the fingerprint of the plan it started as.
    """
    steps = [
        {
            "id": step.id,
            "action": step.action.model_dump(mode="json"),
            "inputs": step.inputs,
            "expected_outputs": step.expected_outputs,
            "dependencies": step.dependencies,
            "requires_approval": step.requires_approval,
            "max_retries": step.max_retries,
        }
        for step in plan.steps
    ]
    return _digest(
        {
            "id": plan.id,
            "goal_id": plan.goal_id,
            "revision": plan.revision,
            "context": plan.context,
            "steps": steps,
        }
    )


def input_fingerprint(input_data: Mapping[str, Any] | None) -> str:
    """``sha256:`` of the codec's canonical bytes of ``input_data`` (``None`` counts as ``{}``).

    Raises ``CheckpointEncodeError`` naming the key of a value the codec cannot store,
    which the run could not have checkpointed either.
    """
    return "sha256:" + hashlib.sha256(codec.dumps(dict(input_data or {}), "input")).hexdigest()


def _digest(tree: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(codec.dumps(tree, "fingerprint")).hexdigest()
