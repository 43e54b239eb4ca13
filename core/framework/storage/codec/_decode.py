"""Decoding: encoded JSON trees back to the exact Python values they came from.

The inverse of :func:`framework.storage.codec.encode`. Anything it does not recognise is an
error that names where in the tree it is, never a dict passed on as if it were data.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from framework.errors import CheckpointDecodeError
from framework.storage.codec._limits import MAX_DEPTH
from framework.storage.codec._registry import (
    PATH_TYPES,
    TAG_KEY,
    qualified_name,
    registered_class,
    type_name,
)

__all__ = ["TOO_DEEP_TO_LOAD", "decode"]

TOO_DEEP_TO_LOAD = (
    f"nested too deeply to load (this version saves at most {MAX_DEPTH} levels); "
    "the data is damaged or was not written by agentgraph"
)

_HEX_INT = re.compile(r"-?[0-9a-f]+")


class _Undecodable(Exception):
    """Raised deep inside; each container on the way out adds its path segment."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.segments: list[str] = []


# What a malformed payload raises inside a tag's decoder (missing key, wrong type, bad text).
_MALFORMED = (
    KeyError,
    TypeError,
    ValueError,
    AttributeError,
    ArithmeticError,
    NotImplementedError,
)


def decode(data: Any, path: str = "value") -> Any:
    """Revive a tree made by :func:`encode`.

    Raises ``CheckpointDecodeError`` naming the path for an unknown tag, a type name that
    is not registered (nothing is ever imported), a class whose fields no longer match, or a
    malformed payload — never returns a tagged dict as if it were data.
    """
    try:
        return _decode(data)
    except _Undecodable as exc:
        where = path + "".join(reversed(exc.segments))
        raise CheckpointDecodeError(f"cannot decode {where}: {exc.reason}") from None
    except RecursionError:
        raise CheckpointDecodeError(f"cannot decode {path}: {TOO_DEEP_TO_LOAD}") from None


def _decode(x: Any) -> Any:
    t = type(x)
    if t is str or t is int or t is float or t is bool or x is None:
        return x
    if t is list:
        return _decode_items(x)
    if t is dict:
        if TAG_KEY in x:
            return _decode_tagged(x)
        return _decode_fields(x)
    raise _Undecodable(f"{type_name(x)} is not a JSON value")


def _decode_items(items: Any) -> list[Any]:
    if type(items) is not list:
        raise TypeError(f"expected a list, got {type_name(items)}")
    out = []
    for i, item in enumerate(items):
        try:
            out.append(_decode(item))
        except _Undecodable as exc:
            exc.segments.append(f"[{i}]")
            raise
    return out


def _decode_fields(fields: Any, segment: str = "[{!r}]") -> dict[str, Any]:
    if type(fields) is not dict:
        raise TypeError(f"expected an object, got {type_name(fields)}")
    out = {}
    for key, item in fields.items():
        try:
            out[key] = _decode(item)
        except _Undecodable as exc:
            exc.segments.append(segment.format(key))
            raise
    return out


def _decode_tagged(x: dict[str, Any]) -> Any:
    tag = x[TAG_KEY]
    handler = _DECODERS.get(tag) if type(tag) is str else None
    if handler is None:
        raise _Undecodable(
            f"unknown type tag {tag!r}; the data was written by a newer version or is damaged"
        )
    try:
        return handler(x)
    except _MALFORMED as exc:
        raise _Undecodable(f"malformed {tag} value ({type(exc).__name__}: {exc})") from None


def _text(value: Any) -> str:
    if type(value) is not str:
        raise TypeError(f"expected text, got {type_name(value)}")
    return value


def _decode_int(x: dict[str, Any]) -> int:
    text = _text(x["v"])
    if not _HEX_INT.fullmatch(text):
        raise ValueError(f"{text[:20]!r} is not lowercase hexadecimal")
    return int(text, 16)


def _decode_non_finite(x: dict[str, Any]) -> float:
    text = _text(x["v"])
    if text not in ("nan", "inf", "-inf"):
        raise ValueError(f"{text[:20]!r} is not nan, inf or -inf")
    return float(text)  # a new NaN each time: distinct NaNs in a set stay distinct


def _decode_temporal(parse: Callable[[str], Any]) -> Callable[[dict[str, Any]], Any]:
    def decode_one(x: dict[str, Any]) -> Any:
        value = parse(_text(x["v"]))
        if "zone" in x:
            value = value.replace(tzinfo=ZoneInfo(_text(x["zone"])))
        if "tzname" in x:
            value = value.replace(tzinfo=timezone(value.utcoffset(), _text(x["tzname"])))
        if x.get("fold"):
            value = value.replace(fold=1)
        return value

    return decode_one


