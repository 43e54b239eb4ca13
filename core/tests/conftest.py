"""Fixtures every test folder shares; the storage backends come from ``framework.testing``."""

from __future__ import annotations

import pytest

from framework.testing.fakes import FakeRecorder


@pytest.fixture
def recorder() -> FakeRecorder:
    """A recorder the executors report to, remembering every call."""
    return FakeRecorder()
