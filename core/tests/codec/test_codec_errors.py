"""What the codec refuses, and how it says so: loudly, naming the key path and the type."""

from __future__ import annotations

import builtins
import socket
import sys
from collections import OrderedDict, namedtuple
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from framework.errors import CheckpointDecodeError, CheckpointEncodeError
from framework.storage import codec
from framework.storage.codec import dumps, encode, loads, register_type, registered_name

CODEC_SOURCES = sorted(path.name for path in Path(codec.__file__).parent.glob("*.py"))


@register_type
@dataclass
class Doc:
    title: str
    author: Any


class Unregistered(BaseModel):
    name: str


class UnregisteredColor(Enum):
    RED = "red"


@register_type(name="tests.errors.Versioned")
class Versioned(BaseModel):
    a: int
    b: int = 0


class FixedZone(tzinfo):
    def utcoffset(self, dt: datetime | None) -> None:
        return None


def memory_with_author(author: Any) -> dict[str, Any]:
    return {"docs": [Doc("a", "x"), Doc("b", "y"), Doc("c", "z"), Doc("d", author)]}


@pytest.mark.parametrize(
    ("author", "type_name"),
    [
        (lambda: None, "function"),
        (object(), "object"),
        (socket.socket(), "socket.socket"),
    ],
    ids=["lambda", "object", "socket"],
)
def test_unencodable_value_error_names_exact_key_path_and_type(author: Any, type_name: str) -> None:
    try:
        with pytest.raises(CheckpointEncodeError) as caught:
            encode(memory_with_author(author), "memory")
    finally:
        if isinstance(author, socket.socket):
            author.close()
    assert caught.value.path == "memory['docs'][3].author"
    assert caught.value.type_name == type_name
    assert "memory['docs'][3].author" in str(caught.value)
    assert type_name in str(caught.value)


def test_unregistered_model_is_refused_naming_path_and_type() -> None:
    with pytest.raises(CheckpointEncodeError) as caught:
        dumps({"users": {"u1": Unregistered(name="x")}}, "memory")
    assert caught.value.path == "memory['users']['u1']"
    assert caught.value.type_name.endswith("Unregistered")
    assert "not registered" in str(caught.value)
    assert "register_type" in str(caught.value)


def test_unregistered_enum_and_dataclass_are_refused() -> None:
    @dataclass
    class Loose:
        x: int

    with pytest.raises(CheckpointEncodeError, match=r"value\[0\] .*UnregisteredColor"):
        encode([UnregisteredColor.RED])
    with pytest.raises(CheckpointEncodeError, match=r"value\['k'\] .*Loose"):
        encode({"k": Loose(1)})


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"d": OrderedDict(a=1)}, "value['d']"),
        ({"p": namedtuple("P", "x")(1)}, "value['p']"),
        ({"s": type("Text", (str,), {})("x")}, "value['s']"),
        ({"k": {1: object()}}, "value['k'][1]"),
        ({"k": {object(): 1}}, "value['k']<key <object object at"),
        ({"t": (1, [2, object()])}, "value['t'][1][1]"),
        ({"s": frozenset({(1, object())})}, "value['s']{(1, <object object at"),
        ({"when": datetime(2024, 1, 1, tzinfo=FixedZone())}, "value['when']"),
        ({"text": "bad \udc80 surrogate"}, "value['text']"),
        ({"bad \udc80 key": 1}, "value<key 'bad \\udc80 key'>"),
        ({"m": Versioned(a=1, b=2).model_copy(update={"b": object()})}, "value['m'].b"),
    ],
    ids=[
        "OrderedDict",
        "namedtuple",
        "str subclass",
        "value under int key",
        "unencodable key",
        "inside tuple",
        "inside frozenset",
        "unsupported tzinfo",
        "lone surrogate",
        "lone surrogate in key",
        "model field",
    ],
)
def test_refused_values_name_where_they_are(value: Any, path: str) -> None:
    with pytest.raises(CheckpointEncodeError) as caught:
        encode(value)
    assert caught.value.path.startswith(path)


def test_circular_reference_is_refused_not_recursed_forever() -> None:
    loop: list[Any] = [1]
    loop.append({"again": loop})
    with pytest.raises(CheckpointEncodeError, match="circular reference") as caught:
        encode({"loop": loop}, "memory")
    assert caught.value.path == "memory['loop'][1]['again']"


def test_shared_but_acyclic_values_are_not_mistaken_for_cycles() -> None:
    shared = [1, 2]
    assert loads(dumps({"a": shared, "b": shared, "c": (shared, shared)})) == {
        "a": [1, 2],
        "b": [1, 2],
        "c": ([1, 2], [1, 2]),
    }


def test_unknown_tag_on_load_is_an_error_not_a_dict() -> None:
    with pytest.raises(CheckpointDecodeError, match=r"value\['x'\]\[1\]: unknown type tag 'bogus'"):
        loads(b'{"x":[0,{"__ag__":"bogus","v":1}]}')


