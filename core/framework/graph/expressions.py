"""A small, safe expression language for edge conditions, routes and judge rules.

Expressions are Python syntax restricted to: literals (numbers, strings, booleans, None,
lists, tuples, sets, dicts), names, subscripts (``output['score']``, ``items[0]``),
comparisons (including ``in`` / ``not in`` / ``is``), ``and`` / ``or`` / ``not``,
arithmetic (``+ - * / // %``) and ``a if cond else b``. There are no calls, no attribute
access, no comprehensions, no lambdas and no names starting with an underscore, so an
expression can read the values it is given and nothing else. Python's ``eval`` is never
used: the parsed tree is walked by :func:`_Evaluator`.

Nor can an expression exhaust the machine. Checking refuses sources longer than
:data:`MAX_EXPRESSION_LENGTH` and trees nested deeper than :data:`MAX_EXPRESSION_DEPTH`;
evaluating refuses, before building it, any value that would take one evaluation past
:data:`MAX_BUILT_SIZE` (repetition, concatenation, slices and literals all count) and any
integer result above :data:`MAX_INTEGER_BITS`. Checking evaluates the parts that read no
name under the same limits, so ``('a' * 10000 * 10000) == 'a'`` is refused when a graph is
validated, not first when a run reaches it. ``**``, shifts, calls and ``%`` string
formatting are not part of the language at all.
"""

from __future__ import annotations

import ast
import functools
import operator
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from framework.errors import ExpressionError

__all__ = [
    "MAX_BUILT_SIZE",
    "MAX_EXPRESSION_DEPTH",
    "MAX_EXPRESSION_LENGTH",
    "MAX_INTEGER_BITS",
    "Expression",
    "check_expression",
    "compile_expression",
    "evaluate",
]

MAX_EXPRESSION_LENGTH = 2000
"""The longest source an expression may have, in characters."""
MAX_EXPRESSION_DEPTH = 100
"""How deeply the parsed tree may nest (``1 + 1 + ... + 1`` nests once per ``+``); deeper
trees are refused when checked, so evaluating one never exhausts the stack."""
MAX_BUILT_SIZE = 1_000_000
"""The most one evaluation may build, summed over every string, bytes, list, tuple, set
and dict it creates (by repetition, concatenation, slicing or a literal): characters of
strings and bytes plus elements of containers, the contents of nested containers counted
in full (so ``[[0] * 1000] * 1000`` counts a million). Values given to the expression cost
nothing until they are copied into one it builds."""
MAX_INTEGER_BITS = 4096
"""The largest integer an arithmetic operation may produce, in bits (about 1,233 decimal
digits)."""
_SEQUENCES = (str, bytes, list, tuple)
_CONSTANT_NAMES = ("True", "False", "None")
_SCOPE_NAMES = ("output", "memory")
_T = TypeVar("_T")

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

    @property
    def is_constant(self) -> bool:
        """Whether it reads no name: every evaluation gives the same value."""
        return not any(
            isinstance(node, ast.Name) and node.id not in _CONSTANT_NAMES
            for node in ast.walk(self.tree)
        )

    def names(self) -> list[str]:
        """The names it reads and the constant keys it reads from ``output`` or ``memory``
        (``memory['k']`` reads ``k``), each once, in the order they appear."""
        found: list[tuple[int, str]] = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Name) and node.id not in _CONSTANT_NAMES:
                found.append((node.col_offset, node.id))
            if (
                isinstance(node, ast.Subscript)
                and isinstance(node.value, ast.Name)
                and node.value.id in _SCOPE_NAMES
                and isinstance(node.slice, ast.Constant)
                and isinstance(node.slice.value, str)
            ):
                found.append((node.slice.col_offset, node.slice.value))
        ordered = dict.fromkeys(name for _, name in sorted(found))
        return [name for name in ordered if name not in _SCOPE_NAMES]


def compile_expression(source: str) -> Expression:
    """Parse and check ``source``; raise :class:`ExpressionError` naming what is not allowed.

    A source compiles once per process (the last few thousand are kept): a run evaluates
    the same conditions at every step, and checking one costs more than evaluating it.
    """
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("expression is empty")
    return _compiled(source)


@functools.lru_cache(maxsize=4096)
def _compiled(source: str) -> Expression:
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"invalid syntax in {source!r}: {exc.msg}") from None
    if _depth(tree) > MAX_EXPRESSION_DEPTH:
        raise ExpressionError(
            f"expression nested deeper than {MAX_EXPRESSION_DEPTH} levels in {source!r}"
        )
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ExpressionError(f"{type(node).__name__} is not allowed in {source!r}")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ExpressionError(f"name {node.id!r} is not allowed in {source!r}")
    _check_constant_parts(tree, source)
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


def _check_constant_parts(tree: ast.Expression, source: str) -> None:
    """Refuse ``source`` if a part of it that reads no name builds more than allowed.

    Such a part is the same in every evaluation, so it is evaluated once here, under the
    same limits and against one budget for all of them (cheap, since the limits bound it);
    other failures of it (``1 / 0`` in a branch that may never be taken) are left to
    evaluation.
    """
    evaluator = _Evaluator({}, source)
    for part in _constant_parts(tree):
        try:
            evaluator.visit(part)
        except ExpressionError:
            if evaluator.over_limit:
                raise


