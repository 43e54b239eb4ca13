"""Canonical bytes: one value, one byte string, whatever order it was built in; checksums."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.errors import CheckpointEncodeError
from framework.storage.codec import canonical_bytes, checksum, dumps, encode


def test_same_value_gives_same_bytes_every_time() -> None:
    value = {"b": [1, {"y": 2, "x": 1}], "a": {3, 1, 2}, "when": datetime(2024, 1, 1, tzinfo=UTC)}
    assert dumps(value) == dumps(value) == dumps(dict(value))


def test_dict_insertion_order_does_not_change_the_bytes() -> None:
    first = {"alpha": 1, "beta": {"x": 1, "y": 2}, 7: "int key", 3: "other"}
    second = {3: "other", "beta": {"y": 2, "x": 1}, 7: "int key", "alpha": 1}
    assert dumps(first) == dumps(second)


def test_set_iteration_order_does_not_change_the_bytes() -> None:
    items = [f"item-{i}" for i in range(50)]
    assert dumps(set(items)) == dumps(set(reversed(items)))
    assert dumps(frozenset(items)) == dumps(frozenset(sorted(items, key=hash)))


def test_bytes_are_compact_sorted_utf8_json() -> None:
    data = dumps({"b": "é", "a": [1, 2]})
    assert data == '{"a":[1,2],"b":"é"}'.encode()
    assert json.loads(data) == {"a": [1, 2], "b": "é"}


def test_dumps_is_canonical_bytes_of_encode() -> None:
    value = {"t": (1, 2), "s": {"x"}}
    assert dumps(value) == canonical_bytes(encode(value))


def test_canonical_bytes_refuses_a_tree_that_is_not_json() -> None:
    with pytest.raises(CheckpointEncodeError, match="not a JSON tree"):
        canonical_bytes({"a": float("nan")})
    with pytest.raises(CheckpointEncodeError, match="not a JSON tree"):
        canonical_bytes({"a": object()})


def test_checksum_is_sha256_prefixed_hex_of_the_bytes() -> None:
    data = dumps({"a": 1})
    digest = checksum(data)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    assert digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert checksum(data + b" ") != digest


keys = st.text(max_size=8) | st.integers()
leaves = st.none() | st.integers() | st.text(max_size=8) | st.floats(allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(keys, leaves | st.lists(leaves, max_size=3), max_size=8), st.randoms())
def test_any_permutation_of_a_dict_has_the_same_bytes(value: dict[Any, Any], rnd: Any) -> None:
    items = list(value.items())
    rnd.shuffle(items)
    assert dumps(dict(items)) == dumps(value)
