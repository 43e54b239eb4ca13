"""Pausing and resuming: pause nodes, human input, the executor hooks, and run state."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import pytest

from framework.errors import GraphValidationError
from framework.graph import EdgeSpec, GraphSpec
from framework.graph.executor import (
    ExecutionResult,
    GraphExecutor,
    NodeOutcome,
    RetryPolicy,
    RunState,
)
from framework.graph.goal import Goal
from framework.graph.node import NodeResult, NodeSpec, NodeType

GOAL = Goal(id="goal", name="Test goal", description="Exercise pausing.")
E = TypeVar("E", bound=GraphExecutor)


def node(node_id: str, inputs: list[str], outputs: list[str], **fields: Any) -> NodeSpec:
    return NodeSpec(
        id=node_id,
        name=node_id,
        description=f"node {node_id}",
        input_keys=inputs,
        output_keys=outputs,
        **fields,
    )


def pipeline(**fields: Any) -> GraphSpec:
    """draft -> review -> publish, with a mapped edge into publish and token-costly nodes."""
    return GraphSpec(
        id="pipeline",
        entry_node="draft",
        nodes=[
            node("draft", ["topic"], ["draft"]),
            node("review", ["draft"], ["approved", "notes"]),
            node("publish", ["text", "approved"], ["published"]),
        ],
        edges=[
            EdgeSpec(id="d-r", source="draft", target="review"),
            EdgeSpec(id="r-p", source="review", target="publish", input_mapping={"text": "notes"}),
        ],
        **fields,
    )


def costly(output: dict[str, Any], tokens: int) -> Any:
    def run(**inputs: Any) -> NodeResult:
        values = {k: v.format(**inputs) if isinstance(v, str) else v for k, v in output.items()}
        return NodeResult(success=True, output=values, tokens_used=tokens, cost=tokens / 10)

    return run


def with_pipeline_functions(ex: E) -> E:
    ex.register_function("draft", costly({"draft": "about {topic}"}, 3))
    ex.register_function("review", costly({"approved": True, "notes": "{draft}, reviewed"}, 5))
    ex.register_function("publish", costly({"published": "{text}!"}, 7))
    return ex


def executor(runtime: Any = None) -> GraphExecutor:
    return with_pipeline_functions(GraphExecutor(runtime, retry_policy=RetryPolicy(base_delay=0)))


def comparable(result: ExecutionResult) -> dict[str, Any]:
    return result.model_dump(
        include={
            "success",
            "output",
            "path",
            "steps_executed",
            "total_tokens",
            "total_cost",
            "node_visit_counts",
            "error",
        }
    )


# --- pause nodes ---------------------------------------------------------------------------


async def test_pause_node_pauses_after_it_completes_and_resume_equals_an_uninterrupted_run() -> (
    None
):
    uninterrupted = await executor().execute(pipeline(), GOAL, {"topic": "tides"})

    paused = await executor().execute(pipeline(pause_nodes=["review"]), GOAL, {"topic": "tides"})

    assert paused.success is True
    assert paused.paused_at == "review"
    assert paused.pause_reason == "pause node 'review' completed"
    assert paused.path == ["draft", "review"]
    assert paused.session_state is not None
    assert paused.session_state["resume_from"] == "publish"
    assert paused.session_state["pending_input"] == {"text": "about tides, reviewed"}
    assert "published" not in paused.output

    # The session state survives a trip through JSON, as it would through a file.
    stored = json.loads(json.dumps(paused.session_state))
    resumed = await executor().execute(pipeline(pause_nodes=["review"]), GOAL, session_state=stored)

    assert resumed.paused_at is None
    assert comparable(resumed) == comparable(uninterrupted)
    assert resumed.output["published"] == "about tides, reviewed!"
    assert resumed.run_id == paused.run_id


async def test_resumed_run_keeps_its_run_id_and_the_runtime_reopens_it(recorder: Any) -> None:
    g = pipeline(pause_nodes=["review"])

    paused = await executor(runtime=recorder).execute(g, GOAL, {"topic": "tides"})
    resumed = await executor(runtime=recorder).execute(g, GOAL, session_state=paused.session_state)

    assert paused.run_id == resumed.run_id == "run-1"
    assert [call["run_id"] for call in recorder.of("start_run")] == [None, "run-1"]
    assert [end["narrative"] for end in recorder.of("end_run")] == [
        "paused at 'review': pause node 'review' completed",
        "completed after 3 steps",
    ]
    assert [d["reasoning"] for d in recorder.of("decide")][2] == "resumed at 'publish'"


async def test_resume_merges_new_input_into_memory() -> None:
    paused = await executor().execute(pipeline(pause_nodes=["draft"]), GOAL, {"topic": "tides"})
    assert paused.session_state is not None

    resumed = await executor().execute(
        pipeline(pause_nodes=["draft"]), GOAL, {"reviewer": "ana"}, paused.session_state
    )

    assert resumed.success
    assert resumed.output["reviewer"] == "ana"
    assert resumed.path == ["draft", "review", "publish"]


async def test_minimal_session_state_resumes_with_zero_totals() -> None:
    session_state = {
        "memory": {"topic": "tides", "draft": "hand-written"},
        "paused_at": "draft",
        "resume_from": "review",
        "execution_path": ["draft"],
    }

    result = await executor().execute(pipeline(), GOAL, session_state=session_state)

    assert result.success
    assert result.path == ["draft", "review", "publish"]
    assert result.output["published"] == "hand-written, reviewed!"
    assert result.steps_executed == 2
    assert result.total_tokens == 12


async def test_resume_from_an_unknown_node_is_refused() -> None:
    with pytest.raises(GraphValidationError, match="resume_from 'gone' is not a node"):
        await executor().execute(pipeline(), GOAL, session_state={"resume_from": "gone"})


# --- human input -----------------------------------------------------------------------------


def approval_graph() -> GraphSpec:
    return GraphSpec(
        id="approval",
        entry_node="draft",
        nodes=[
            node("draft", ["topic"], ["draft"]),
            node("approve", ["draft"], ["approved"], node_type=NodeType.HUMAN_INPUT),
            node("publish", ["draft", "approved"], ["published"], function="publish_if"),
        ],
        edges=[
            EdgeSpec(id="d-a", source="draft", target="approve"),
            EdgeSpec(id="a-p", source="approve", target="publish"),
        ],
    )


def approval_executor(**kwargs: Any) -> GraphExecutor:
    ex = GraphExecutor(None, **kwargs)
    ex.register_function("draft", lambda topic: f"about {topic}")
    ex.register_function("publish_if", lambda draft, approved: draft if approved else None)
    return ex


async def test_human_input_node_pauses_then_resumes_with_the_answer() -> None:
    paused = await approval_executor().execute(approval_graph(), GOAL, {"topic": "tides"})

    assert paused.success
    assert paused.paused_at == "approve"
    assert paused.pause_reason == "node 'approve' waits for human input"
    assert paused.path == ["draft"]
    assert paused.steps_executed == 1
    assert paused.session_state is not None
    assert paused.session_state["resume_from"] == "approve"

    still_waiting = await approval_executor().execute(
        approval_graph(), GOAL, {"unrelated": 1}, paused.session_state
    )
    assert still_waiting.paused_at == "approve"

    resumed = await approval_executor().execute(
        approval_graph(), GOAL, {"approved": True}, paused.session_state
    )

    assert resumed.success
    assert resumed.paused_at is None
    assert resumed.path == ["draft", "approve", "publish"]
    assert resumed.output["published"] == "about tides"
    assert resumed.steps_executed == 3


async def test_approval_callback_answers_sync_or_async_and_sees_the_inputs() -> None:
    asked: list[tuple[str, dict[str, Any]]] = []

    def sync_callback(spec: NodeSpec, inputs: dict[str, Any]) -> dict[str, Any]:
        asked.append((spec.id, inputs))
        return {"approved": False}

    async def async_callback(spec: NodeSpec, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"approved": True}

    rejected = await approval_executor(approval_callback=sync_callback).execute(
        approval_graph(), GOAL, {"topic": "tides"}
    )
    accepted = await approval_executor(approval_callback=async_callback).execute(
        approval_graph(), GOAL, {"topic": "tides"}
    )

    assert asked == [("approve", {"draft": "about tides"})]
    assert rejected.output["published"] is None
    assert accepted.output["published"] == "about tides"
    assert accepted.path == ["draft", "approve", "publish"]


async def test_approval_callback_returning_none_pauses_the_run() -> None:
    result = await approval_executor(approval_callback=lambda spec, inputs: None).execute(
        approval_graph(), GOAL, {"topic": "tides"}
    )
    assert result.paused_at == "approve"


async def test_approval_callback_that_raises_or_returns_a_non_dict_fails_the_run() -> None:
    def broken(spec: NodeSpec, inputs: dict[str, Any]) -> Any:
        raise RuntimeError("UI crashed")

    raised = await approval_executor(approval_callback=broken).execute(
        approval_graph(), GOAL, {"topic": "t"}
    )
    wrong = await approval_executor(approval_callback=lambda spec, inputs: "yes").execute(
        approval_graph(), GOAL, {"topic": "t"}
    )

    assert not raised.success
    assert raised.error == "approval_callback failed at node 'approve': RuntimeError: UI crashed"
    assert not wrong.success
    assert "returned str; return a dict" in (wrong.error or "")


async def test_human_node_without_output_keys_takes_the_resuming_input() -> None:
    g = GraphSpec(
        id="free",
        entry_node="ask",
        nodes=[node("ask", [], [], node_type=NodeType.HUMAN_INPUT)],
    )
    ex = GraphExecutor(None)

    paused = await ex.execute(g, GOAL, {"comment": "early"})
    resumed = await ex.execute(g, GOAL, {"comment": "looks good"}, paused.session_state)

    assert paused.paused_at == "ask"
    assert resumed.success
    assert resumed.output["comment"] == "looks good"
    assert resumed.path == ["ask"]


# --- hooks: where checkpoints and pause requests plug in ----------------------------------------


class RecordingExecutor(GraphExecutor):
    """Keeps a copy of the run state after every node, as a checkpointer would."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(None, retry_policy=RetryPolicy(base_delay=0), **kwargs)
        self.snapshots: list[dict[str, Any]] = []
        self.outcomes: list[NodeOutcome] = []

    async def after_node(self, graph: GraphSpec, state: RunState, outcome: NodeOutcome) -> None:
        self.snapshots.append(json.loads(json.dumps(state.to_session_state())))
        self.outcomes.append(outcome)


