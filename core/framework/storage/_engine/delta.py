"""Deltas between two encoded JSON trees: what changed, in a form that is cheap to store.

A delta is itself a JSON tree, one of three operations:

- ``{"=": value}`` — replace the whole value;
- ``{"+": [items]}`` — the old value is a list and the new one is it plus ``items``;
- ``{"~": {key: delta, ...}, "-": [keys]}`` — the old and new values are dicts; each key in
  ``"~"`` was added or changed (its own delta), each key in ``"-"`` was removed, every other
  key is unchanged.

Trees come from :func:`framework.storage.codec.encode`, so every value is a dict with str
keys, a list or a JSON scalar; a codec type tag is just another dict key here, which keeps
this module independent of what the tags mean. :func:`apply_delta` never mutates its input:
callers keep the previous tree (a backend's write cache) while building the next one;
:func:`apply_chain` changes the tree it is given, for a chain just read from storage.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Iterable
from typing import Any

from framework.errors import CorruptCheckpointError
from framework.storage.codec import canonical_bytes

_ABSENT = object()

# Below this depth a changed dict is replaced whole: deep trees stay correct, just less compact.
_MAX_DEPTH = 32


def diff(old: Any, new: Any) -> dict[str, Any] | None:
    """The delta that turns ``old`` into ``new``, or ``None`` if they are equal."""
    return _diff(old, new, 0)


def _diff(old: Any, new: Any, depth: int) -> dict[str, Any] | None:
    # Each level is compared once: a changed tree is walked, never compared whole first.
    if old is new:
        return None
    if type(old) is dict and type(new) is dict and depth < _MAX_DEPTH:
        changed: dict[str, Any] = {}
        candidates, removed = _candidates(old, new)
        for key in candidates:
            value = new[key]
            before = old.get(key, _ABSENT)
            if before is value:
                continue  # encoding keeps the very objects of unchanged scalars
            if before is _ABSENT:
                changed[key] = {"=": value}
                continue
            sub = _diff(before, value, depth + 1)
            if sub is not None:
                changed[key] = sub
        delta: dict[str, Any] = {}
        if changed:
            delta["~"] = changed
        if removed:
            delta["-"] = removed
        return delta or None
    if type(old) is list and type(new) is list and len(new) >= len(old):
        # Encoding copies lists but keeps their scalar items, so a list that only grew
        # starts with the very same objects.
        kept = all(map(operator.is_, old, new)) or _same(old, new[: len(old)])
        if kept:
            return {"+": new[len(old) :]} if len(new) > len(old) else None
        return {"=": new}
    return None if _same(old, new) else {"=": new}


def _candidates(old: dict[str, Any], new: dict[str, Any]) -> tuple[Iterable[str], list[str]]:
    """The keys of ``new`` that may differ from ``old``, and the keys ``new`` lacks.

    When ``new`` starts with ``old``'s keys in order (a dict that grew, like visit counts),
    the candidates are only the keys whose value is another object, and the added ones —
    found in C, not key by key; otherwise every key is one.
    """
    if len(new) >= len(old) >= _POSITIONAL_FROM:
        keys = list(new)
        if keys[: len(old)] == list(old):
            moved = itertools.compress(keys, map(operator.is_not, old.values(), new.values()))
            return itertools.chain(moved, keys[len(old) :]), []
    return new, [key for key in old if key not in new]


# Below this many keys, looking at every key costs less than setting up the positional scan.
_POSITIONAL_FROM = 32


# Values of these types equal only values of the same type, so ``==`` on them is exact.
_EXACT_TYPES = frozenset({str, type(None)})
# A value of one of these types equals no value of another of them (int is not bool or
# float), so ``==`` between two collections of them is exact too.
_EXACT_ACROSS = frozenset({str, int, type(None)})


def _same(a: Any, b: Any) -> bool:
    """Equal as stored JSON: Python's ``==`` also calls 1, 1.0 and True equal, JSON does not."""
    if a is b:
        return True
    if type(a) is not type(b) or a != b:
        return False
    # ``a == b`` holds; only numbers and booleans hidden inside can still differ in type.
    if type(a) is list:
        return _exact(a, b) or all(map(_same, a, b))
    if type(a) is dict:
        return _exact(a.values(), b.values()) or all(_same(v, b[k]) for k, v in a.items())
    if type(a) is float and a == 0.0:
        return math.copysign(1.0, a) == math.copysign(1.0, b)
    return True