def _decode_pairs(x: dict[str, Any]) -> dict[Any, Any]:
    out = {}
    for i, pair in enumerate(x["v"]):
        raw_key, raw_value = pair
        try:
            key = _decode(raw_key)
            out[key] = _decode(raw_value)
        except _Undecodable as exc:
            exc.segments.append(f"<pair {i}>")
            raise
    return out


def _lookup(x: dict[str, Any], kind: str) -> Any:
    name = _text(x["type"])
    cls = registered_class(name)
    if cls is None:
        raise _Undecodable(
            f"type {name!r} is not registered; call framework.storage.codec.register_type "
            "on it before loading"
        )
    fits: Callable[[type], bool] = {
        "enum": lambda c: issubclass(c, Enum),
        "model": lambda c: issubclass(c, BaseModel),
        "dataclass": lambda c: (
            isinstance(c, type) and dataclasses.is_dataclass(c) and not issubclass(c, BaseModel)
        ),
    }[kind]
    if not fits(cls):
        raise _Undecodable(f"{name!r} names {qualified_name(cls)}, which is not of kind {kind}")
    return cls


def _decode_enum(x: dict[str, Any]) -> Enum:
    cls: type[Enum] = _lookup(x, "enum")
    try:
        value = _decode(x["v"])
    except _Undecodable as exc:
        exc.segments.append(".value")
        raise
    return cls(value)


def _decode_model(x: dict[str, Any]) -> BaseModel:
    cls: type[BaseModel] = _lookup(x, "model")
    fields = _decode_fields(x["fields"], ".{}")
    extra = _decode_fields(x.get("extra", {}), ".{}")
    known = cls.model_fields
    _check_fields(
        x["type"], set(fields), set(known), {n for n, f in known.items() if f.is_required()}
    )
    if extra and cls.model_config.get("extra") != "allow":
        raise _Undecodable(
            f"{x['type']} has extra fields {sorted(extra)} but no longer allows them"
        )
    unset = set(x.get("unset", []))
    fields_set = (set(fields) - unset) | set(extra)
    return cls.model_construct(_fields_set=fields_set, **fields, **extra)


def _decode_dataclass(x: dict[str, Any]) -> Any:
    cls = _lookup(x, "dataclass")
    values = _decode_fields(x["fields"], ".{}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    required = {
        n
        for n, f in known.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    _check_fields(x["type"], set(values), set(known), required)
    # Revive without __init__/__post_init__ so the fields are exactly what was stored.
    obj = cls.__new__(cls)
    for name, spec in known.items():
        if name in values:
            value = values[name]
        elif spec.default is not dataclasses.MISSING:
            value = spec.default
        else:
            factory = spec.default_factory
            assert callable(factory)  # a field with neither default is required, so stored
            value = factory()
        object.__setattr__(obj, name, value)
    return obj


def _check_fields(name: str, stored: set[str], known: set[str], required: set[str]) -> None:
    unknown, missing = stored - known, required - stored
    if unknown or missing:
        raise _Undecodable(
            f"{name} no longer matches what was stored (fields stored but not defined: "
            f"{sorted(unknown)}; required fields not stored: {sorted(missing)})"
        )


_DECODERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "int": _decode_int,
    "float": _decode_non_finite,
    "tuple": lambda x: tuple(_decode_items(x["v"])),
    "set": lambda x: set(_decode_items(x["v"])),
    "frozenset": lambda x: frozenset(_decode_items(x["v"])),
    "dict": _decode_pairs,
    "datetime": _decode_temporal(datetime.fromisoformat),
    "date": lambda x: date.fromisoformat(_text(x["v"])),
    "time": _decode_temporal(time.fromisoformat),
    "timedelta": lambda x: timedelta(*x["v"]),
    "bytes": lambda x: base64.b64decode(_text(x["v"]), validate=True),
    "bytearray": lambda x: bytearray(base64.b64decode(_text(x["v"]), validate=True)),
    "decimal": lambda x: Decimal(_text(x["v"])),
    "uuid": lambda x: UUID(_text(x["v"])),
    "path": lambda x: PATH_TYPES[x["cls"]](_text(x["v"])),
    "enum": _decode_enum,
    "model": _decode_model,
    "dataclass": _decode_dataclass,
}