def test_unregistered_type_name_on_load_is_an_error_and_imports_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    imported: list[str] = []
    real_import = builtins.__import__

    def recording_import(name: str, *args: Any, **kwargs: Any) -> Any:
        imported.append(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", recording_import)
    stored = b'{"__ag__":"model","type":"agentgraph_never_imported.Evil","fields":{}}'
    with pytest.raises(
        CheckpointDecodeError, match=r"'agentgraph_never_imported\.Evil' is not reg"
    ):
        loads(stored)
    monkeypatch.undo()
    assert imported == []
    assert "agentgraph_never_imported" not in sys.modules


@pytest.mark.parametrize(
    ("stored", "fragment"),
    [
        (b'{"__ag__":"enum","type":"tests.errors.Versioned","v":1}', "not of kind enum"),
        (b'{"__ag__":"bytes","v":"***"}', "malformed bytes"),
        (b'{"__ag__":"decimal","v":5}', "malformed decimal"),
        (b'{"__ag__":"datetime","v":"yesterday"}', "malformed datetime"),
        (b'{"__ag__":"datetime","v":"2024-01-01T00:00","zone":"../../etc/x"}', "malformed"),
        (b'{"__ag__":"path","cls":"Path","v":"x"}', "malformed path"),
        (b'{"__ag__":"float","v":"zero"}', "malformed float"),
        (b'{"__ag__":"dict","v":[[1]]}', "malformed dict"),
        (b'{"__ag__":"set","v":[[1]]}', "malformed set"),
        (b'{"__ag__":7}', "unknown type tag 7"),
        (b'{"__ag__":"model","type":"tests.errors.Versioned","fields":{"a":1,"c":2}}', "['c']"),
        (b'{"__ag__":"model","type":"tests.errors.Versioned","fields":{"b":1}}', "['a']"),
        (b"[1, NaN]", "not valid JSON"),
        (b'{"a": 1', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
    ],
    ids=[
        "enum tag naming a model",
        "bad base64",
        "decimal not text",
        "bad datetime",
        "zone escaping tzdata",
        "unknown path class",
        "unknown float name",
        "pair without value",
        "unhashable set item",
        "non-text tag",
        "field the class no longer has",
        "required field missing",
        "NaN literal",
        "truncated",
        "not utf-8",
    ],
)
def test_malformed_stored_values_are_decode_errors(stored: bytes, fragment: str) -> None:
    with pytest.raises(CheckpointDecodeError) as caught:
        loads(stored)
    assert fragment in str(caught.value)


def test_decoded_model_revives_with_default_for_a_field_added_since() -> None:
    revived = loads(b'{"__ag__":"model","type":"tests.errors.Versioned","fields":{"a":1}}')
    assert revived == Versioned(a=1, b=0)


def test_registering_another_class_under_a_taken_name_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):

        @register_type(name="tests.errors.Versioned")
        class Impostor(BaseModel):
            a: int


def test_registering_a_class_under_a_second_name_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered as"):
        register_type(Versioned, name="tests.errors.Other")


def test_registering_a_redefinition_of_the_same_class_replaces_it() -> None:
    def define() -> type:
        @register_type(name="tests.errors.Redefined")
        class Redefined(BaseModel):
            x: int

        return Redefined

    first, second = define(), define()
    assert first is not second
    assert registered_name(second) == "tests.errors.Redefined"
    assert registered_name(first) is None
    assert type(loads(dumps(second(x=1)))) is second


@pytest.mark.parametrize("thing", [int, Path, "name", lambda: None])
def test_only_models_dataclasses_and_enums_can_be_registered(thing: Any) -> None:
    with pytest.raises(TypeError):
        register_type(thing)


def test_framework_models_are_registered_under_stable_names() -> None:
    from framework.schemas.checkpoint import Checkpoint
    from framework.schemas.run import RunRecord

    assert registered_name(Checkpoint) == "framework.schemas.checkpoint.Checkpoint"
    assert registered_name(RunRecord) == "framework.schemas.run.RunRecord"


@pytest.mark.parametrize("module", CODEC_SOURCES)
def test_codec_source_uses_no_pickle_eval_exec_or_dynamic_import(module: str) -> None:
    source = (Path(codec.__file__).parent / module).read_text()
    for forbidden in ("pickle", "marshal", "eval(", "exec(", "importlib", "__import__"):
        assert forbidden not in source, f"{forbidden} in {module}"


def test_encode_error_for_a_top_level_value_uses_the_given_root_name() -> None:
    with pytest.raises(CheckpointEncodeError) as caught:
        encode(object(), "memory")
    assert caught.value.path == "memory"


def test_error_types_are_not_confused_with_aware_datetimes() -> None:
    # A plain UTC datetime must never be refused as an unsupported tzinfo.
    assert loads(dumps(datetime(2024, 1, 1, tzinfo=UTC))).tzinfo is UTC
