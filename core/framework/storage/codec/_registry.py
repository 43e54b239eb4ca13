"""The types the codec revives: the registry of models, dataclasses and enums, and its tag key.

Checkpoints name a registered class by a stable string; loading looks that string up here
and nowhere else, so stored data can never make the process import a module. The
framework's own stored models and enums are registered when this module is imported.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from enum import Enum
from pathlib import PosixPath, PurePosixPath, PureWindowsPath, WindowsPath
from typing import Any, TypeVar, overload

from pydantic import BaseModel

from framework.schemas.checkpoint import (
    Checkpoint,
    CheckpointKind,
    CheckpointMetadata,
    ExecutorType,
    PlanState,
)
from framework.schemas.config import (
    CheckpointConfig,
    Durability,
    InDoubtPolicy,
    OnSaveError,
    RetentionStrategy,
    SaveFrequency,
)
from framework.schemas.control import ControlAction, ControlSignal
from framework.schemas.effect import EffectRecord, EffectStatus
from framework.schemas.lease import Lease
from framework.schemas.run import RunBudget, RunRecord, RunStatus, RunTotals

__all__ = [
    "PATH_TYPES",
    "TAG_KEY",
    "qualified_name",
    "register_type",
    "registered_class",
    "registered_name",
    "type_name",
]

# The one reserved key: a dict holding it is a tagged value, every other dict is plain data.
TAG_KEY = "__ag__"
# Concrete path classes, revived by name (``Path("x")`` is a ``PosixPath`` on POSIX).
PATH_TYPES: dict[str, type] = {
    cls.__name__: cls for cls in (PurePosixPath, PureWindowsPath, PosixPath, WindowsPath)
}
T = TypeVar("T", bound=type)

_registry_lock = threading.Lock()
_by_name: dict[str, type] = {}
_by_type: dict[type, str] = {}


@overload
def register_type(cls: T, name: str | None = None) -> T: ...
@overload
def register_type(cls: None = None, name: str | None = None) -> Callable[[T], T]: ...
def register_type(cls: T | None = None, name: str | None = None) -> T | Callable[[T], T]:
    """Allow a pydantic model, dataclass or Enum class to be stored and revived.

    ``name`` (default ``f"{module}.{qualname}"``) is what checkpoints record, so give a
    stable one if the class may move. Works as ``@register_type`` and
    ``@register_type(name="...")``. Registering a redefinition of the same class (same module
    and qualname, e.g. after a reload) replaces it; a different class under a taken name, or
    a second name for one class, is a ``ValueError``.
    """
    if cls is None:
        return lambda c: register_type(c, name)
    if not isinstance(cls, type) or not (
        issubclass(cls, (BaseModel, Enum)) or dataclasses.is_dataclass(cls)
    ):
        raise TypeError(
            f"register_type needs a pydantic model, dataclass or Enum class, got {cls!r}"
        )
    key = name if name is not None else f"{cls.__module__}.{cls.__qualname__}"
    if not isinstance(key, str) or not key:
        raise ValueError("a registered type name must be a non-empty string")
    with _registry_lock:
        taken = _by_name.get(key)
        if taken is not None and taken is not cls and qualified_name(taken) != qualified_name(cls):
            raise ValueError(
                f"type name {key!r} is already registered for {qualified_name(taken)}; "
                "register the other class under a different name"
            )
        previous = _by_type.get(cls)
        if previous is not None and previous != key:
            raise ValueError(f"{qualified_name(cls)} is already registered as {previous!r}")
        if taken is not None:
            _by_type.pop(taken, None)
        _by_name[key] = cls
        _by_type[cls] = key
    return cls


def registered_class(name: str) -> type | None:
    """The class registered under ``name``, or ``None``."""
    return _by_name.get(name)


def registered_name(cls: type) -> str | None:
    """The name ``cls`` is stored under, or ``None`` if it is not registered."""
    return _by_type.get(cls)


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def type_name(value: Any) -> str:
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else qualified_name(cls)


# The framework's own types, under the names the first release stored them by: a class
# that moves to another module keeps its stored name, so old checkpoints still revive.
for _module, _types in (
    (
        "framework.schemas.checkpoint",
        (
            Checkpoint,
            CheckpointConfig,
            CheckpointKind,
            CheckpointMetadata,
            Durability,
            ExecutorType,
            InDoubtPolicy,
            OnSaveError,
            PlanState,
            RetentionStrategy,
            SaveFrequency,
        ),
    ),
    ("framework.schemas.run", (RunBudget, RunRecord, RunStatus, RunTotals)),
    ("framework.schemas.lease", (Lease,)),
    ("framework.schemas.control", (ControlAction, ControlSignal)),
    ("framework.schemas.effect", (EffectRecord, EffectStatus)),
):
    for _own in _types:
        register_type(_own, f"{_module}.{_own.__qualname__}")
