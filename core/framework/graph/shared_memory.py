"""Shared memory: the key-value state nodes read from and write to during one run."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from framework.errors import MemoryAccessError

__all__ = ["SharedMemory"]


class SharedMemory:
    """Key-value state shared by the nodes of a run.

    ``with_permissions`` returns a scoped view over the *same* data: a node given a view
    can read only its ``read_keys`` and write only its ``write_keys`` (``None`` means any
    key), and what it writes is seen by every other view at once.
    """

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        read_keys: Iterable[str] | None = None,
        write_keys: Iterable[str] | None = None,
        _shared: dict[str, Any] | None = None,
    ) -> None:
        self._data: dict[str, Any] = _shared if _shared is not None else dict(data or {})
        self._read_keys = None if read_keys is None else frozenset(read_keys)
        self._write_keys = None if write_keys is None else frozenset(write_keys)

    def read(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` when it was never written."""
        self._check(key, self._read_keys, "read")
        return self._data.get(key, default)

    def write(self, key: str, value: Any) -> None:
        self._check(key, self._write_keys, "write")
        self._data[key] = value

    def update(self, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            self.write(key, value)

    def read_all(self) -> dict[str, Any]:
        """A shallow copy of every key this view may read."""
        if self._read_keys is None:
            return dict(self._data)
        return {k: v for k, v in self._data.items() if k in self._read_keys}

    def with_permissions(
        self,
        read_keys: Iterable[str] | None = None,
        write_keys: Iterable[str] | None = None,
    ) -> SharedMemory:
        """A view over the same data restricted to the given keys (``None``: unrestricted)."""
        return SharedMemory(read_keys=read_keys, write_keys=write_keys, _shared=self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"SharedMemory(keys={sorted(self._data)!r})"

    @staticmethod
    def _check(key: str, allowed: frozenset[str] | None, verb: str) -> None:
        if allowed is not None and key not in allowed:
            raise MemoryAccessError(
                f"may not {verb} memory key {key!r}; allowed: {sorted(allowed)!r}"
            )
