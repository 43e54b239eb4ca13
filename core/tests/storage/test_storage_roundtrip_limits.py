"""What saves, loads, on every backend: a value either comes back equal or is refused at save.

Random values are nested around the codec's depth limit (and far past it), mixing lists,
tuples, dicts, dicts with non-str keys, sets, frozensets, models, dataclasses and scalars
(long ints too). Each is saved as a full record (the first checkpoint of a run) and as
deltas (added to a run, then changed at its innermost leaf, which makes the delta descend
as deep as deltas go); every stored checkpoint must load back exactly, and a refused save
must name the key and leave the run's stored checkpoints as they were.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from framework.errors import CheckpointEncodeError
from framework.storage.backend import StorageBackend
from framework.storage.codec import MAX_DEPTH, register_type
from framework.testing.values import assert_exact, make_checkpoint


@register_type(name="tests.storage.limits.Box")
class Box(BaseModel):
    item: Any
    note: str = ""


@register_type(name="tests.storage.limits.Cell")
@dataclass(frozen=True)
class Cell:
    item: Any
    other: Any = None


hashable_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**630, max_value=10**660)
    | st.floats(allow_nan=False)
    | st.text(max_size=4)
    | st.binary(max_size=4)
)
siblings = st.lists(hashable_scalars, max_size=2)

Wrap = Callable[[Any, list[Any]], Any]
# name: (wraps an inner value with some siblings, JSON levels it takes, needs a hashable inner,
# gives a hashable value when the inner one is)
WRAPPERS: dict[str, tuple[Wrap, int, bool, bool]] = {
    "list": (lambda inner, sib: [*sib, inner], 1, False, False),
    "tuple": (lambda inner, sib: (inner, *sib), 2, False, True),
    "dict": (
        lambda inner, sib: {"k": inner, **{f"s{i}": s for i, s in enumerate(sib)}},
        1,
        False,
        False,
    ),
    "int-keyed dict": (lambda inner, sib: {0: inner, **dict(enumerate(sib, 1))}, 3, False, False),
    "as a key": (lambda inner, sib: {inner: sib}, 3, True, False),
    "set": (lambda inner, sib: {inner, *sib}, 2, True, False),
    "frozenset": (lambda inner, sib: frozenset({inner, *sib}), 2, True, True),
    "model": (lambda inner, sib: Box(item=inner, note=str(sib)), 2, False, False),
    "dataclass": (lambda inner, sib: Cell(inner, tuple(sib)), 2, False, True),
}


@dataclass
class Nested:
    """A value built around a leaf, and the same value with another leaf."""

    value: Any
    changed: Any
    levels: int


@st.composite
def nested_values(draw: st.DrawFn) -> Nested:
    """A spine of wrappers around a scalar, about ``target`` JSON levels deep.

    The spine repeats a short pattern of wrappers (one kind, or a mix), each with siblings
    from a small pool, so that even a spine of hundreds of levels is cheap to draw.
    """
    near, below, far = (
        (MAX_DEPTH - 8, MAX_DEPTH + 4),
        (1, MAX_DEPTH),
        (2 * MAX_DEPTH, 5 * MAX_DEPTH),
    )
    target = draw(st.integers(*draw(st.sampled_from([near, below, far]))))
    pattern = draw(st.lists(st.sampled_from(sorted(WRAPPERS)), min_size=1, max_size=5))
    pool = draw(st.lists(siblings, min_size=1, max_size=3))
    leaf, other_leaf = draw(hashable_scalars), draw(hashable_scalars)
    layers: list[tuple[Wrap, list[Any]]] = []
    levels, hashable = 1, True  # the memory dict holding the value is one level
    for name, sib in zip(itertools.cycle(pattern), itertools.cycle(pool)):
        if levels >= target:
            break
        wrap, cost, needs_hashable, keeps_hashable = WRAPPERS[name]
        if needs_hashable and not hashable:
            wrap, cost, _, keeps_hashable = WRAPPERS["list"]
        layers.append((wrap, sib))
        levels, hashable = levels + cost, hashable and keeps_hashable
    return Nested(_build(leaf, layers), _build(other_leaf, layers), levels)


def _build(leaf: Any, layers: list[tuple[Wrap, list[Any]]]) -> Any:
    value = leaf
    for wrap, sib in layers:
        value = wrap(value, sib)
    return value


_run_ids = itertools.count()
_PYTHON_DEFAULT_RECURSION_LIMIT = 1000


@contextmanager
def _default_recursion_limit() -> Iterator[None]:
    """Python's default recursion limit, as a process saving and loading has it.

    Hypothesis raises the limit while it runs a test, which would hide a value that a
    real process cannot decode.
    """
    raised = sys.getrecursionlimit()
    sys.setrecursionlimit(_PYTHON_DEFAULT_RECURSION_LIMIT)
    try:
        yield
    finally:
        sys.setrecursionlimit(raised)


def _saved(storage: StorageBackend, run_id: str, seq: int, memory: dict[str, Any]) -> bool:
    """Save; ``False`` if refused, after checking the refusal names the key and stores nothing."""
    before = storage.list_checkpoints(run_id)
    try:
        storage.save_checkpoint(make_checkpoint(run_id, seq, memory))
    except CheckpointEncodeError as exc:
        assert exc.path.startswith("memory['v']"), exc.path
        assert storage.list_checkpoints(run_id) == before
        return False
    return True


def _loads_back(storage: StorageBackend, run_id: str, seq: int, memory: dict[str, Any]) -> None:
    loaded = storage.load_checkpoint(run_id, f"ckpt_{run_id}_step_{seq:06d}")
    assert loaded is not None
    assert_exact(loaded.memory_snapshot, memory, "memory")


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(nested=nested_values())
def test_every_value_loads_back_equal_or_is_refused_at_save(
    storage: StorageBackend, nested: Nested
) -> None:
    full_run, delta_run = f"full-{next(_run_ids)}", f"delta-{next(_run_ids)}"
    memory, changed = {"v": nested.value}, {"v": nested.changed, "n": 1}
    with _default_recursion_limit():
        _round_trip(storage, full_run, delta_run, memory, changed)


def _round_trip(
    storage: StorageBackend,
    full_run: str,
    delta_run: str,
    memory: dict[str, Any],
    changed: dict[str, Any],
) -> None:
    if _saved(storage, full_run, 0, memory):
        _loads_back(storage, full_run, 0, memory)

    assert _saved(storage, delta_run, 0, {"n": 0})
    stored = [0]
    if _saved(storage, delta_run, 1, memory):
        stored.append(1)
        if _saved(storage, delta_run, 2, changed):  # its leaf may take a level more
            stored.append(2)
    for seq, state in zip(stored, [{"n": 0}, memory, changed], strict=False):
        _loads_back(storage, delta_run, seq, state)
    latest = storage.load_latest_checkpoint(delta_run)
    assert latest is not None and latest.seq == stored[-1]
