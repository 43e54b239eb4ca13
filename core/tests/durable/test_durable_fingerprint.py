"""Fingerprints tell a changed graph, plan or input from a renamed or reordered one."""

from __future__ import annotations

from pathlib import Path

import pytest
from durable_helpers import chain

from framework.durable import input_fingerprint
from framework.graph import (
    ActionSpec,
    ActionType,
    EdgeCondition,
    EdgeSpec,
    Plan,
    PlanStep,
    StepStatus,
)
from framework.graph.node import NodeSpec
from framework.graph.spec import GraphSpec
from framework.runner import AgentRunner
from framework.storage.codec import TAG_KEY

EXAMPLES = Path(__file__).parents[3] / "examples" / "agents"


def test_graph_fingerprint_ignores_prose_and_node_order() -> None:
    graph = chain(3)
    reworded = graph.model_copy(
        update={
            "name": "other",
            "description": "other words",
            "nodes": [
                node.model_copy(update={"name": "x", "description": "y"})
                for node in reversed(graph.nodes)
            ],
        }
    )

    assert reworded.fingerprint() == graph.fingerprint()


def test_graph_fingerprint_changes_with_behaviour() -> None:
    graph = chain(3)
    base = graph.fingerprint()
    retries = graph.model_copy(
        update={"nodes": [graph.nodes[0].model_copy(update={"max_retries": 0}), *graph.nodes[1:]]}
    )
    condition = graph.model_copy(
        update={
            "edges": [
                graph.edges[0].model_copy(
                    update={"condition": EdgeCondition.CONDITIONAL, "condition_expr": "n1"}
                ),
                graph.edges[1],
            ]
        }
    )
    version = graph.model_copy(update={"version": "2.0.0"})

    changed = {g.fingerprint() for g in (retries, condition, version)}

    assert base not in changed and len(changed) == 3


def test_order_of_edges_leaving_one_node_counts() -> None:
    graph = chain(3)
    a = EdgeSpec(id="a", source="n1", target="n2")
    b = EdgeSpec(id="b", source="n1", target="n3")

    first = graph.model_copy(update={"edges": [a, b]})
    swapped = graph.model_copy(update={"edges": [b, a]})

    assert first.fingerprint() != swapped.fingerprint()


def test_plan_fingerprint_ignores_progress() -> None:
    action = ActionSpec(action_type=ActionType.FUNCTION, function_name="f")
    plan = Plan(id="p", goal_id="g", steps=[PlanStep(id="s", action=action)])
    progressed = plan.model_copy(deep=True)
    progressed.steps[0].status = StepStatus.COMPLETED
    progressed.steps[0].result = {"x": 1}
    progressed.steps[0].attempts = 2

    assert progressed.fingerprint() == plan.fingerprint()
    assert plan.model_copy(update={"revision": 2}).fingerprint() != plan.fingerprint()


def test_input_fingerprint_is_order_independent_and_none_is_empty() -> None:
    assert input_fingerprint({"a": 1, "b": 2}) == input_fingerprint({"b": 2, "a": 1})
    assert input_fingerprint(None) == input_fingerprint({})
    assert input_fingerprint({"a": 1}) != input_fingerprint({"a": "1"})


# Fingerprints stored by runs of the previous version: an upgrade must not strand them.
STORED_FINGERPRINTS = {
    "document_triage": "sha256:8142ba7aaa9a98182f3b7215b07cd6510d54fe91a648b1fd8d69af38142406de",
    "expense_approval": "sha256:23b81a868f9ca92a8e8e6842b29f27aeb31f49adac625550d06c68e965a627ae",
    "order_batch": "sha256:b8866b1217c9d44ea43aaf6694e29a5c75448b3ff783b2cee0e8923777ee66ab",
}


@pytest.mark.parametrize("agent", sorted(STORED_FINGERPRINTS))
def test_the_example_agents_keep_the_fingerprints_their_runs_stored(agent: str) -> None:
    graph = AgentRunner.load(EXAMPLES / agent).graph

    assert graph.fingerprint() == STORED_FINGERPRINTS[agent]
    assert chain(5).fingerprint() == (
        "sha256:bb011c1bc2b6ecb5af9f74ec2b0aa2f7f51d5b3209719d053fa2b060f3bebb9d"
    )


def test_a_route_labelled_like_the_codec_tag_is_fingerprinted_apart() -> None:
    tagged = GraphSpec(
        id="odd",
        entry_node="r",
        nodes=[
            NodeSpec(id="r", name="r", description="r", node_type="router", routes={TAG_KEY: "a"}),
            NodeSpec(id="a", name="a", description="a"),
        ],
        edges=[EdgeSpec(id="e", source="r", target="a")],
    )
    plain = tagged.model_copy(
        update={
            "nodes": [tagged.nodes[0].model_copy(update={"routes": {"x": "a"}}), tagged.nodes[1]]
        }
    )

    assert tagged.fingerprint() != plain.fingerprint()
    assert tagged.fingerprint().startswith("sha256:")
