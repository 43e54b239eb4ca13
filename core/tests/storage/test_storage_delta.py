"""Deltas store only what changed and always rebuild the new tree exactly."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.errors import CorruptCheckpointError
from framework.storage._engine.chains import MAX_CHAIN
from framework.storage._engine.delta import apply_delta, diff, resized
from framework.storage._engine.record_backend import RecordBackend
from framework.storage._engine.record_format import encode_state
from framework.storage.backend import StorageBackend
from framework.storage.codec import canonical_bytes
from framework.testing.values import make_checkpoint


def _bytes(tree) -> bytes:
    return json.dumps(tree, sort_keys=True, separators=(",", ":")).encode()


def test_a_list_that_grew_stores_only_the_new_items():
    old = {"log": ["a", "b"], "other": "x" * 1000}
    new = {"log": ["a", "b", "c"], "other": "x" * 1000}

    assert diff(old, new) == {"~": {"log": {"+": ["c"]}}}


def test_a_dict_stores_only_changed_added_and_removed_keys():
    old = {"keep": {"big": "x" * 1000}, "change": 1, "drop": 2, "nested": {"a": 1, "b": 2}}
    new = {"keep": {"big": "x" * 1000}, "change": 3, "add": 4, "nested": {"a": 1, "b": 5}}

    assert diff(old, new) == {
        "~": {"change": {"=": 3}, "add": {"=": 4}, "nested": {"~": {"b": {"=": 5}}}},
        "-": ["drop"],
    }


def test_equal_trees_have_no_delta():
    assert diff({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}) is None


@pytest.mark.parametrize(
    ("old", "new"),
    [(1, True), (1, 1.0), (0.0, -0.0), ([1], [True]), ({"a": 0}, {"a": False}), ("1", 1)],
)
def test_values_python_calls_equal_but_json_does_not_are_changes(old, new):
    delta = diff({"v": old}, {"v": new})

    assert delta is not None
    assert _bytes(apply_delta({"v": old}, delta)) == _bytes({"v": new})


def test_a_list_that_changed_in_place_is_replaced():
    assert diff({"l": [1, 2, 3]}, {"l": [1, 9, 3, 4]}) == {"~": {"l": {"=": [1, 9, 3, 4]}}}


def test_applying_never_mutates_the_old_tree():
    old = {"l": [1], "d": {"x": 1}, "gone": 0}
    snapshot = copy.deepcopy(old)

    apply_delta(old, diff(old, {"l": [1, 2], "d": {"x": 2}}))

    assert old == snapshot


def test_very_deep_trees_still_round_trip():
    old: dict = {}
    new: dict = {}
    cursor_old, cursor_new = old, new
    for _ in range(100):
        cursor_old["k"] = {}
        cursor_new["k"] = {}
        cursor_old, cursor_new = cursor_old["k"], cursor_new["k"]
    cursor_new["leaf"] = 1

    assert apply_delta(old, diff(old, new)) == new


@pytest.mark.parametrize(
    ("old", "delta"),
    [
        ({"l": {}}, {"~": {"l": {"+": [1]}}}),
        ([], {"~": {"a": {"=": 1}}}),
        ({}, {"-": ["missing"]}),
        ({}, {"~": {"missing": {"+": [1]}}}),
        ({}, {"?": 1}),
        ({}, "not an operation"),
    ],
)
def test_a_delta_that_does_not_fit_is_corruption(old, delta):
    with pytest.raises(CorruptCheckpointError):
        apply_delta(old, delta)


def json_trees(floats: st.SearchStrategy[float]) -> st.SearchStrategy[object]:
    return st.recursive(
        st.none() | st.booleans() | st.integers() | floats | st.text(max_size=5),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=3), children, max_size=4)
        ),
        max_leaves=20,
    )


json_values = json_trees(st.floats(allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(old=json_values, new=json_values)
def test_applying_the_diff_rebuilds_any_tree_exactly(old, new):
    delta = diff(old, new)
    rebuilt = old if delta is None else apply_delta(old, delta)

    assert _bytes(rebuilt) == _bytes(new)


@settings(max_examples=200, deadline=None)
@given(base=st.lists(json_values, max_size=5), extra=st.lists(json_values, min_size=1, max_size=3))
def test_appending_is_always_stored_as_an_append(base, extra):
    assert diff({"l": base}, {"l": base + extra}) == {"~": {"l": {"+": extra}}}


# Canonical JSON has no infinities, so sizes are measured on finite trees.
finite_json = json_trees(st.floats(allow_nan=False, allow_infinity=False))


@settings(max_examples=300, deadline=None)
@given(old=finite_json, new=finite_json)
def test_the_size_after_a_delta_is_the_canonical_size_of_the_new_tree(old, new):
    delta = diff(old, new)
    if delta is None:
        return

    assert resized(old, delta, len(canonical_bytes(old))) == len(canonical_bytes(new))


async def test_every_saved_checkpoint_records_its_exact_encoded_size(
    storage: StorageBackend,
) -> None:
    memory = {"lines": [], "notes": {}, "text": "é"}
    for seq in range(MAX_CHAIN + 5):
        memory = {
            "lines": [*memory["lines"], f"line {seq} ü"],
            "notes": {**memory["notes"], f"k{seq % 4}": seq},
            "text": memory["text"] + "ö" if seq % 7 == 0 else memory["text"],
        }
        cp = make_checkpoint("run-1", seq, memory)
        saved = await storage.asave_checkpoint(cp)

        assert saved.size_bytes == len(canonical_bytes(encode_state(cp)))


# Moved from the storage spec: it reads the engine's index entries (private to the shipped
# backends), so it checks every shipped backend here instead.
async def test_a_load_never_walks_a_long_chain(storage: StorageBackend) -> None:
    assert isinstance(storage, RecordBackend)
    for seq in range(MAX_CHAIN + 10):
        await storage.asave_checkpoint(make_checkpoint("run-1", seq, {"n": seq}))

    longest = 0
    chain = 0
    for entry in storage._entries("run-1"):
        chain = 1 if entry.form == "full" else chain + 1
        longest = max(longest, chain)

    assert longest <= MAX_CHAIN
