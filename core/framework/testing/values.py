"""Values and checks the storage spec is written with, for backends' own tests too.

:func:`every_type_memory` holds one of every value kind the codec supports;
:func:`make_checkpoint` and :func:`full_checkpoint` build checkpoints as the executors
write them; :func:`assert_exact` compares values *and* their types all the way down.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from enum import Enum
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from framework.schemas.checkpoint import Checkpoint, CheckpointKind
from framework.storage.codec import dumps, register_type

__all__ = [
    "Author",
    "Mood",
    "Page",
    "assert_exact",
    "every_type_memory",
    "full_checkpoint",
    "make_checkpoint",
]


@register_type(name="tests.storage.Mood")
class Mood(Enum):
    """An enum with a text and a number value, to round-trip through the codec."""

    CALM = "calm"
    """A text value."""
    BUSY = 2
    """A number value."""


@register_type(name="tests.storage.Author")
class Author(BaseModel):
    name: str
    joined: datetime
    tags: frozenset[str] = frozenset()


@register_type(name="tests.storage.Page")
@dataclass
class Page:
    number: int
    author: Author
    words: tuple[str, ...]


def every_type_memory() -> dict[str, Any]:
    """Shared memory holding one of every value kind the codec supports, nested too."""
    author = Author(
        name="Ada", joined=datetime(2024, 5, 1, 9, 30, tzinfo=UTC), tags=frozenset({"x"})
    )
    return {
        "text": "héllo ✓",
        "int": 2**70,
        "float": 0.1,
        "neg_zero": -0.0,
        "not_a_number": math.inf,
        "flag": True,
        "nothing": None,
        "when_utc": datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "when_zone": datetime(2024, 7, 1, 12, 0, tzinfo=ZoneInfo("Europe/Paris")),
        "when_offset": datetime(2024, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5))),
        "day": date(2024, 2, 29),
        "clock": time(23, 59, 1),
        "span": timedelta(days=2, seconds=5),
        "raw": b"\x00\xffbytes",
        "tags": {"b", "a", "c"},
        "frozen": frozenset({1, 2}),
        "pair": (1, "two", (3.0,)),
        "mood": Mood.BUSY,
        "money": Decimal("12.3400"),
        "ref": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "posix": PurePosixPath("/a/b.txt"),
        "windows": PureWindowsPath(r"C:\docs\x.txt"),
        "local": Path("rel/file.json"),
        "author": author,
        "page": Page(number=3, author=author, words=("a", "b")),
        "int_keys": {1: "one", (2, 3): "tuple key"},
        "nested": {"docs": [{"page": Page(1, author, ()), "seen": {date(2024, 1, 1)}}]},
        "__ag__": "a key that looks like the codec's tag",
    }


def make_checkpoint(
    run_id: str, seq: int, memory: dict[str, Any] | None = None, **fields: Any
) -> Checkpoint:
    """A checkpoint as an executor writes it after node ``step`` (seq-derived id and path)."""
    values: dict[str, Any] = {
        "id": f"ckpt_{run_id}_step_{seq:06d}",
        "run_id": run_id,
        "seq": seq,
        "current_node_id": "step",
        "next_node_id": "step",
        "memory_snapshot": {"counter": seq} if memory is None else memory,
        "execution_path": ["step"] * (seq + 1),
        "step_number": seq + 1,
        "total_tokens": 10 * seq,
        "total_latency_ms": 5 * seq,
    }
    values.update(fields)
    return Checkpoint(**values)


def full_checkpoint(run_id: str, seq: int) -> Checkpoint:
    """A checkpoint with every field set to something other than its default."""
    author = Author(name="Bo", joined=datetime(2023, 1, 1, tzinfo=UTC))
    return make_checkpoint(
        run_id,
        seq,
        every_type_memory(),
        kind=CheckpointKind.REQUESTED,
        pending_input={"doc": Page(7, author, ("w",)), "at": date(2024, 3, 3)},
        visit_counts={"step": 2, "other": 1},
        retry_counts={"step": 1},
        total_cost=0.25,
        graph_fingerprint="sha256:abc",
        context={"plan": {"steps": [("s1", Mood.CALM)]}},
        metadata={"reason": "before review", "budget": Decimal("1.5")},
        parent_run_id="parent-run",
        parent_checkpoint_id="ckpt_parent-run_step_000001",
    )


def assert_exact(actual: Any, expected: Any, path: str = "value") -> None:
    """Equal *and* of the same types all the way down (``==`` alone calls 1 == True)."""
    assert type(actual) is type(expected), f"{path}: {type(actual)} != {type(expected)}"
    if isinstance(expected, dict):
        # Keys compared by their stored form: exact about types, and no repr of huge ints.
        assert sorted(map(dumps, actual)) == sorted(map(dumps, expected)), path
        for key, value in expected.items():
            assert_exact(actual[key], value, f"{path}[{_shown(key)}]")
    elif isinstance(expected, list | tuple):
        assert len(actual) == len(expected), path
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_exact(a, e, f"{path}[{i}]")
    elif isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(actual), path
    elif isinstance(expected, float):
        assert actual == expected and math.copysign(1, actual) == math.copysign(1, expected), path
    elif isinstance(expected, datetime | time):
        assert actual == expected and actual.tzinfo == expected.tzinfo, path
        assert actual.utcoffset() == expected.utcoffset(), path
    else:
        assert actual == expected, path


def _shown(key: Any) -> str:
    """``repr(key)``, or its stored form when Python refuses to write it (a huge int)."""
    try:
        return repr(key)
    except ValueError:
        return dumps(key).decode("utf-8")
