"""A small, safe expression language for edge conditions, routes and judge rules.

Expressions are Python syntax restricted to: literals (numbers, strings, booleans, None,
lists, tuples, sets, dicts), names, subscripts (``output['score']``, ``items[0]``),
comparisons (including ``in`` / ``not in`` / ``is``), ``and`` / ``or`` / ``not``,
arithmetic (``+ - * / // %``) and ``a if cond else b``. There are no calls, no attribute
access, no comprehensions, no lambdas and no names starting with an underscore, so an
expression can read the values it is given and nothing else. Python's ``eval`` is never
used: the parsed tree is walked by :func:`_Evaluator`.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from framework.errors import ExpressionError

__all__ = ["Expression", "check_expression", "compile_expression", "evaluate"]

MAX_EXPRESSION_LENGTH = 2000
_MAX_SEQUENCE_REPEAT = 10_000

_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_UNARY = {ast.Not: operator.not_, ast.USub: operator.neg, ast.UAdd: operator.pos}
_ALLOWED = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.BinOp,
    ast.Compare,
    ast.IfExp,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Subscript,
    ast.Slice,
    ast.List,
    ast.Tuple,
    ast.Set,
    ast.Dict,
    *_COMPARE,
    *_BINARY,
    *_UNARY,
)


@dataclass(frozen=True)
class Expression:
    """A parsed, checked expression; evaluate it any number of times."""

    source: str
    tree: ast.Expression

    def evaluate(self, names: Mapping[str, Any]) -> Any:
        return _Evaluator(names, self.source).visit(self.tree.body)


def compile_expression(source: str) -> Expression:
    """Parse and check ``source``; raise :class:`ExpressionError` naming what is not allowed."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("expression is empty")
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"invalid syntax in {source!r}: {exc.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ExpressionError(f"{type(node).__name__} is not allowed in {source!r}")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ExpressionError(f"name {node.id!r} is not allowed in {source!r}")
    return Expression(source=source, tree=tree)


def check_expression(source: str) -> str | None:
    """Return the problem with ``source``, or None when it compiles."""
    try:
        compile_expression(source)
    except ExpressionError as exc:
        return str(exc)
    return None


def evaluate(source: str | Expression, names: Mapping[str, Any]) -> Any:
    """Evaluate an expression against ``names``; errors are :class:`ExpressionError`."""
    expression = source if isinstance(source, Expression) else compile_expression(source)
    return expression.evaluate(names)


class _Evaluator:
    def __init__(self, names: Mapping[str, Any], source: str) -> None:
        self.names = names
        self.source = source

    def fail(self, message: str) -> ExpressionError:
        return ExpressionError(f"{message} in {self.source!r}")

    def visit(self, node: ast.AST) -> Any:
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            raise self.fail(f"{type(node).__name__} is not allowed")
        return method(node)

    def visit_Constant(self, node: ast.Constant) -> Any:
        return node.value

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        if node.id not in self.names:
            raise self.fail(f"unknown name {node.id!r}")
        return self.names[node.id]

    def visit_Subscript(self, node: ast.Subscript) -> Any:
        container = self.visit(node.value)
        key = self.visit(node.slice)
        try:
            return container[key]
        except (KeyError, IndexError, TypeError) as exc:
            raise self.fail(f"cannot subscript with {key!r}: {type(exc).__name__}") from None

    def visit_Slice(self, node: ast.Slice) -> slice:
        parts = [None if part is None else self.visit(part) for part in (node.lower, node.upper)]
        step = None if node.step is None else self.visit(node.step)
        return slice(parts[0], parts[1], step)

    def visit_List(self, node: ast.List) -> list[Any]:
        return [self.visit(element) for element in node.elts]

    def visit_Tuple(self, node: ast.Tuple) -> tuple[Any, ...]:
        return tuple(self.visit(element) for element in node.elts)

    def visit_Set(self, node: ast.Set) -> set[Any]:
        return {self.visit(element) for element in node.elts}

    def visit_Dict(self, node: ast.Dict) -> dict[Any, Any]:
        if any(key is None for key in node.keys):
            raise self.fail("dict unpacking is not allowed")
        keys = [key for key in node.keys if key is not None]
        return {self.visit(k): self.visit(v) for k, v in zip(keys, node.values, strict=True)}

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        result: Any = None
        for value in node.values:
            result = self.visit(value)
            if isinstance(node.op, ast.And) and not result:
                return result
            if isinstance(node.op, ast.Or) and result:
                return result
        return result

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        return self.apply(_UNARY[type(node.op)], self.visit(node.operand))

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(node.op, ast.Mult):
            for seq, count in ((left, right), (right, left)):
                repeats = isinstance(seq, str | bytes | list | tuple) and isinstance(count, int)
                if repeats and count > _MAX_SEQUENCE_REPEAT:
                    raise self.fail("sequence repetition is too large")
        return self.apply(_BINARY[type(node.op)], left, right)

    def visit_Compare(self, node: ast.Compare) -> bool:
        left = self.visit(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.visit(comparator)
            if not self.apply(_COMPARE[type(op)], left, right):
                return False
            left = right
        return True

    def visit_IfExp(self, node: ast.IfExp) -> Any:
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def apply(self, func: Any, *args: Any) -> Any:
        try:
            return func(*args)
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
            raise self.fail(f"{type(exc).__name__}: {exc}") from None