async def test_resuming_from_any_state_seen_by_after_node_gives_the_uninterrupted_result() -> None:
    recording = with_pipeline_functions(RecordingExecutor())
    uninterrupted = await recording.execute(pipeline(), GOAL, {"topic": "tides"})

    assert [s["resume_from"] for s in recording.snapshots] == ["review", "publish", None]
    assert [o.node_id for o in recording.outcomes] == ["draft", "review", "publish"]
    for snapshot in recording.snapshots[:-1]:
        resumed = await executor().execute(pipeline(), GOAL, session_state=snapshot)
        assert comparable(resumed) == comparable(uninterrupted)


async def test_after_node_sees_checkpoint_requests_of_the_successful_attempt() -> None:
    def work(ctx: Any) -> str:
        ctx.request_checkpoint({"attempt": ctx.attempt})
        if ctx.attempt == 1:
            raise ConnectionError("retry me")
        return "done"

    recording = RecordingExecutor()
    recording.register_function("work", work)
    g = GraphSpec(id="g", entry_node="work", nodes=[node("work", [], ["out"])])

    await recording.execute(g, GOAL)

    assert recording.outcomes[0].attempts == 2
    assert recording.outcomes[0].checkpoint_requests == [{"attempt": 2}]


async def test_before_node_can_pause_the_run_between_nodes() -> None:
    class PauseBeforePublish(GraphExecutor):
        async def before_node(self, graph: GraphSpec, state: RunState) -> str | None:
            return "operator asked to pause" if state.current_node == "publish" else None

    ex = with_pipeline_functions(PauseBeforePublish(None))

    paused = await ex.execute(pipeline(), GOAL, {"topic": "tides"})
    resumed = await executor().execute(pipeline(), GOAL, session_state=paused.session_state)

    assert paused.paused_at == "publish"
    assert paused.pause_reason == "operator asked to pause"
    assert paused.path == ["draft", "review"]
    assert resumed.output["published"] == "about tides, reviewed!"


