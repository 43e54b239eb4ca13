"""A scripted HTTP server on 127.0.0.1: the model endpoint provider tests talk to (ours, and
those of a provider of one's own).

Each request gets the next scripted :class:`Reply` (or what a function of the request
returns), so a test says exactly what the endpoint does: answer, refuse with 429 and a
``retry-after``, fail with 500, stall past the client's timeout, send a broken body. Every
request is kept in :attr:`FakeEndpoint.requests` for assertions, headers and parsed body
included.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeEndpoint", "Received", "Reply", "Script"]


@dataclass
class Reply:
    """One scripted response: a dict body is sent as JSON, a str or bytes body as is."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering (past the client's timeout: a timeout)."""


@dataclass
class Received:
    """One request the endpoint received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    """The JSON body parsed, else the raw text."""


Script = Sequence[Reply | Callable[[Received], Reply]] | Callable[[Received], Reply]


class FakeEndpoint:
    """Serves ``script`` (a list consumed in order, or a function) on a free port; after the
    list is used up every request gets ``default`` (a 500 saying so, unless given)."""

    def __init__(self, script: Script, *, default: Reply | None = None) -> None:
        self._function = script if callable(script) else None
        self._script = [] if callable(script) else list(script)
        self._default = default or Reply(500, {"error": {"message": "script used up"}})
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next(self, received: Received) -> Reply:
        with self._lock:
            self.requests.append(received)
            if self._function is not None:
                step: Reply | Callable[[Received], Reply] = self._function
            elif self._script:
                step = self._script.pop(0)
            else:
                step = self._default
        return step(received) if callable(step) else step

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                try:
                    body: Any = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = raw
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = endpoint._next(Received("POST", self.path, headers, body))
                if reply.delay:
                    time.sleep(reply.delay)
                if isinstance(reply.body, dict | list):
                    payload = json.dumps(reply.body).encode("utf-8")
                    content_type = "application/json"
                elif isinstance(reply.body, bytes):
                    payload, content_type = reply.body, "application/json"
                else:
                    payload = str(reply.body or "").encode("utf-8")
                    content_type = "application/json"
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", content_type)
                    self.send_header("content-length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
