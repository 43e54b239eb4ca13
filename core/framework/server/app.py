"""The ASGI application of ``agentgraph serve``: the JSON API, the event streams, the page.

FastAPI (on Starlette) rather than bare Starlette: the OpenAPI document
(``/api/openapi.json``) is generated from the same declarations that validate each
request, so the document the fuzz tests read cannot drift from the routes. The storage is
opened when the app starts and closed when it stops; runs the server continues
(:class:`~.resumer.Resumer`) run in the app's task group, and stop with it (their items or
node in flight run again on the next resume).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata

import anyio
from fastapi import FastAPI

from framework.cli.storage_option import opened
from framework.server.api import api
from framework.server.auth import Auth
from framework.server.page import page, static_files
from framework.server.replies import install_error_handlers
from framework.server.resumer import Resumer
from framework.server.state import Served, ServerConfig
from framework.settings import api_token, default_storage_url

__all__ = ["ServerConfig", "create_app"]


def create_app(config: ServerConfig | None = None) -> FastAPI:
    """The app serving ``config``'s storage; its :class:`~.auth.Auth` (token, login code) is
    ``app.state.served.auth``. A broken ``--agent`` folder raises ``AgentLoadError`` here."""
    config = config or ServerConfig()
    url = config.storage or default_storage_url()
    state = Served(
        config=config,
        auth=Auth(config.token or api_token(), read_only=config.read_only),
        resumer=Resumer(config.agents, url),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with opened(config.storage) as manager, anyio.create_task_group() as group:
            state.manager = manager
            state.resumer.attach(group)
            try:
                yield
            finally:
                state.resumer.attach(None)
                group.cancel_scope.cancel()
                state.manager = None

    app = FastAPI(
        title="agentgraph",
        version=metadata.version("agentgraph-durable"),
        summary="See and steer durable runs and batches.",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.served = state
    install_error_handlers(app)
    app.include_router(api)
    app.include_router(page)
    app.mount("/static", static_files(), name="static")
    return app