# --- run state ---------------------------------------------------------------------------------


def test_run_state_round_trips_through_session_state() -> None:
    state = RunState(
        run_id="r1",
        memory={"a": [1, 2]},
        current_node="b",
        paused_at="a",
        pending_input={"x": 1},
        execution_path=["a"],
        visit_counts={"a": 2},
        retry_counts={"a": 1},
        steps_executed=2,
        total_tokens=10,
        total_cost=0.5,
        total_latency_ms=30,
    )

    session_state = state.to_session_state()

    assert session_state["resume_from"] == "b"
    assert set(session_state) == {
        "run_id", "memory", "paused_at", "resume_from", "execution_path", "pending_input",
        "visit_counts", "retry_counts", "steps_executed", "total_tokens", "total_cost",
        "total_latency_ms",
    }  # fmt: skip
    assert RunState.from_session_state(json.loads(json.dumps(session_state))) == state
    session_state["memory"]["a"] = "changed"
    assert state.memory == {"a": [1, 2]}


def test_malformed_session_state_names_every_bad_key() -> None:
    with pytest.raises(GraphValidationError) as caught:
        RunState.from_session_state(
            {"memory": "not a dict", "steps_executed": -1, "resume_from": 5}
        )
    problems = " ".join(caught.value.problems)
    assert caught.value.subject == "session state"
    for key in ("memory", "steps_executed", "resume_from"):
        assert key in problems
    with pytest.raises(GraphValidationError, match="expected a dict, got list"):
        RunState.from_session_state([])  # type: ignore[arg-type]
