"""Id validation: every run, node and checkpoint id is checked where it enters storage or a log.

Ids become folder names, file names and query parameters, so an id is accepted only when it
is safe in all of them on every platform: short, ASCII letters, digits and ``_ . : @ + -``,
no separators, no ``..``, no leading ``.`` or ``-``, no drive prefix, no Windows device
name. Checking the allowed alphabet alone would already exclude most bad forms; the
specific checks come first so the error says *why* an id was refused.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from framework.errors import InvalidIdError

__all__ = [
    "CHECKPOINT_ID_MAX_LENGTH",
    "ID_MAX_LENGTH",
    "validate_checkpoint_id",
    "validate_id",
    "validate_key",
    "validate_node_id",
    "validate_run_id",
]

ID_MAX_LENGTH = 128
# Checkpoint ids embed a run id and a node id, so they may be longer.
CHECKPOINT_ID_MAX_LENGTH = 300

_ALLOWED = re.compile(r"[A-Za-z0-9_.:@+\-]+")
_DRIVE = re.compile(r"[A-Za-z]:")
# Windows opens these as devices whatever the extension ("nul.json" included).
_DEVICE_NAMES = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)
_HINT = "ids may use ASCII letters, digits and _ . : @ + -"


def validate_id(value: Any, kind: str = "run id", max_length: int = ID_MAX_LENGTH) -> str:
    """Return ``value`` unchanged if it is a safe id, else raise :class:`InvalidIdError`.

    The message names ``kind`` (e.g. ``"run id"``) and the first reason the id is unsafe.
    """
    return _checked(value, kind, _verdict(value, max_length, True))


def validate_key(value: Any, kind: str, max_length: int = CHECKPOINT_ID_MAX_LENGTH) -> str:
    """Like :func:`validate_id`, for keys that are hashed before they name a file.

    Such a key never is a file name on its own, so the rules only file names need (drive
    prefixes, Windows device names) do not apply: ``"a:send"`` (node ``a``) is a valid key.
    """
    return _checked(value, kind, _verdict(value, max_length, False))


def _checked(value: Any, kind: str, reason: str | None) -> str:
    if reason is None:
        return str(value)
    shown = repr(value) if not isinstance(value, str) or len(value) <= 60 else repr(value[:60])
    raise InvalidIdError(f"invalid {kind} {shown}: {reason}; {_HINT}")


def validate_run_id(value: Any) -> str:
    return validate_id(value, "run id")


def validate_node_id(value: Any) -> str:
    return validate_id(value, "node id")


def validate_checkpoint_id(value: Any) -> str:
    return validate_id(value, "checkpoint id", CHECKPOINT_ID_MAX_LENGTH)


def _verdict(value: Any, max_length: int, file_name: bool) -> str | None:
    """:func:`_problem`, remembered for text: a run checks the same few ids at every step."""
    if type(value) is str:
        return _text_problem(value, max_length, file_name)
    return _problem(value, max_length, file_name=file_name)


@functools.lru_cache(maxsize=4096)
def _text_problem(value: str, max_length: int, file_name: bool) -> str | None:
    return _problem(value, max_length, file_name=file_name)


def _problem(value: Any, max_length: int, *, file_name: bool = True) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__}"
    if not value:
        return "must not be empty"
    if len(value) > max_length:
        return f"is {len(value)} characters long, at most {max_length} are allowed"
    if _ALLOWED.fullmatch(value):
        # The alphabet holds no control character, space or separator: only the checks
        # that look at the id's shape are left, in the same order.
        return "contains '..'" if ".." in value else _shape_problem(value, file_name)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return "contains a NUL or control character"
    if any(ch.isspace() for ch in value):
        return "contains whitespace"
    if ".." in value:
        return "contains '..'"
    if "/" in value or "\\" in value:
        return "contains a path separator"
    if problem := _shape_problem(value, file_name):
        return problem
    bad = next(ch for ch in value if not _ALLOWED.fullmatch(ch))
    return f"contains the character {bad!r}"


def _shape_problem(value: str, file_name: bool) -> str | None:
    if value[0] in ".-":
        return f"must not start with {value[0]!r}"
    if file_name and _DRIVE.match(value):
        return "starts like a drive (e.g. 'C:')"
    if value.endswith("."):
        return "must not end with '.'"
    if file_name and value.split(".", 1)[0].lower() in _DEVICE_NAMES:
        return "is a reserved device name on Windows"
    return None
