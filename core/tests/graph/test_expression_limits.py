"""An expression cannot exhaust the machine: what one evaluation may build is bounded.

Every size is checked before the value is built, so a refused expression fails at once.
A part that reads no name is refused when the graph is validated, naming the edge; one
that depends on the run's values fails the run when it is evaluated, naming the edge.
"""

from __future__ import annotations

import tracemalloc

import pytest

from framework.errors import ExpressionError, GraphValidationError
from framework.graph import EdgeCondition, EdgeSpec, GraphSpec
from framework.graph.executor import GraphExecutor
from framework.graph.expressions import (
    MAX_BUILT_SIZE,
    MAX_EXPRESSION_DEPTH,
    MAX_INTEGER_BITS,
    check_expression,
    compile_expression,
    evaluate,
)
from framework.graph.goal import Goal, SuccessCriterion
from framework.graph.node import NodeSpec, NodeType
from framework.schemas.run import RunStatus

BOMB = "('a'*10000*10000*20)=='a'"
B_NODE = [NodeSpec(id="b", name="b", description="b")]


def test_the_string_bomb_of_the_issue_is_refused_before_it_is_built() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ExpressionError, match="repetition is too large") as caught:
            evaluate(BOMB, {})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f"{MAX_BUILT_SIZE:,}" in str(caught.value)
    assert peak < 10_000_000  # bytes: the 2 GB string was never started


def two_node_graph(condition: str) -> GraphSpec:
    return GraphSpec(
        id="g",
        entry_node="a",
        terminal_nodes=["b"],
        nodes=[NodeSpec(id="a", name="a", description="a", output_keys=["s"]), *B_NODE],
        edges=[
            EdgeSpec(
                id="bomb",
                source="a",
                target="b",
                condition=EdgeCondition.CONDITIONAL,
                condition_expr=condition,
            )
        ],
    )


def test_a_graph_whose_condition_builds_too_much_is_invalid_naming_the_edge() -> None:
    problems = two_node_graph(BOMB).validate()

    assert len(problems) == 1
    assert problems[0].startswith("edge 'bomb' condition: repetition is too large")


async def test_a_graph_whose_condition_builds_too_much_never_runs() -> None:
    ran: list[str] = []
    executor = GraphExecutor()
    executor.register_function("a", lambda: ran.append("a"))
    executor.register_function("b", lambda: ran.append("b"))

    with pytest.raises(GraphValidationError, match="edge 'bomb' condition: repetition"):
        await executor.execute(two_node_graph(BOMB))
    assert ran == []


def test_routes_and_goal_criteria_that_build_too_much_are_refused_naming_them() -> None:
    graph = GraphSpec(
        id="g",
        entry_node="pick",
        terminal_nodes=["b"],
        nodes=[
            NodeSpec(
                id="pick",
                name="p",
                description="p",
                node_type=NodeType.ROUTER,
                routes={"x > 1 and [0] * 2000000": "b", "default": "b"},
            ),
            *B_NODE,
        ],
    )
    goal = Goal(
        id="goal",
        name="Goal",
        description="x",
        success_criteria=[SuccessCriterion(id="huge", description="x", expression=BOMB)],
    )

    assert any(
        problem.startswith("router node 'pick' route") and "too large" in problem
        for problem in graph.validate()
    ), graph.validate()
    assert [problem.split(":")[0] for problem in goal.problems()] == [
        "goal criterion 'huge' expression"
    ]


def test_checking_refuses_only_the_sizes_of_parts_that_read_no_name() -> None:
    assert check_expression("x > 0 or 1 / 0 == 1") is None  # may never be evaluated
    assert check_expression("x * 10000 * 10000 * 20 == 'a'") is None  # depends on x
    assert "too large" in (check_expression("x == [0] * 3000 * 3000") or "")
    assert "integer result too large" in (check_expression(f"x > 2 * {'9' * 1300}") or "")


@pytest.mark.parametrize(
    "source",
    [
        "[0] * 1000 * 1000 * 1000",
        "(1, 2) * 600000",
        "[[0] * 1000] * 1001",
        "[[[0] * 100] * 100] * 100 * 100",
        "b'x' * 2000000",
        "n * 'ab'",
    ],
)
def test_repetition_of_strings_lists_and_tuples_is_bounded(source: str) -> None:
    with pytest.raises(ExpressionError, match="repetition is too large"):
        evaluate(source, {"n": MAX_BUILT_SIZE})