def _constant_parts(tree: ast.Expression) -> list[ast.expr]:
    """The largest sub-expressions of ``tree`` that read no name, constants left out."""
    parts: list[ast.expr] = []
    stack: list[ast.expr] = [tree.body]
    while stack:
        node = stack.pop()
        reads = any(
            isinstance(inner, ast.Name) and inner.id not in _CONSTANT_NAMES
            for inner in ast.walk(node)
        )
        if not reads:
            if not isinstance(node, ast.Constant | ast.Name):
                parts.append(node)
            continue
        stack.extend(child for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr))
    return parts


class _Evaluator:
    """Walks a checked tree; ``budget`` is what this evaluation may still build, and
    ``over_limit`` tells whether it failed by going past a limit."""

    def __init__(self, names: Mapping[str, Any], source: str) -> None:
        self.names = names
        self.source = source
        self.budget = MAX_BUILT_SIZE
        self.over_limit = False

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
            value = container[key]
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            shown = reprlib.repr(key)
            raise self.fail(f"cannot subscript with {shown}: {type(exc).__name__}") from None
        if isinstance(key, slice):
            self.charge("slice", _size(value, self.budget + 1))
        return value

    def visit_Slice(self, node: ast.Slice) -> slice:
        parts = [None if part is None else self.visit(part) for part in (node.lower, node.upper)]
        step = None if node.step is None else self.visit(node.step)
        return slice(parts[0], parts[1], step)

    def visit_List(self, node: ast.List) -> list[Any]:
        return self.built("list", [self.visit(element) for element in node.elts])

    def visit_Tuple(self, node: ast.Tuple) -> tuple[Any, ...]:
        return self.built("tuple", tuple(self.visit(element) for element in node.elts))

    def visit_Set(self, node: ast.Set) -> set[Any]:
        elements = [self.visit(element) for element in node.elts]
        self.charge("set", _size(elements, self.budget + 1))  # before hashing them
        built: set[Any] = self.apply(set, elements)
        return built

    def visit_Dict(self, node: ast.Dict) -> dict[Any, Any]:
        if any(key is None for key in node.keys):
            raise self.fail("dict unpacking is not allowed")
        keys = [key for key in node.keys if key is not None]
        pairs = [(self.visit(k), self.visit(v)) for k, v in zip(keys, node.values, strict=True)]
        self.charge("dict", _size(pairs, self.budget + 1))
        built: dict[Any, Any] = self.apply(dict, pairs)
        return built

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
        self.check_growth(node.op, left, right)
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

    def check_growth(self, op: ast.operator, left: Any, right: Any) -> None:
        """Refuse, before computing it, a result of ``left op right`` that is too large."""
        if isinstance(op, ast.Mod) and isinstance(left, str | bytes):
            raise self.fail("string formatting with % is not allowed")
        if isinstance(left, int) and isinstance(right, int):
            self.check_integer(op, left, right)
        elif isinstance(op, ast.Mult):
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, _SEQUENCES) and isinstance(count, int):
                    self.check_repetition(seq, count)
        elif isinstance(op, ast.Add) and isinstance(left, _SEQUENCES) and type(left) is type(right):
            size = _size(left, self.budget + 1) + _size(right, self.budget + 1)
            self.charge("concatenation", size)

    def check_repetition(self, seq: Any, count: int) -> None:
        if count <= 0 or not seq:
            return
        if count > self.budget:
            raise self.too_large("repetition", count)
        self.charge("repetition", _size(seq, self.budget // count + 1) * count)

    def check_integer(self, op: ast.operator, left: int, right: int) -> None:
        bits = max(left.bit_length(), right.bit_length())
        if isinstance(op, ast.Mult):
            bits = left.bit_length() + right.bit_length()
        elif isinstance(op, ast.Add | ast.Sub):
            bits += 1
        if bits > MAX_INTEGER_BITS:
            self.over_limit = True
            raise self.fail(
                f"integer result too large: it would have up to {bits:,} bits, more than the "
                f"limit of {MAX_INTEGER_BITS:,}"
            )

    def charge(self, what: str, size: int) -> None:
        """Count ``size`` against what this evaluation may build, or refuse it."""
        if size > self.budget:
            raise self.too_large(what, size)
        self.budget -= size

    def too_large(self, what: str, size: int) -> ExpressionError:
        self.over_limit = True
        return self.fail(
            f"{what} is too large: it would build {size:,} or more characters or elements, "
            f"more than the {MAX_BUILT_SIZE:,} one expression may build"
        )

    def built(self, what: str, value: _T) -> _T:
        self.charge(what, _size(value, self.budget + 1))
        return value

    def apply(self, func: Any, *args: Any) -> Any:
        try:
            return func(*args)
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
            raise self.fail(f"{type(exc).__name__}: {exc}") from None


def _size(value: Any, cap: int) -> int:
    """The size of ``value`` as :data:`MAX_BUILT_SIZE` counts it, counting stopped past ``cap``.

    Walked with an explicit stack, and at most ``cap`` elements deep into it, so measuring
    a value costs no more than the limit it is measured against, however it nests.
    """
    total = 0
    stack = [value]
    while stack and total <= cap:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item)
            if total <= cap:  # else counting is over: never copy a huge given list
                stack.extend(item)
        elif isinstance(item, dict):
            total += 2 * len(item)
            if total <= cap:
                stack.extend(item.keys())
                stack.extend(item.values())
    return total


def _depth(tree: ast.AST) -> int:
    """How deeply ``tree`` nests, found without recursion."""
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest
