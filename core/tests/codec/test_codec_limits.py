"""What saves, loads: the codec refuses at encode time whatever it could not read back.

The limits live in one place (``framework.storage.codec._limits``). Depth is counted in the
JSON the decoder walks: the memory dict is one level, a list or dict one more, a tuple, set,
model or dataclass two (its tagged object and its items or fields), a dict with non-str keys
three (its tagged object, the pair list and each pair).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel

from framework.errors import CheckpointDecodeError, CheckpointEncodeError
from framework.storage.codec import MAX_DEPTH, TAG_KEY, decode, dumps, encode, loads, register_type
from framework.testing.values import assert_exact


@register_type(name="tests.codec.limits.Box")
class Box(BaseModel):
    item: Any


@register_type(name="tests.codec.limits.Cell")
@dataclass(frozen=True)
class Cell:
    item: Any


# kind: (wrap one level, JSON levels it takes, the path segment of its item, its type name)
KINDS: dict[str, tuple[Callable[[Any], Any], int, str, str]] = {
    "list": (lambda inner: [inner], 1, "[0]", "list"),
    "dict": (lambda inner: {"k": inner}, 1, "['k']", "dict"),
    "tuple": (lambda inner: (inner,), 2, "[0]", "tuple"),
    "frozenset": (lambda inner: frozenset({inner}), 2, "{", "frozenset"),
    "model": (lambda inner: Box(item=inner), 2, ".item", f"{__name__}.Box"),
    "dataclass": (lambda inner: Cell(inner), 2, ".item", f"{__name__}.Cell"),
    "int-keyed dict": (lambda inner: {7: inner}, 3, "[7]", "dict"),
}


def depth(tree: object) -> int:
    """How many levels of JSON containers ``tree`` takes (0 for a scalar), without recursion."""
    stack = [(tree, 0)]
    deepest = 0
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            level += 1
            deepest = max(deepest, level)
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, level) for child in children)
    return deepest


def nest(kind: str, times: int, leaf: Any = "leaf") -> Any:
    wrap = KINDS[kind][0]
    value = leaf
    for _ in range(times):
        value = wrap(value)
    return value


def fitting(kind: str) -> int:
    """How many levels of ``kind`` fit under ``memory['a']`` (the memory dict takes one)."""
    return (MAX_DEPTH - 1) // KINDS[kind][1]


@pytest.mark.parametrize("kind", KINDS)
def test_the_deepest_value_that_fits_round_trips_exactly(kind: str) -> None:
    memory = {"a": nest(kind, fitting(kind))}

    tree = encode(memory, "memory")

    assert MAX_DEPTH - KINDS[kind][1] < depth(tree) <= MAX_DEPTH
    assert_exact(loads(dumps(memory, "memory"), "memory"), memory)
    assert_exact(decode(tree, "memory"), memory)


@pytest.mark.parametrize("kind", KINDS)
def test_one_level_more_is_refused_at_encode_naming_the_key_path_and_type(kind: str) -> None:
    _, _, segment, type_name = KINDS[kind]
    levels = fitting(kind)

    with pytest.raises(CheckpointEncodeError) as caught:
        dumps({"a": nest(kind, levels + 1)}, "memory")

    if segment == "{":  # a set item is named by its (shortened) repr
        assert caught.value.path.startswith("memory['a']{frozenset({frozenset(")
    else:
        assert caught.value.path == "memory['a']" + segment * levels
    assert caught.value.type_name == type_name
    message = str(caught.value)
    assert "nested too deeply" in message and f"{MAX_DEPTH} levels" in message
    assert "register_type" not in message  # registering a type would not help


@pytest.mark.parametrize("kind", ["tuple", "frozenset"])
def test_the_value_of_the_issue_nested_260_times_is_refused_at_encode(kind: str) -> None:
    with pytest.raises(CheckpointEncodeError, match="nested too deeply") as caught:
        dumps({"a": nest(kind, 260, 1)}, "memory")
    assert caught.value.path.startswith("memory['a']")
    assert caught.value.type_name == kind


def test_a_list_nested_too_deep_names_its_key_not_just_the_root() -> None:
    memory = {"fine": [1, 2], "tree": {"children": nest("list", 500)}}

    with pytest.raises(CheckpointEncodeError) as caught:
        encode(memory, "memory")

    assert caught.value.path.startswith("memory['tree']['children'][0][0]")
    assert caught.value.type_name == "list"


def test_a_scalar_whose_tag_would_pass_the_limit_is_refused() -> None:
    from datetime import timedelta

    fits = nest("list", MAX_DEPTH - 2, timedelta(days=1))  # its tag takes two levels
    assert_exact(loads(dumps(fits)), fits)
    with pytest.raises(CheckpointEncodeError) as caught:
        dumps(nest("list", MAX_DEPTH - 1, timedelta(days=1)))
    assert caught.value.type_name == "datetime.timedelta"
    assert caught.value.path == "value" + "[0]" * (MAX_DEPTH - 1)


def _at_stack_depth(frames: int, call: Callable[[], Any]) -> Any:
    return call() if frames == 0 else _at_stack_depth(frames - 1, call)


@pytest.mark.parametrize("kind", ["list", "tuple", "model"])
def test_a_value_at_the_limit_saves_and_loads_even_from_deep_in_the_call_stack(kind: str) -> None:
    memory = {"a": nest(kind, fitting(kind))}

    stored = _at_stack_depth(300, lambda: dumps(memory, "memory"))

    assert_exact(_at_stack_depth(300, lambda: loads(stored, "memory")), memory)


def test_deeper_data_stored_before_the_limit_still_loads() -> None:
    # The previous version wrote lists up to ~330 deep; those checkpoints must stay readable.
    stored = b"[" * 200 + b"1" + b"]" * 200
    assert loads(stored) == nest("list", 200, 1)


def test_stored_data_beyond_any_stack_is_a_decode_error_naming_the_limit() -> None:
    stored = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(CheckpointDecodeError, match=f"nested too deeply.*{MAX_DEPTH}"):
        loads(stored)


# --- integers ---------------------------------------------------------------------------


@pytest.fixture
def lowest_int_text_limit() -> Iterator[None]:
    """The process converts ints to and from text only up to 640 digits (the lowest limit)."""
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    yield
    sys.set_int_max_str_digits(before)


@pytest.mark.parametrize(
    "value", [10**5000, -(7**9000), 2**100_000 + 1], ids=["10**5000", "-7**9000", "2**100000+1"]
)
def test_an_int_too_long_for_decimal_text_round_trips_exactly(value: int) -> None:
    memory = {"n": value, "in": {value: (value,)}}
    assert_exact(loads(dumps(memory, "memory"), "memory"), memory)


def test_ints_past_640_digits_load_where_the_int_text_limit_is_lowered(
    lowest_int_text_limit: None,
) -> None:
    sys.set_int_max_str_digits(0)  # saved by a process without a limit...
    stored = dumps({"n": 10**1000 + 1, "m": -(10**700)})
    sys.set_int_max_str_digits(640)  # ...loaded by one with the lowest

    assert loads(stored) == {"n": 10**1000 + 1, "m": -(10**700)}


def test_ints_up_to_640_digits_stay_plain_json_and_longer_ones_are_tagged() -> None:
    assert encode(10**640 - 1) == 10**640 - 1
    assert encode(-(10**640) + 1) == -(10**640) + 1
    assert encode(10**640) == {TAG_KEY: "int", "v": format(10**640, "x")}
    assert encode(-(10**640)) == {TAG_KEY: "int", "v": format(-(10**640), "x")}


@pytest.mark.parametrize("text", ["0x1f", "1_0", " 1f", "1F", "", 5])
def test_a_malformed_long_int_is_a_decode_error(text: object) -> None:
    with pytest.raises(CheckpointDecodeError, match="malformed int"):
        decode({TAG_KEY: "int", "v": text})


# --- floats -----------------------------------------------------------------------------


def test_distinct_nans_stay_distinct_in_sets_and_as_dict_keys() -> None:
    first, second = float("nan"), float("nan")

    assert len(loads(dumps({first, second}))) == 2
    assert len(loads(dumps(frozenset({(first,), (second,)})))) == 2
    revived = loads(dumps({first: "a", second: "b"}))
    assert sorted(revived.values()) == ["a", "b"]
    assert all(math.isnan(key) for key in revived)
