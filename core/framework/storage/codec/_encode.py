"""Values to canonical JSON trees and bytes (see the package docs for the table)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import math
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any, TypeAlias
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from framework.errors import CheckpointDecodeError, CheckpointEncodeError
from framework.storage.codec._decode import TOO_DEEP_TO_LOAD, decode
from framework.storage.codec._limits import INT_TEXT_BOUND, MAX_DEPTH, TOO_DEEP
from framework.storage.codec._registry import (
    PATH_TYPES,
    TAG_KEY,
    registered_name,
    type_name,
)

JSONish: TypeAlias = "dict[str, JSONish] | list[JSONish] | str | int | float | bool | None"

# --- encoding ---------------------------------------------------------------------------------


_REGISTER = (
    "store JSON-compatible values or register the type with framework.storage.codec.register_type"
)
_FLATTEN = (
    "store a flatter value, for example records in a list or dict that refer to each other by id"
)


class _Unencodable(Exception):
    """Raised deep inside; each container on the way out adds its path segment."""

    def __init__(self, value: Any, reason: str, hint: str = _REGISTER) -> None:
        self.type_name = type_name(value)
        self.reason = reason
        self.hint = hint
        self.segments: list[str] = []


def encode(value: Any, path: str = "value") -> JSONish:
    """Encode ``value`` as a JSON tree; raise ``CheckpointEncodeError`` naming the key path.

    ``path`` names the root in error messages, e.g. ``encode(memory, "memory")`` reports
    ``memory['docs'][3].author``. The tree never shares containers with ``value``.
    """
    try:
        tree: JSONish = _encode(value, set(), 0)
    except _Unencodable as exc:
        raise CheckpointEncodeError(
            path + "".join(reversed(exc.segments)), exc.type_name, exc.reason, exc.hint
        ) from None
    except RecursionError:
        raise CheckpointEncodeError(
            path, type_name(value), "the program's call stack is too deep to encode it"
        ) from None
    return tree


# ``depth`` below is how many JSON containers enclose the encoding of ``v``; every value that
# encodes as a container first checks that its own levels fit under MAX_DEPTH.


def _encode(v: Any, active: set[int], depth: int) -> Any:
    t = type(v)
    if t is str:
        if v.isascii() or _valid_utf8(v):
            return v
        raise _Unencodable(v, "it holds a lone surrogate, which is not valid UTF-8")
    if t is int:
        if -INT_TEXT_BOUND < v < INT_TEXT_BOUND:
            return v
        _fits(v, depth, 1)
        return {TAG_KEY: "int", "v": format(v, "x")}
    if t is bool or v is None:
        return v
    if t is float:
        if math.isfinite(v):
            return v
        _fits(v, depth, 1)
        return {TAG_KEY: "float", "v": "nan" if v != v else ("inf" if v > 0 else "-inf")}
    if t is dict or t is list or t is tuple or t is set or t is frozenset:
        return _container(v, t, active, depth)
    scalar = _SCALARS.get(t)
    if scalar is not None:
        _fits(v, depth, 2 if t is timedelta else 1)  # a timedelta's tag holds a list
        return scalar(v)
    if isinstance(v, Enum | BaseModel) or (dataclasses.is_dataclass(v) and not isinstance(v, type)):
        return _typed(v, active, depth)
    raise _Unencodable(v, "unsupported type")


def _fits(v: Any, depth: int, levels: int) -> None:
    if depth + levels > MAX_DEPTH:
        raise _Unencodable(v, TOO_DEEP, _FLATTEN)


def _container(v: Any, t: type, active: set[int], depth: int) -> Any:
    _fits(v, depth, 1 if t is dict or t is list else 2)
    if t is list and _as_themselves(v):
        return list(v)
    if t is dict and _as_themselves(v.values()) and _plain_keys(v):
        return dict(v)
    if id(v) in active:
        raise _Unencodable(v, "circular reference")
    active.add(id(v))
    try:
        if t is dict:
            return _encode_dict(v, active, depth)
        inner = depth + (1 if t is list else 2)
        items = _encode_items(v, active, inner, "[{}]" if t is list or t is tuple else None)
        if t is list:
            return items
        if t is tuple:
            return {TAG_KEY: "tuple", "v": items}
        return {TAG_KEY: t.__name__, "v": sorted(items, key=canonical_bytes)}
    finally:
        active.discard(id(v))


def _as_themselves(values: Iterable[Any]) -> bool:
    """Whether every value encodes as itself, checked in C: valid text, bools and None, or
    ints and bools with short decimal text. Long lists of such values are common (lines,
    ids, counts), and checking them one by one in Python costs more than the rest of a
    checkpoint."""
    values = values if isinstance(values, list) else list(values)
    kinds = set(map(type, values))
    if kinds <= _TEXT_KINDS:
        if str not in kinds:
            return True
        strings = values if len(kinds) == 1 else [v for v in values if type(v) is str]
        return _valid_text("".join(strings))
    if kinds <= _INT_KINDS:
        return bool(min(values) > -INT_TEXT_BOUND and max(values) < INT_TEXT_BOUND)
    return False


def _plain_keys(v: dict[Any, Any]) -> bool:
    """Whether ``v`` encodes as a plain object: text keys, valid, none of them the tag key."""
    return set(map(type, v)) <= {str} and TAG_KEY not in v and _valid_text("".join(v))


def _valid_text(text: str) -> bool:
    return text.isascii() or _valid_utf8(text)


_TEXT_KINDS = frozenset({str, bool, type(None)})
_INT_KINDS = frozenset({int, bool})


def _encode_items(v: Any, active: set[int], depth: int, index_segment: str | None) -> list[Any]:
    out = []
    for i, item in enumerate(v):
        try:
            out.append(_encode(item, active, depth))
        except _Unencodable as exc:
            exc.segments.append(index_segment.format(i) if index_segment else f"{{{_brief(item)}}}")
            raise
    return out


def _encode_dict(v: dict[Any, Any], active: set[int], depth: int) -> Any:
    out: dict[str, Any] = {}
    for key, item in v.items():
        if type(key) is not str or key == TAG_KEY:
            return _encode_pairs(v, active, depth)
        if not (key.isascii() or _valid_utf8(key)):
            exc = _Unencodable(key, "the key holds a lone surrogate, which is not valid UTF-8")
            exc.segments.append(f"<key {_brief(key)}>")
            raise exc
        try:
            out[key] = _encode(item, active, depth + 1)
        except _Unencodable as exc:
            exc.segments.append(f"[{key!r}]")
            raise
    return out


def _encode_pairs(v: dict[Any, Any], active: set[int], depth: int) -> Any:
    _fits(v, depth, 3)  # the tagged object, its list of pairs and each [key, value] pair
    pairs = []
    for key, item in v.items():
        try:
            encoded_key = _encode(key, active, depth + 3)
        except _Unencodable as exc:
            exc.segments.append(f"<key {_brief(key)}>")
            raise
        try:
            pairs.append([encoded_key, _encode(item, active, depth + 3)])
        except _Unencodable as exc:
            exc.segments.append(f"[{_brief(key)}]")
            raise
    pairs.sort(key=lambda pair: canonical_bytes(pair[0]))
    return {TAG_KEY: "dict", "v": pairs}


def _typed(v: Any, active: set[int], depth: int) -> Any:
    cls = type(v)
    name = registered_name(cls)
    kind = "enum" if isinstance(v, Enum) else "model" if isinstance(v, BaseModel) else "dataclass"
    if name is None:
        raise _Unencodable(v, f"{kind} class is not registered")
    if kind == "enum":
        _fits(v, depth, 1)
        try:
            return {TAG_KEY: "enum", "type": name, "v": _encode(v.value, active, depth + 1)}
        except _Unencodable as exc:
            exc.segments.append(".value")
            raise
    _fits(v, depth, 2)  # the tagged object and its fields
    if id(v) in active:
        raise _Unencodable(v, "circular reference")
    active.add(id(v))
    try:
        if kind == "model":
            names = list(cls.model_fields)
            fields = _encode_fields(v, names, active, depth + 2)
            out = {TAG_KEY: "model", "type": name, "fields": fields}
            extra = v.__pydantic_extra__
            if extra:
                out["extra"] = _encode_fields(v, list(extra), active, depth + 2, extra)
            unset = [n for n in names if n not in v.model_fields_set]
            if unset:
                out["unset"] = unset
            return out
        names = [f.name for f in dataclasses.fields(v)]
        fields = _encode_fields(v, names, active, depth + 2)
        return {TAG_KEY: "dataclass", "type": name, "fields": fields}
    finally:
        active.discard(id(v))


def _encode_fields(
    v: Any,
    names: list[str],
    active: set[int],
    depth: int,
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    out = {}
    for name in names:
        field = source[name] if source is not None else getattr(v, name)
        try:
            out[name] = _encode(field, active, depth)
        except _Unencodable as exc:
            exc.segments.append(f".{name}")
            raise
    return out


def _encode_temporal(tag: str) -> Callable[[Any], Any]:
    def encode_one(v: Any) -> Any:
        out = {TAG_KEY: tag, "v": v.isoformat()}
        tz = v.tzinfo
        if isinstance(tz, ZoneInfo):
            if tz.key is None:
                raise _Unencodable(v, "its ZoneInfo was loaded from a file and has no key")
            out["zone"] = tz.key
            if tag == "time":
                # A time has no date, so its zone offset is unknown and isoformat omits it.
                out["v"] = v.replace(tzinfo=None).isoformat()
        elif isinstance(tz, timezone):
            offset = tz.utcoffset(None)
            if tz.tzname(None) != timezone(offset).tzname(None):
                out["tzname"] = tz.tzname(None)
        elif tz is not None:
            raise _Unencodable(v, f"tzinfo {type_name(tz)} is not supported; use ZoneInfo")
        if v.fold:
            out["fold"] = 1
        return out

    return encode_one


_SCALARS: dict[type, Callable[[Any], Any]] = {
    datetime: _encode_temporal("datetime"),
    time: _encode_temporal("time"),
    date: lambda v: {TAG_KEY: "date", "v": v.isoformat()},
    timedelta: lambda v: {TAG_KEY: "timedelta", "v": [v.days, v.seconds, v.microseconds]},
    bytes: lambda v: {TAG_KEY: "bytes", "v": base64.b64encode(v).decode("ascii")},
    bytearray: lambda v: {TAG_KEY: "bytearray", "v": base64.b64encode(v).decode("ascii")},
    Decimal: lambda v: {TAG_KEY: "decimal", "v": str(v)},
    UUID: lambda v: {TAG_KEY: "uuid", "v": str(v)},
    **{
        cls: (lambda v: {TAG_KEY: "path", "cls": type(v).__name__, "v": str(v)})
        for cls in PATH_TYPES.values()
    },
}


def _valid_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- bytes ------------------------------------------------------------------------------------


def canonical_bytes(jsonish: object, path: str = "value") -> bytes:
    """The canonical UTF-8 JSON of an encoded tree: sorted keys, no spaces, no NaN.

    Equal trees give equal bytes whatever their dict order, so checksums and deltas are
    stable. ``jsonish`` must come from :func:`encode` (or be plain JSON with str keys).
    """
    try:
        return json.dumps(
            jsonish, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise CheckpointEncodeError(path, type_name(jsonish), f"not a JSON tree: {exc}") from None


def dumps(value: Any, path: str = "value") -> bytes:
    """``canonical_bytes(encode(value, path))``: the stored form of a value."""
    return canonical_bytes(encode(value, path), path)


def loads(data: bytes | bytearray | memoryview | str, path: str = "value") -> Any:
    """Parse bytes made by :func:`dumps` and revive the value; ``CheckpointDecodeError`` if not."""
    try:
        text = data if isinstance(data, str) else bytes(data).decode("utf-8")
        tree = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise CheckpointDecodeError(f"cannot decode {path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise CheckpointDecodeError(f"cannot decode {path}: {TOO_DEEP_TO_LOAD}") from None
    return decode(tree, path)


def checksum(data: bytes | bytearray | memoryview) -> str:
    """``"sha256:" + hex digest`` of ``data`` (the canonical bytes of what is stored)."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _refuse_constant(name: str) -> Any:
    # Canonical bytes never hold NaN/Infinity literals; text that does was not written here.
    raise ValueError(f"{name} is not allowed in canonical JSON")
