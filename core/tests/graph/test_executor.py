"""GraphExecutor: running graphs node by node — routing, retries, failures, totals, logging."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from framework.errors import GraphValidationError
from framework.graph import EdgeCondition, EdgeSpec, GraphSpec
from framework.graph.executor import ExecutionResult, GraphExecutor, RetryPolicy
from framework.graph.goal import Goal
from framework.graph.node import NodeContext, NodeResult, NodeSpec, NodeType
from framework.llm import MockLLMProvider
from framework.schemas.run import RunStatus

GOAL = Goal(id="goal", name="Test goal", description="Exercise the executor.")
NO_WAIT = RetryPolicy(base_delay=0)


def node(
    node_id: str, inputs: list[str] | None = None, outputs: list[str] | None = None, **fields: Any
) -> NodeSpec:
    return NodeSpec(
        id=node_id,
        name=node_id,
        description=f"node {node_id}",
        input_keys=inputs or [],
        output_keys=outputs or [],
        **fields,
    )


def edge(source: str, target: str, **fields: Any) -> EdgeSpec:
    return EdgeSpec(id=f"{source}->{target}", source=source, target=target, **fields)


def graph(nodes: list[NodeSpec], edges: list[EdgeSpec], **fields: Any) -> GraphSpec:
    fields.setdefault("entry_node", nodes[0].id)
    return GraphSpec(id="g", nodes=nodes, edges=edges, **fields)


def executor(functions: dict[str, Any] | None = None, **kwargs: Any) -> GraphExecutor:
    kwargs.setdefault("retry_policy", NO_WAIT)
    runtime = kwargs.pop("runtime", None)
    built = GraphExecutor(runtime, **kwargs)
    for key, func in (functions or {}).items():
        built.register_function(key, func)
    return built


class Flaky:
    """Fails with ``error`` for the first ``failures`` calls, then returns ``value``."""

    def __init__(self, failures: int, error: Exception, value: Any = "ok") -> None:
        self.failures = failures
        self.error = error
        self.value = value
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return self.value


# --- the happy path ------------------------------------------------------------------------


async def test_linear_run_of_function_nodes_needs_no_llm() -> None:
    g = graph(
        [node("parse", ["text"], ["words"]), node("count", ["words"], ["count"])],
        [edge("parse", "count")],
    )
    ex = executor({"parse": lambda text: text.split(), "count": lambda words: len(words)})

    result = await ex.execute(g, GOAL, {"text": "a b c"})

    assert isinstance(result, ExecutionResult)
    assert result.success
    assert result.error is None
    assert result.output == {"text": "a b c", "words": ["a", "b", "c"], "count": 3}
    assert result.path == ["parse", "count"]
    assert result.steps_executed == 2
    assert result.node_visit_counts == {"parse": 1, "count": 1}
    assert result.paused_at is None
    assert result.session_state is None
    assert result.run_id


async def test_nodes_naming_one_function_share_it_and_a_function_with_a_node_id_is_ignored() -> (
    None
):
    g = graph(
        [node("a", outputs=["x"], function="shared"), node("b", outputs=["y"], function="shared")],
        [edge("a", "b")],
    )
    ex = executor({"shared": lambda: "by name", "b": lambda: "by node id"})

    result = await ex.execute(g, GOAL)

    assert result.output == {"x": "by name", "y": "by name"}


async def test_only_declared_output_keys_reach_memory() -> None:
    g = graph([node("a", outputs=["keep"])], [])

    async def returns_result() -> NodeResult:
        return NodeResult(success=True, output={"keep": 1, "drop": 2})

    result = await executor({"a": returns_result}).execute(g, GOAL)

    assert result.output == {"keep": 1}


async def test_node_writing_memory_outside_its_output_keys_fails() -> None:
    def sneaky(ctx: NodeContext) -> str:
        ctx.memory.write("not_mine", 1)
        return "done"

    g = graph([node("a", outputs=["mine"], max_retries=0)], [])
    result = await executor({"a": sneaky}).execute(g, GOAL)

    assert not result.success
    assert "MemoryAccessError: may not write memory key 'not_mine'" in (result.error or "")


async def test_inputs_come_from_the_edge_mapping_before_memory() -> None:
    seen: dict[str, Any] = {}

    def consume(text: str, lang: str) -> str:
        seen.update(text=text, lang=lang)
        return "ok"

    g = graph(
        [node("produce", outputs=["summary"]), node("consume", ["text", "lang"], ["done"])],
        [edge("produce", "consume", input_mapping={"text": "summary"})],
    )
    ex = executor({"produce": lambda: "short", "consume": consume})

    result = await ex.execute(g, GOAL, {"lang": "en", "text": "memory value loses"})

    assert result.success
    assert seen == {"text": "short", "lang": "en"}


async def test_node_context_carries_run_goal_llm_and_a_scoped_memory_view() -> None:
    seen: dict[str, Any] = {}

    def look(ctx: NodeContext, a: int) -> int:
        seen.update(run_id=ctx.run_id, goal=ctx.goal, llm=ctx.llm, attempt=ctx.attempt)
        seen["readable"] = ctx.memory.read_all()
        return a

    llm = MockLLMProvider(["unused"])
    g = graph([node("a", ["a"], ["b"])], [])
    result = await executor({"a": look}, llm=llm).execute(g, GOAL, {"a": 1, "hidden": 2})

    assert seen == {
        "run_id": result.run_id,
        "goal": GOAL,
        "llm": llm,
        "attempt": 1,
        "readable": {"a": 1},
    }


# --- retries ---------------------------------------------------------------------------------


async def test_failing_node_is_retried_then_succeeds(recorder: Any) -> None:
    flaky = Flaky(2, ConnectionError("reset by peer"))
    g = graph([node("fetch", outputs=["page"], max_retries=3)], [])

    result = await executor({"fetch": flaky}, runtime=recorder).execute(g, GOAL)

    assert result.success
    assert result.output == {"page": "ok"}
    assert flaky.calls == 3
    warnings = [p for p in recorder.of("report_problem") if p["severity"] == "warning"]
    assert [p["description"] for p in warnings] == [
        "attempt 1 of node 'fetch' failed: ConnectionError: reset by peer",
        "attempt 2 of node 'fetch' failed: ConnectionError: reset by peer",
    ]


async def test_failing_node_is_retried_then_fails_the_run_never_success() -> None:
    flaky = Flaky(99, ValueError("bad input"))
    g = graph(
        [node("ok", outputs=["x"]), node("fetch", outputs=["page"], max_retries=2)],
        [edge("ok", "fetch")],
    )

    result = await executor({"ok": lambda: 1, "fetch": flaky}).execute(g, GOAL)

    assert result.success is False
    assert result.error == "node 'fetch' failed after 3 attempts: ValueError: bad input"
    assert flaky.calls == 3
    assert result.path == ["ok"]
    assert result.output == {
        "x": 1,
        "last_error": {"node_id": "fetch", "error": "ValueError: bad input", "attempts": 3},
    }
    assert result.session_state is None


async def test_retry_on_limits_retries_to_matching_type_names_or_message_fragments() -> None:
    not_listed = Flaky(99, ValueError("bad input"))
    by_type = Flaky(1, TimeoutError("slow"))
    by_fragment = Flaky(1, RuntimeError("429: rate limit hit"))
    retry_on = ["TimeoutError", "rate limit"]
    ex = executor({"a": not_listed, "b": by_type, "c": by_fragment})

    results = [
        await ex.execute(graph([node(n, outputs=["out"], retry_on=retry_on)], []), GOAL)
        for n in ("a", "b", "c")
    ]

    assert [r.success for r in results] == [False, True, True]
    assert results[0].error == "node 'a' failed after 1 attempts: ValueError: bad input"
    assert (not_listed.calls, by_type.calls, by_fragment.calls) == (1, 2, 2)


async def test_failed_node_result_without_exception_is_retried_by_message() -> None:
    attempts: list[int] = []

    def sometimes(ctx: NodeContext) -> NodeResult:
        attempts.append(ctx.attempt)
        if ctx.attempt == 1:
            return NodeResult(success=False, error="quota exceeded, try later")
        return NodeResult(success=True, output={"out": ctx.attempt})

    g = graph([node("a", outputs=["out"], retry_on=["quota"])], [])
    result = await executor({"a": sometimes}).execute(g, GOAL)

    assert result.output == {"out": 2}
    assert attempts == [1, 2]


async def test_backoff_waits_grow_exponentially_up_to_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(anyio, "sleep", fake_sleep)
    policy = RetryPolicy(base_delay=1.0, factor=3.0, max_delay=5.0)
    g = graph([node("a", outputs=["out"], max_retries=3)], [])

    result = await executor({"a": Flaky(99, OSError("down"))}, retry_policy=policy).execute(g, GOAL)

    assert not result.success
    assert waits == [1.0, 3.0, 5.0]
    assert RetryPolicy().delay(1) == 0.5
    assert RetryPolicy().delay(3) == 2.0
    assert RetryPolicy().delay(20) == 30.0


# --- failure handling ---------------------------------------------------------------------------


async def test_on_failure_edge_turns_a_failure_into_a_handled_branch() -> None:
    g = graph(
        [
            node("charge", outputs=["receipt"], max_retries=1),
            node("apologise", ["reason"], ["message"]),
            node("thank", outputs=["message"]),
        ],
        [
            edge("charge", "thank"),
            edge(
                "charge",
                "apologise",
                condition=EdgeCondition.ON_FAILURE,
                input_mapping={"reason": "error"},
            ),
        ],
    )
    ex = executor(
        {
            "charge": Flaky(99, RuntimeError("card declined")),
            "apologise": lambda reason: f"sorry: {reason}",
            "thank": lambda: "thanks",
        }
    )

    result = await ex.execute(g, GOAL)

    assert result.success
    assert result.path == ["apologise"]
    assert result.output["message"] == "sorry: RuntimeError: card declined"
    assert result.output["last_error"] == {
        "node_id": "charge",
        "error": "RuntimeError: card declined",
        "attempts": 2,
    }
    assert result.node_visit_counts == {"charge": 1, "apologise": 1}


async def test_custom_node_returning_something_else_than_a_node_result_fails() -> None:
    class Broken:
        async def execute(self, ctx: NodeContext) -> Any:
            return {"not": "a NodeResult"}

    g = graph([node("a", max_retries=0)], [])
    result = await executor(node_registry={"a": Broken()}).execute(g, GOAL)

    assert not result.success
    assert (
        result.error
        == "node 'a' failed after 1 attempts: TypeError: execute() returned dict, not NodeResult"
    )


async def test_max_steps_stops_an_endless_loop_as_a_failure() -> None:
    g = graph([node("spin", outputs=["n"])], [edge("spin", "spin")], max_steps=3)
    counter = iter(range(100))

    result = await executor({"spin": lambda: next(counter)}).execute(g, GOAL)

    assert result.success is False
    assert result.error == "max_steps (3) exceeded at node 'spin'"
    assert result.steps_executed == 3
    assert result.node_visit_counts == {"spin": 3}


# --- routing ---------------------------------------------------------------------------------


def scored_graph(**fields: Any) -> GraphSpec:
    return graph(
        [node("score", outputs=["score"]), node("high"), node("mid"), node("low")],
        [
            edge("score", "low", priority=0),
            edge(
                "score",
                "high",
                condition=EdgeCondition.CONDITIONAL,
                condition_expr="score > 8",
                priority=10,
            ),
            edge(
                "score",
                "mid",
                condition=EdgeCondition.CONDITIONAL,
                condition_expr="output['score'] > 4",
                priority=5,
            ),
        ],
        **fields,
    )


@pytest.mark.parametrize(("score", "branch"), [(9, "high"), (5, "mid"), (1, "low")])
async def test_conditional_edges_are_tried_by_priority(score: int, branch: str) -> None:
    functions = {
        "score": lambda: score,
        "high": lambda: None,
        "mid": lambda: None,
        "low": lambda: None,
    }

    result = await executor(functions).execute(scored_graph(), GOAL)

    assert result.path == ["score", branch]


async def test_no_matching_edge_fails_the_run() -> None:
    g = graph(
        [node("a", outputs=["n"]), node("b")],
        [edge("a", "b", condition=EdgeCondition.CONDITIONAL, condition_expr="n > 100")],
    )
    result = await executor({"a": lambda: 1, "b": lambda: None}).execute(g, GOAL)

    assert not result.success
    assert (result.error or "").startswith("node 'a' is a dead end: none of its edges matched")
    assert result.path == ["a"]


async def test_edge_condition_that_cannot_be_evaluated_fails_the_run() -> None:
    g = graph(
        [node("a", outputs=["n"]), node("b")],
        [edge("a", "b", condition=EdgeCondition.CONDITIONAL, condition_expr="missing > 1")],
    )
    result = await executor({"a": lambda: 1, "b": lambda: None}).execute(g, GOAL)

    assert not result.success
    assert "edge 'a->b' condition failed: unknown name 'missing'" in (result.error or "")


async def test_terminal_node_ends_the_run_even_with_outgoing_edges() -> None:
    g = graph([node("a"), node("b")], [edge("a", "b")], terminal_nodes=["a", "b"])
    result = await executor({"a": lambda: None, "b": lambda: None}).execute(g, GOAL)

    assert result.success
    assert result.path == ["a"]


async def test_node_with_only_failure_edges_completes_the_run_on_success() -> None:
    g = graph(
        [node("a"), node("handler")],
        [edge("a", "handler", condition=EdgeCondition.ON_FAILURE)],
    )
    result = await executor({"a": lambda: None, "handler": lambda: None}).execute(g, GOAL)

    assert result.success
    assert result.path == ["a"]


async def test_router_choice_wins_over_edges_and_gets_its_edge_input_mapping() -> None:
    g = graph(
        [
            node(
                "classify",
                ["doc"],
                ["kind"],
                node_type=NodeType.ROUTER,
                function="classify",
                routes={"invoice": "pay", "other": "file"},
            ),
            node("pay", ["amount"], ["paid"]),
            node("file", outputs=["filed"]),
        ],
        [
            edge("classify", "file", priority=99),
            edge("classify", "pay", input_mapping={"amount": "doc"}),
        ],
    )
    ex = executor(
        {
            "classify": lambda doc: "invoice" if doc > 0 else "other",
            "pay": lambda amount: amount,
            "file": lambda: True,
        }
    )

    result = await ex.execute(g, GOAL, {"doc": 42})

    assert result.path == ["classify", "pay"]
    assert result.output["kind"] == "invoice"
    assert result.output["paid"] == 42


async def test_node_choosing_a_next_node_outside_the_graph_fails_the_run() -> None:
    class Wanderer:
        async def execute(self, ctx: NodeContext) -> NodeResult:
            return NodeResult(success=True, next_node="ghost")

    g = graph([node("a")], [])
    result = await executor(node_registry={"a": Wanderer()}).execute(g, GOAL)

    assert not result.success
    assert result.error == "node 'a' chose next node 'ghost', not in graph"


async def test_llm_decide_edges_ask_the_llm_yes_or_no_and_count_its_tokens() -> None:
    llm = MockLLMProvider(["No.", "Yes, it is urgent."])
    g = graph(
        [node("triage", outputs=["note"]), node("page_oncall"), node("email"), node("ignore")],
        [
            edge(
                "triage",
                "email",
                condition=EdgeCondition.LLM_DECIDE,
                description="a human should read it",
                priority=2,
            ),
            edge(
                "triage",
                "page_oncall",
                condition=EdgeCondition.LLM_DECIDE,
                description="it is urgent",
                priority=1,
            ),
            edge("triage", "ignore"),
        ],
    )
    functions = {
        "triage": lambda: "db down",
        "page_oncall": lambda: None,
        "email": lambda: None,
        "ignore": lambda: None,
    }

    result = await executor(functions, llm=llm).execute(g, GOAL)

    assert result.path == ["triage", "page_oncall"]
    assert "a human should read it" in llm.calls[0].prompt
    assert "db down" in llm.calls[0].prompt
    assert result.total_tokens > 0


async def test_llm_nodes_run_with_the_configured_llm() -> None:
    llm = MockLLMProvider(['{"title": "Outage", "severity": "high"}'])
    g = graph(
        [
            node(
                "extract",
                ["report"],
                ["title", "severity"],
                node_type=NodeType.LLM_GENERATE,
                prompt_template="Extract from: {report}",
            )
        ],
        [],
    )

    result = await executor(llm=llm).execute(g, GOAL, {"report": "db down"})

    assert result.success
    assert result.output["title"] == "Outage"
    assert result.output["severity"] == "high"
    assert llm.calls[0].prompt == "Extract from: db down"


# --- totals and the decision log ---------------------------------------------------------------


async def test_tokens_cost_and_latency_are_summed_over_nodes_and_failed_attempts() -> None:
    def costly(tokens: int, ok: bool = True) -> Any:
        def run() -> NodeResult:
            return NodeResult(
                success=ok,
                output={},
                error=None if ok else "no",
                tokens_used=tokens,
                cost=tokens / 100,
                latency_ms=tokens,
            )

        return run

    failing_once = iter([costly(7, ok=False), costly(5)])
    g = graph([node("a"), node("b", max_retries=1)], [edge("a", "b")])
    ex = executor({"a": costly(10), "b": lambda: next(failing_once)()})

    result = await ex.execute(g, GOAL)

    assert result.success
    assert result.total_tokens == 10 + 7 + 5
    assert result.total_cost == pytest.approx(0.22)
    assert result.total_latency_ms == 22


async def test_runtime_gets_a_decision_and_outcome_per_node_and_the_run_end(recorder: Any) -> None:
    g = graph([node("a", outputs=["x"]), node("b", outputs=["y"])], [edge("a", "b")])
    ex = executor({"a": lambda: 1, "b": lambda: 2}, runtime=recorder)

    result = await ex.execute(g, GOAL, {"seed": 0})

    assert result.run_id == "run-1"
    assert recorder.methods() == [
        "start_run",
        "decide",
        "record_outcome",
        "decide",
        "record_outcome",
        "end_run",
    ]
    start = recorder.of("start_run")[0]
    assert (start["goal_id"], start["goal_description"], start["input_data"]) == (
        "goal",
        "Exercise the executor.",
        {"seed": 0},
    )
    decisions = recorder.of("decide")
    assert [d["chosen"] for d in decisions] == ["a", "b"]
    assert all(d["intent"] == "execute node" for d in decisions)
    assert decisions[0]["reasoning"] == "entry node"
    assert decisions[1]["reasoning"] == "edge 'a->b' (always) from 'a'"
    outcomes = recorder.of("record_outcome")
    assert [o["decision_id"] for o in outcomes] == ["decision-1", "decision-2"]
    assert [o["result"] for o in outcomes] == [{"x": 1}, {"y": 2}]
    assert recorder.of("end_run") == [
        {
            "run_id": "run-1",
            "success": True,
            "narrative": "completed after 2 steps",
            "output_data": result.output,
            "status": RunStatus.COMPLETED,
        }
    ]


async def test_runtime_hears_about_a_failed_run(recorder: Any) -> None:
    g = graph([node("a", max_retries=0)], [])
    result = await executor({"a": Flaky(9, KeyError("k"))}, runtime=recorder).execute(g, GOAL)

    assert recorder.of("report_problem") == [
        {"run_id": "run-1", "severity": "error", "description": result.error, "node_id": "a"}
    ]
    assert recorder.of("end_run")[0]["success"] is False
    assert recorder.of("record_outcome")[0]["success"] is False


async def test_async_runtime_methods_are_awaited() -> None:
    events: list[str] = []

    class AsyncRecorder:
        async def start_run(
            self, goal_id: str, goal_description: str = "", input_data: Any = None
        ) -> str:
            events.append("start")
            return "async-run"

        async def decide(self, run_id: str, **kwargs: Any) -> str:
            return "d"

        async def record_outcome(self, run_id: str, decision_id: str, **kwargs: Any) -> None:
            events.append(decision_id)

        async def report_problem(self, run_id: str, **kwargs: Any) -> None:
            events.append("problem")

        async def end_run(self, run_id: str, **kwargs: Any) -> None:
            events.append(f"end {run_id}")

    result = await executor({"a": lambda: None}, runtime=AsyncRecorder()).execute(
        graph([node("a")], []), GOAL
    )

    assert result.run_id == "async-run"
    assert events == ["start", "d", "end async-run"]


# --- validation -------------------------------------------------------------------------------


async def test_invalid_graph_raises_one_error_listing_every_problem() -> None:
    g = graph(
        [
            node("fn", function="not_registered"),
            node("bare"),
            node("writer", node_type=NodeType.LLM_GENERATE),
            node(
                "picker",
                node_type=NodeType.ROUTER,
                function="pick",
                routes={"a": "fn", "b": "missing"},
            ),
            node(
                "asker",
                node_type=NodeType.ROUTER,
                system_prompt="Choose.",
                routes={"Yes please": "fn", "default": "bare"},
            ),
        ],
        [edge("fn", "bare", condition=EdgeCondition.LLM_DECIDE)],
    )

    with pytest.raises(GraphValidationError) as caught:
        await executor().execute(g, GOAL)

    problems = caught.value.problems
    assert problems == [
        "router node 'picker' route 'b' -> missing 'missing'",
        "function node 'fn' has no function; register one as 'not_registered'",
        "function node 'bare' has no function; register one as 'bare'",
        "llm_generate node 'writer' needs an LLM; pass llm=..., or for an agent folder add an "
        '"llm" section to agent.json or give --provider/--model',
        "router node 'picker' function 'pick' is not registered",
        "router node 'asker' has a system_prompt but no LLM is configured, and its route "
        "invalid syntax in 'Yes please': invalid syntax",
        "edge 'fn->bare' is llm_decide but no LLM is configured; pass llm=...",
    ]
    assert str(caught.value).startswith("invalid graph: router node 'picker'")


async def test_validation_happens_before_anything_runs(recorder: Any) -> None:
    ran: list[str] = []
    g = graph([node("a"), node("b")], [edge("a", "b")])

    with pytest.raises(GraphValidationError, match="function node 'b' has no function"):
        await executor({"a": lambda: ran.append("a")}, runtime=recorder).execute(g, GOAL)

    assert ran == []
    assert recorder.calls == []


async def test_registered_node_implementation_needs_no_function() -> None:
    class Constant:
        async def execute(self, ctx: NodeContext) -> NodeResult:
            return NodeResult(success=True, output={"answer": 42})

    ex = executor()
    ex.register_node("a", Constant())
    result = await ex.execute(graph([node("a", outputs=["answer"])], []), GOAL)

    assert ex.validate(graph([node("a")], [])) == []
    assert result.output == {"answer": 42}


async def test_register_function_refuses_non_callables() -> None:
    with pytest.raises(TypeError, match="needs a callable"):
        executor().register_function("a", "not callable")  # type: ignore[arg-type]


async def test_one_executor_runs_several_graphs_concurrently() -> None:
    async def slow(n: int) -> int:
        await anyio.sleep(0.01)
        return n * 10

    ex = executor({"a": slow})
    g = graph([node("a", ["n"], ["out"])], [])
    results: dict[int, Any] = {}

    async def run(n: int) -> None:
        results[n] = await ex.execute(g, GOAL, {"n": n})

    async with anyio.create_task_group() as tg:
        for n in range(5):
            tg.start_soon(run, n)

    assert {n: r.output["out"] for n, r in results.items()} == {n: n * 10 for n in range(5)}
    assert len({r.run_id for r in results.values()}) == 5