def _exact(a: Iterable[Any], b: Iterable[Any]) -> bool:
    """Whether two equal collections hold only values ``==`` compares exactly (checked in C)."""
    kinds = set(map(type, a))
    return kinds <= _EXACT_TYPES or (kinds <= _EXACT_ACROSS and set(map(type, b)) <= _EXACT_ACROSS)


def apply_delta(old: Any, delta: Any) -> Any:
    """Apply ``delta`` (from :func:`diff`) to ``old`` and return the new tree; ``old`` is
    left as it was.

    Raises :class:`CorruptCheckpointError` when the delta does not fit ``old`` — a record
    chain that does not belong together is corruption, never something to guess around.
    """
    return _apply(old, delta, in_place=False)


def apply_chain(tree: Any, deltas: Iterable[Any]) -> Any:
    """Apply each of ``deltas`` in turn to ``tree``, which is changed in place: for a tree
    and deltas just parsed, which nothing else holds, a long chain then costs what its
    deltas change, not a copy of the tree per delta. Errors as :func:`apply_delta`."""
    for delta in deltas:
        tree = _apply(tree, delta, in_place=True)
    return tree


def _apply(old: Any, delta: Any, *, in_place: bool) -> Any:
    if type(delta) is not dict:
        raise CorruptCheckpointError(f"malformed delta operation {type(delta).__name__}")
    if "=" in delta and len(delta) == 1:
        return delta["="]
    if "+" in delta and len(delta) == 1:
        if type(old) is not list or type(delta["+"]) is not list:
            raise CorruptCheckpointError("an append delta applies only to a list")
        if in_place:
            old.extend(delta["+"])
            return old
        return [*old, *delta["+"]]
    if type(old) is not dict or not set(delta) <= {"~", "-"}:
        raise CorruptCheckpointError("a dict delta applies only to a dict")
    result = old if in_place else dict(old)
    for key in delta.get("-", []):
        if key not in result:
            raise CorruptCheckpointError(f"a delta removes the missing key {key!r}")
        del result[key]
    for key, sub in delta.get("~", {}).items():
        if key in result:
            result[key] = _apply(result[key], sub, in_place=in_place)
        elif type(sub) is dict and set(sub) == {"="}:
            result[key] = sub["="]
        else:
            raise CorruptCheckpointError(f"a delta changes the missing key {key!r}")
    return result


def resized(old: Any, delta: Any, old_size: int) -> int:
    """The canonical size of ``apply_delta(old, delta)``, given ``old``'s: computed from the
    delta (and the parts of ``old`` it replaces), so it costs what changed, not the tree."""
    return old_size + _growth(old, delta, old_size)


def _growth(old: Any, delta: dict[str, Any], old_size: int | None = None) -> int:
    if "=" in delta:
        return _size(delta["="]) - (_size(old) if old_size is None else old_size)
    if "+" in delta:
        added = delta["+"]
        return sum(map(_size, added)) + _commas(len(old) + len(added)) - _commas(len(old))
    growth, count = 0, len(old)
    for key in delta.get("-", []):
        growth -= _size(key) + 1 + _size(old[key])
        count -= 1
    for key, sub in delta.get("~", {}).items():
        if key in old:
            growth += _growth(old[key], sub)
        else:
            growth += _size(key) + 1 + _size(sub["="])
            count += 1
    return growth + _commas(count) - _commas(len(old))


def _size(tree: Any) -> int:
    t = type(tree)
    if t is str and tree.isascii():
        raw = tree.encode("ascii")
        if b"\0" not in raw.translate(_ESCAPED):
            return len(raw) + 2  # nothing to escape: written as is, between quotes
    if t is int:
        return len(str(tree))
    if t is bool:
        return 4 if tree else 5
    if tree is None:
        return 4
    return len(canonical_bytes(tree))


# Bytes JSON writes escaped (control characters, quote, backslash) map to 0, others to 1.
_ESCAPED = bytes(0 if byte < 0x20 or byte in b'"\\' else 1 for byte in range(256))


def _commas(items: int) -> int:
    return max(items - 1, 0)
