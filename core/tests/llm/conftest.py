"""Fixtures of the provider tests: scripted endpoints, closed when the test ends."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fake_endpoint import FakeEndpoint, Reply, Script


@pytest.fixture
def endpoint() -> Iterator[Callable[..., FakeEndpoint]]:
    """``endpoint(script, default=None)``: a :class:`FakeEndpoint` serving ``script``."""
    started: list[FakeEndpoint] = []

    def start(script: Script, *, default: Reply | None = None) -> FakeEndpoint:
        server = FakeEndpoint(script, default=default)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()
