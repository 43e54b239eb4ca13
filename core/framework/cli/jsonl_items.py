"""A batch's items from a JSONL file: one JSON object a line, read as the batch needs them.

The file is never loaded whole: lines are parsed one by one while the batch adds them to
its ledger. Blank lines are skipped. A line that is not UTF-8, not JSON, not an object, or
(with an id key) lacks a usable id stops the batch (failed, resumable) with an
:class:`~framework.errors.InvalidArgumentError` naming the file and the line number; once
the line is fixed, running the command again continues the batch, and items already done
do not run again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from framework.errors import InvalidArgumentError
from framework.runner.loader import why_unparsable

__all__ = ["jsonl_items"]

_JSON_KINDS = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}


def jsonl_items(path: Path, id_key: str | None = None) -> Iterator[dict[str, Any]]:
    """The objects of the JSONL file ``path``, in order (see the module docs)."""
    try:
        with path.open("rb") as lines:
            for number, raw in enumerate(lines, 1):
                item = _parsed(path, number, raw)
                if item is None:
                    continue
                if id_key is not None:
                    _check_id(path, number, item, id_key)
                yield item
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read {path}: {exc.strerror or exc}") from None


def _parsed(path: Path, number: int, raw: bytes) -> dict[str, Any] | None:
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
        if not text.strip():
            return None
        value = json.loads(text)
    except UnicodeDecodeError:
        raise _bad_line(path, number, "is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise _bad_line(
            path, number, f"is not valid JSON: {exc.msg} at column {exc.colno}"
        ) from None
    except (RecursionError, ValueError) as exc:
        raise _bad_line(path, number, f"cannot be read: {why_unparsable(exc)}") from None
    if not isinstance(value, dict):
        kind = _JSON_KINDS.get(type(value), "a number")
        raise _bad_line(path, number, f"is {kind}, not a JSON object")
    return value


def _check_id(path: Path, number: int, item: dict[str, Any], id_key: str) -> None:
    value = item.get(id_key)
    if value is None:
        raise _bad_line(path, number, f"has no {id_key!r} field to take its id from (--id-key)")
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise _bad_line(
            path, number, f"has {id_key}={value!r}; an item id is a string or an integer"
        )


def _bad_line(path: Path, number: int, problem: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"{path} line {number} {problem}; fix that line and run the same command again "
        "(items already done do not run again)"
    )
