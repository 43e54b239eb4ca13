"""Every supported value comes back from the codec exactly: same value, same types, same zones."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from enum import Enum, IntEnum, StrEnum
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field

from framework.schemas.checkpoint import Checkpoint, CheckpointKind, ExecutorType
from framework.schemas.run import RunRecord, RunStatus
from framework.storage.codec import TAG_KEY, decode, dumps, encode, loads, register_type


@register_type
class Color(StrEnum):
    RED = "red"
    BLUE = "blue"


@register_type
class Shape(Enum):
    SQUARE = "square"
    PAIR = (1, 2)


@register_type
class Priority(IntEnum):
    LOW = 1
    HIGH = 2


@register_type
class Author(BaseModel):
    name: str
    joined: datetime
    tags: set[str] = Field(default_factory=set)


@register_type
class Document(BaseModel):
    model_config = ConfigDict(frozen=True)

    title: str
    author: Author
    price: Decimal
    ref: uuid.UUID
    color: Color
    span: tuple[int, int]
    path: Path
    reviewers: list[Author] = Field(default_factory=list)


@register_type(name="tests.Extensible")
class Extensible(BaseModel):
    model_config = ConfigDict(extra="allow")

    kind: str
    optional: int = 0


@register_type
@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str | None = None


@register_type
@dataclass
class Cluster:
    centre: Point
    members: list[Point] = field(default_factory=list)
    weights: dict[int, float] = field(default_factory=dict)
    # A field __init__ does not take must still come back as it was.
    cached: int = field(default=0, init=False)


def assert_identical(revived: Any, original: Any, where: str = "value") -> None:
    """Equal *and* of the same types all the way down (``1 == 1.0 == True`` is not enough)."""
    assert type(revived) is type(original), f"{where}: {type(revived)} != {type(original)}"
    if isinstance(original, float) and math.isnan(original):
        assert math.isnan(revived), where
    elif isinstance(original, Decimal) and original.is_nan():
        assert str(revived) == str(original), where
    elif isinstance(original, dict):
        assert set(revived) == set(original), where
        for key in original:
            revived_key = next(k for k in revived if k == key)
            assert_identical(revived_key, key, f"{where}<key {key!r}>")
            assert_identical(revived[key], original[key], f"{where}[{key!r}]")
    elif isinstance(original, list | tuple):
        assert len(revived) == len(original), where
        for i, (r, o) in enumerate(zip(revived, original, strict=True)):
            assert_identical(r, o, f"{where}[{i}]")
    elif isinstance(original, datetime | time):
        assert revived == original, where
        assert revived.isoformat() == original.isoformat(), where
        assert revived.tzinfo == original.tzinfo, where
        assert revived.tzname() == original.tzname(), where
        assert revived.fold == original.fold, where
    elif isinstance(original, BaseModel):
        assert revived == original, where
        assert revived.model_fields_set == original.model_fields_set, where
        for name in type(original).model_fields:
            assert_identical(getattr(revived, name), getattr(original, name), f"{where}.{name}")
    elif isinstance(original, Point | Cluster):
        assert revived == original, where
        for name in original.__dataclass_fields__:
            assert_identical(getattr(revived, name), getattr(original, name), f"{where}.{name}")
    else:
        assert revived == original, where


def assert_json_only(tree: Any) -> None:
    assert type(tree) in (dict, list, str, int, float, bool, type(None)), type(tree)
    if isinstance(tree, dict):
        assert all(type(k) is str for k in tree)
        for item in tree.values():
            assert_json_only(item)
    elif isinstance(tree, list):
        for item in tree:
            assert_json_only(item)
    elif isinstance(tree, float):
        assert math.isfinite(tree)


ALICE = Author(name="Alice", joined=datetime(2024, 5, 1, 9, 30, tzinfo=UTC), tags={"x", "y"})
DOCUMENT = Document(
    title="Report",
    author=ALICE,
    price=Decimal("19.990"),
    ref=uuid.UUID("12345678-1234-5678-1234-567812345678"),
    color=Color.BLUE,
    span=(3, 9),
    path=Path("/data/report.pdf"),
    reviewers=[Author(name="Bob", joined=datetime(2023, 1, 1, 0, 0))],
)

SUPPORTED: dict[str, Any] = {
    "aware datetime (UTC)": datetime(2024, 3, 10, 12, 0, 1, 123456, tzinfo=UTC),
    "aware datetime (offset)": datetime(2024, 3, 10, 12, 0, tzinfo=timezone(timedelta(hours=-3))),
    "aware datetime (named offset)": datetime(
        2024, 1, 1, tzinfo=timezone(timedelta(hours=1), "CET")
    ),
    "aware datetime (zone)": datetime(2024, 7, 1, 8, 0, tzinfo=ZoneInfo("Europe/Paris")),
    "aware datetime (zone, second of two 01:30)": datetime(
        2021, 11, 7, 1, 30, tzinfo=ZoneInfo("America/New_York"), fold=1
    ),
    "naive datetime": datetime(1999, 12, 31, 23, 59, 59),
    "date": date(2020, 2, 29),
    "naive time": time(7, 15, 30, 250),
    "aware time (offset)": time(7, 15, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    "aware time (zone)": time(23, 0, tzinfo=ZoneInfo("Asia/Tokyo")),
    "timedelta": timedelta(days=-2, seconds=5, microseconds=7),
    "bytes": bytes(range(256)),
    "empty bytes": b"",
    "bytearray": bytearray(b"\x00abc"),
    "set": {1, "two", 3.5, (4, 5)},
    "empty set": set(),
    "frozenset": frozenset({"a", b"b", None}),
    "tuple": (1, "a", None, (2.5,)),
    "tuple inside list inside dict": {"outer": [(1, 2), ("x", {"y": (3,)})]},
    "str enum": Color.RED,
    "int enum": Priority.HIGH,
    "plain enum with str value": Shape.SQUARE,
    "plain enum with tuple value": Shape.PAIR,
    "framework enums": [ExecutorType.BATCH, CheckpointKind.PAUSE, RunStatus.FAILED],
    "decimal with trailing zeros": Decimal("1.2300"),
    "decimal with 40 digits": Decimal("3.141592653589793238462643383279502884197"),
    "decimal exponent": Decimal("1E+3"),
    "decimal negative zero": Decimal("-0.00"),
    "decimal NaN": Decimal("NaN"),
    "decimal infinity": Decimal("-Infinity"),
    "uuid": uuid.uuid4(),
    "path": Path("relative/file.txt"),
    "pure posix path": PurePosixPath("/etc/hosts"),
    "pure windows path": PureWindowsPath(r"C:\Users\me\doc.txt"),
    "nan": math.nan,
    "inf": math.inf,
    "-inf": -math.inf,
    "negative zero": -0.0,
    "big int": 2**200,
    "unicode text": "héllo wörld ✓ 🚀",
    "dict with int keys": {1: "one", 2: "two", -5: [1]},
    "dict with mixed keys": {1: "a", "1": "b", (1, 2): "c", None: "d", Color.RED: "e"},
    "dict holding the reserved key": {TAG_KEY: "not a tag", "other": 1},
    "nested dict holding the reserved key": {"a": {TAG_KEY: {"__ag__": "datetime"}}},
    "pydantic model with nested typed fields": DOCUMENT,
    "model with extra fields and unset defaults": Extensible(kind="k", extra_field={1, 2}),
    "framework checkpoint": Checkpoint(
        id="ckpt_r_n_000001",
        run_id="r",
        current_node_id="n",
        memory_snapshot={"doc": DOCUMENT, "when": date(2024, 1, 1)},
    ),
    "framework run record": RunRecord(run_id="r", status=RunStatus.PAUSED),
    "frozen dataclass": Point(1.5, -2.0, "p"),
    "dataclass with nested dataclasses": Cluster(
        centre=Point(0, 0), members=[Point(1, 1), Point(2, 2, "b")], weights={1: 0.5}
    ),
    "plain json": {"a": [1, 2.5, "x", None, True, False, {"b": []}]},
}


@pytest.mark.parametrize("value", SUPPORTED.values(), ids=SUPPORTED.keys())
def test_supported_value_round_trips_exactly_through_bytes(value: Any) -> None:
    assert_identical(loads(dumps(value)), value)


@pytest.mark.parametrize("value", SUPPORTED.values(), ids=SUPPORTED.keys())
def test_supported_value_round_trips_exactly_through_a_tree(value: Any) -> None:
    tree = encode(value)
    assert_json_only(tree)
    assert_identical(decode(tree), value)


def test_all_supported_values_together_in_one_memory_round_trip() -> None:
    memory = dict(SUPPORTED)
    assert_identical(loads(dumps(memory, "memory"), "memory"), memory)


def test_dataclass_field_outside_init_is_revived() -> None:
    cluster = Cluster(centre=Point(0, 0))
    cluster.cached = 42
    assert loads(dumps(cluster)).cached == 42


def test_plain_json_encodes_to_itself_so_deltas_can_walk_it() -> None:
    plain = {"docs": [{"title": "a", "pages": 3}], "count": 1, "ratio": 0.5, "none": None}
    assert encode(plain) == plain


def test_encoded_tree_shares_no_container_with_the_value() -> None:
    memory = {"items": [1, 2], "nested": {"k": [3]}}
    tree = encode(memory)
    memory["items"].append(3)
    memory["nested"]["k"].append(4)
    assert tree == {"items": [1, 2], "nested": {"k": [3]}}


json_trees = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(json_trees)
def test_json_trees_stay_plain_and_round_trip(tree: Any) -> None:
    assert encode(tree) == tree
    assert_identical(loads(dumps(tree)), tree)


hashable_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=10)
    | st.binary(max_size=10)
    | st.decimals(allow_nan=False)
    | st.uuids()
    | st.dates()
    | st.times(timezones=st.none() | st.timezones())
    | st.datetimes(timezones=st.none() | st.timezones() | st.just(UTC))
    | st.timedeltas()
    | st.sampled_from(list(Color) + list(Priority))
)
scalars = hashable_scalars | st.floats() | st.decimals()


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return (
        st.lists(children, max_size=5)
        | st.lists(children, max_size=5).map(tuple)
        | st.dictionaries(st.text(max_size=5), children, max_size=5)
        | st.dictionaries(st.integers() | st.just(TAG_KEY), children, max_size=5)
        | st.sets(hashable_scalars, max_size=5)
        | st.frozensets(hashable_scalars, max_size=5)
    )


@settings(max_examples=300, deadline=None)
@given(st.recursive(scalars, containers, max_leaves=25))
def test_nested_containers_of_supported_scalars_round_trip_exactly(value: Any) -> None:
    assert_json_only(encode(value))
    assert_identical(loads(dumps(value)), value)
