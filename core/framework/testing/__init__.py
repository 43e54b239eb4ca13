"""What a test of the framework, or of a backend or executor built on it, needs.

:mod:`framework.testing.conformance` is the storage conformance kit (harnesses, their
registry and the pytest fixtures), :mod:`framework.testing.fakes` the fakes of the
framework's protocols, :mod:`framework.testing.fake_endpoint` a scripted HTTP endpoint for
tests of model providers. The names below load on first use; the kit needs pytest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework._lazy import lazy_exports

if TYPE_CHECKING:
    from framework.testing.conformance import HARNESSES as HARNESSES
    from framework.testing.conformance import FileHarness as FileHarness
    from framework.testing.conformance import Harness as Harness
    from framework.testing.conformance import MemoryHarness as MemoryHarness
    from framework.testing.conformance import SQLiteHarness as SQLiteHarness
    from framework.testing.conformance import flip as flip
    from framework.testing.conformance import register_harness as register_harness
    from framework.testing.fake_endpoint import FakeEndpoint as FakeEndpoint
    from framework.testing.fake_endpoint import Reply as Reply
    from framework.testing.fakes import DiskFull as DiskFull
    from framework.testing.fakes import FakeRecorder as FakeRecorder

_CONFORMANCE = "framework.testing.conformance"
_EXPORTS = {
    "DiskFull": "framework.testing.fakes",
    "FakeEndpoint": "framework.testing.fake_endpoint",
    "Reply": "framework.testing.fake_endpoint",
    "FakeRecorder": "framework.testing.fakes",
    "FileHarness": _CONFORMANCE,
    "HARNESSES": _CONFORMANCE,
    "Harness": _CONFORMANCE,
    "MemoryHarness": _CONFORMANCE,
    "SQLiteHarness": _CONFORMANCE,
    "flip": _CONFORMANCE,
    "register_harness": _CONFORMANCE,
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
