"""``agentgraph serve``: the HTTP API and web dashboard of a storage (the ``server`` extra).

Prints where it listens, the one-time login link of the page, and the bearer token that
scripts send with each request that changes a run (``$AGENTGRAPH_API_TOKEN`` if set, so
it is printed only when generated). Binds to 127.0.0.1 unless ``--host`` says otherwise.
Without the extra installed, one line says how to install it; exit 1. Ctrl-C stops the
server; the runs it was continuing (``--agent``) run again from their last saved state on
the next resume.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated

import anyio
import typer

from framework.cli.output import errors_as_messages, fail, say
from framework.cli.storage_option import StorageUrl
from framework.settings import api_token, default_storage_url

__all__ = ["serve"]

_NEEDED = ("fastapi", "uvicorn")


def serve(
    storage: StorageUrl = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port.")] = 8765,
    agent: Annotated[
        list[Path] | None,
        typer.Option(
            "--agent",
            help="Agent folder whose runs the server may resume itself (repeat for more).",
            show_default=False,
        ),
    ] = None,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Refuse every request that changes a run.")
    ] = False,
    interval: Annotated[
        float,
        typer.Option("--interval", min=0.05, help="Seconds between two reads of a followed run."),
    ] = 1.0,
) -> None:
    """Serve the runs of storage: a JSON API and a dashboard to see and steer them."""
    missing = [name for name in _NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        fail(
            f"agentgraph serve needs {' and '.join(missing)}: "
            "pip install 'agentgraph-durable[server]'"
        )
    import uvicorn

    from framework.server import ServerConfig, create_app

    config = ServerConfig(
        storage=storage,
        agents=tuple(agent or ()),
        read_only=read_only,
        interval=interval,
    )
    with errors_as_messages():
        app = create_app(config)
    auth = app.state.served.auth
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    shown = f"[{host}]" if ":" in host else host

    async def serving() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(server.serve)
            while not server.started:
                await anyio.sleep(0.02)
            bound = server.servers[0].sockets[0].getsockname()[1]
            base = f"http://{shown}:{bound}"
            say(f"serving {config.storage or default_storage_url()} at {base}/")
            say(f"log in to the dashboard (once) at: {base}/login?code={auth.login_code}")
            if read_only:
                say("read-only: every change is refused")
            elif api_token() is None:
                say(f"API token (Authorization: Bearer ...): {auth.token}")

    anyio.run(serving)
