"""What the API answers: versioned JSON documents, and every error as ``{"error": message}``.

A document carries the ``schema_version`` of the command line's ``--json`` output
(:data:`~framework.cli.output.JSON_SCHEMA_VERSION`), so a script reads both alike. An error
is one line saying what failed and what to do, with the status that fits it: 400 bad
input, 401 / 403 refused, 404 not in storage, 409 not possible for the run as it stands,
503 storage failing. Nothing a client sends yields a 5xx or a traceback; a bug is a 500
with a one-line message.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from framework.cli.output import JSON_SCHEMA_VERSION
from framework.errors import (
    AgentGraphError,
    InvalidArgumentError,
    LeaseHeldError,
    RunNotFoundError,
    StorageError,
)

__all__ = ["ApiError", "answer", "install_error_handlers"]

_LOG = logging.getLogger("framework.server")


class ApiError(Exception):
    """A request the API refuses: ``status`` and a one-line ``message``; ``extra`` keys are
    added to the error document (such as the command that does what was asked)."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def answer(document: dict[str, Any], status: int = 200) -> JSONResponse:
    """``document`` with its ``schema_version``, as the command line prints it."""
    return JSONResponse({"schema_version": JSON_SCHEMA_VERSION, **document}, status_code=status)


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body = {"error": " ".join(message.split()), **extra}
    return JSONResponse(body, status_code=status, headers=headers)


def _status_of(exc: AgentGraphError) -> int:
    if isinstance(exc, RunNotFoundError):
        return 404
    if isinstance(exc, InvalidArgumentError):
        return 400
    if isinstance(exc, LeaseHeldError):
        return 409
    if isinstance(exc, StorageError):
        return 503
    return 409


def _validation_message(exc: RequestValidationError) -> str:
    said = []
    for problem in exc.errors():
        where = ".".join(str(part) for part in problem.get("loc", ()) if part != "body")
        said.append(f"{where or 'request'}: {problem.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(said)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error ``app`` answers a JSON ``{"error": ...}`` document."""

    async def refused(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return _error(exc.status, exc.message, **exc.extra)

    async def framework_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AgentGraphError)
        return _error(_status_of(exc), str(exc))

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _error(400, _validation_message(exc))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return _error(404, f"no such page or endpoint: {request.url.path}")
        if exc.status_code == 405:
            return _error(405, f"{request.method} is not allowed on {request.url.path}")
        return _error(exc.status_code, str(exc.detail))

    async def bug(request: Request, exc: Exception) -> JSONResponse:
        _LOG.error("internal error answering %s %s", request.method, request.url.path, exc_info=exc)
        said = " ".join(str(exc).split())
        return _error(500, f"internal error: {type(exc).__name__}: {said} (please report it)")

    app.add_exception_handler(ApiError, refused)
    app.add_exception_handler(AgentGraphError, framework_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, bug)