def test_concatenation_is_bounded() -> None:
    half = "a" * (MAX_BUILT_SIZE // 2 + 1)
    with pytest.raises(ExpressionError, match="concatenation is too large"):
        evaluate("s + s", {"s": half})
    with pytest.raises(ExpressionError, match="concatenation is too large"):
        evaluate("items + items", {"items": list(range(MAX_BUILT_SIZE // 2 + 1))})


def test_the_limit_counts_everything_one_evaluation_builds() -> None:
    # Each repetition alone is within the limit; together they are not.
    third = MAX_BUILT_SIZE // 3 + 1
    source = f"('a' * {third}) + ('b' * {third}) + ('c' * {third}) == ''"
    with pytest.raises(ExpressionError, match="more than"):
        evaluate(source, {})


def test_literals_holding_built_values_count_in_full() -> None:
    with pytest.raises(ExpressionError, match="more than"):
        evaluate("{(s, s, s)}", {"s": tuple(range(MAX_BUILT_SIZE // 2))})


def test_string_formatting_is_refused() -> None:
    with pytest.raises(ExpressionError, match="string formatting"):
        evaluate("'%0999999999d' % 1", {})


def test_big_integers_are_bounded() -> None:
    with pytest.raises(ExpressionError, match="integer"):
        evaluate("n * n * n * n * n * n * n * n * n * n * n * n * n * n * n * n > 0", {"n": 2**300})
    with pytest.raises(ExpressionError, match="integer"):
        evaluate("big * big > 0", {"big": 2 ** (MAX_INTEGER_BITS - 1)})
    with pytest.raises(ExpressionError, match="integer"):
        evaluate("big + big > 0", {"big": 2**MAX_INTEGER_BITS})
    assert evaluate("n * n == m", {"n": 2**300, "m": 2**600}) is True


@pytest.mark.parametrize("source", ["2 ** 100000000", "9 ** 9 ** 9", "1 << 100000000", "x << 64"])
def test_powers_and_shifts_are_refused_when_checked(source: str) -> None:
    with pytest.raises(ExpressionError, match="not allowed"):
        compile_expression(source)


@pytest.mark.parametrize(
    "source",
    [
        "-" * 1900 + "1",
        "+".join(["1"] * 900),
        "not " * 450 + "x",
        "[" * MAX_EXPRESSION_DEPTH + "]" * MAX_EXPRESSION_DEPTH,
    ],
)
def test_deeply_nested_expressions_are_refused_when_checked(source: str) -> None:
    with pytest.raises(ExpressionError, match="nested"):
        compile_expression(source)


def test_ordinary_expressions_still_work() -> None:
    names = {"amount": 12000, "label": "invoice", "items": [1, 2, 3], "text": "x" * 50_000}
    assert evaluate("amount > 10000 and label == 'invoice'", names) is True
    assert evaluate("'ab' * 3 + 'c'", names) == "abababc"
    assert evaluate("items + [4] == [1, 2, 3, 4]", names) is True
    assert evaluate("(amount * 3) // 2 % 7", names) == 18000 % 7
    assert evaluate("text[:3] == 'xxx' and label in ['invoice', 'contract']", names) is True
    assert evaluate("{'k': items}['k'][0]", names) == 1
    assert evaluate("1 + " * 40 + "1", {}) == 41


async def test_a_run_whose_condition_builds_too_much_fails_naming_the_edge() -> None:
    graph = two_node_graph("(s*10000*10000*20)=='a'")  # valid: how big depends on s
    assert graph.validate() == []
    executor = GraphExecutor()
    executor.register_function("a", lambda: "a")
    executor.register_function("b", lambda: None)

    result = await executor.execute(graph)

    assert not result.success and result.run_status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.startswith("edge 'bomb' condition")
    assert "repetition is too large" in result.error
    assert result.path == ["a"]


async def test_a_run_whose_route_builds_too_much_fails_naming_the_router_and_route() -> None:
    route = "s * 10000 * 10000 == 'a'"
    graph = GraphSpec(
        id="g",
        entry_node="a",
        terminal_nodes=["b"],
        nodes=[
            NodeSpec(id="a", name="a", description="a", output_keys=["s"]),
            NodeSpec(
                id="pick",
                name="p",
                description="p",
                node_type=NodeType.ROUTER,
                max_retries=0,
                routes={route: "b", "default": "b"},
            ),
            *B_NODE,
        ],
        edges=[EdgeSpec(id="a-pick", source="a", target="pick")],
    )
    executor = GraphExecutor()
    executor.register_function("a", lambda: "a")
    executor.register_function("b", lambda: None)

    result = await executor.execute(graph)

    assert not result.success and result.run_status is RunStatus.FAILED
    assert f"router 'pick' route {route!r}: repetition is too large" in (result.error or "")
    assert result.path == ["a"]
