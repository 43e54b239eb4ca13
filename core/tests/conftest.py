"""Fixtures every test folder shares; the storage backends come from ``framework.testing``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from framework.testing.fake_endpoint import FakeEndpoint, Reply, Script
from framework.testing.fakes import FakeRecorder


@pytest.fixture
def recorder() -> FakeRecorder:
    """A recorder the executors report to, remembering every call."""
    return FakeRecorder()


@pytest.fixture
def endpoint() -> Iterator[Callable[..., FakeEndpoint]]:
    """``endpoint(script, default=None)``: a :class:`FakeEndpoint` (a model's HTTP endpoint
    on 127.0.0.1) serving ``script``, closed when the test ends."""
    started: list[FakeEndpoint] = []

    def start(script: Script, *, default: Reply | None = None) -> FakeEndpoint:
        server = FakeEndpoint(script, default=default)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()
