"""The safe expression language: what it evaluates, and what it refuses."""

from __future__ import annotations

import pytest

from framework.errors import ExpressionError
from framework.graph.expressions import check_expression, compile_expression, evaluate


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("score > 5", True),
        ("score >= 7", True),
        ("score < 7", False),
        ("1 < score <= 7", True),
        ("label == 'invoice'", True),
        ("label != 'invoice'", False),
        ("'voice' in label", True),
        ("'x' not in tags", True),
        ("missing is None", True),
    ],
)
def test_comparisons(source: str, expected: bool) -> None:
    names = {"score": 7, "label": "invoice", "tags": ["a", "b"], "missing": None}
    assert evaluate(source, names) is expected


def test_boolean_logic_short_circuits_and_returns_operands() -> None:
    names = {"a": True, "b": False, "n": 0}
    assert evaluate("a and not b", names) is True
    assert evaluate("b or n", names) == 0
    assert evaluate("n or 'fallback'", names) == "fallback"
    # The right side would fail (unknown name) if it were evaluated.
    assert evaluate("b and undefined_name", names) is False
    assert evaluate("'big' if n > 3 else 'small'", names) == "small"


def test_subscripts_slices_and_arithmetic() -> None:
    names = {"output": {"score": 0.9, "items": [3, 4, 5]}, "x": 10}
    assert evaluate("output['score'] > 0.5", names) is True
    assert evaluate("output['items'][-1]", names) == 5
    assert evaluate("output['items'][1:]", names) == [4, 5]
    assert evaluate("x // 3 + x % 3 - 1", names) == 3
    assert evaluate("{'k': [1, 2]}['k'][0]", names) == 1


def test_missing_key_is_an_expression_error_naming_the_key() -> None:
    with pytest.raises(ExpressionError, match="cannot subscript with 'nope'"):
        evaluate("output['nope']", {"output": {}})


def test_unknown_name_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match="unknown name 'ghost'"):
        evaluate("ghost > 1", {})


@pytest.mark.parametrize(
    "source",
    [
        "__import__('os').system('true')",
        "open('/etc/passwd')",
        "().__class__.__bases__[0].__subclasses__()",
        "output.keys",
        "__builtins__",
        "_private",
        "lambda: 1",
        "[x for x in range(3)]",
        "{x: 1 for x in items}",
        "(y := 3)",
        "f'{secret}'",
    ],
)
def test_dangerous_constructs_are_refused_before_evaluation(source: str) -> None:
    with pytest.raises(ExpressionError):
        compile_expression(source)
    assert check_expression(source) is not None


def test_huge_sequence_repetition_is_refused() -> None:
    with pytest.raises(ExpressionError, match="repetition is too large"):
        evaluate("'a' * 100000000", {})
    with pytest.raises(ExpressionError, match="repetition is too large"):
        evaluate("n * [0]", {"n": 10**9})
    assert evaluate("'ab' * 3", {}) == "ababab"


def test_type_errors_become_expression_errors() -> None:
    with pytest.raises(ExpressionError, match="TypeError"):
        evaluate("'a' < 1", {})
    with pytest.raises(ExpressionError, match="ZeroDivisionError"):
        evaluate("1 / zero", {"zero": 0})


def test_empty_syntax_error_and_overlong_expressions_are_refused() -> None:
    assert check_expression("") == "expression is empty"
    assert "invalid syntax" in (check_expression("a >") or "")
    assert "longer than" in (check_expression("a or " * 500 + "a") or "")
    assert check_expression("score > 1 and label == 'x'") is None


def test_compiled_expression_can_be_evaluated_many_times() -> None:
    expression = compile_expression("n > 2")
    assert [expression.evaluate({"n": n}) for n in range(5)] == [False, False, False, True, True]
