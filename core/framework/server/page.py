"""The dashboard's pages: plain HTML and a little JavaScript from ``static/``, no build step.

``/`` lists the runs, ``/runs/{run_id}`` shows one (its live progress from the event
stream, its failed items, its buttons); both read the JSON API from the browser.
``/login?code=...`` is the one-time link ``agentgraph serve`` prints: it sets the session
cookie (``HttpOnly``, ``SameSite=Strict``) that lets the page steer runs, then leads to
``/``. A used or wrong code is refused.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from framework.schemas.ids import validate_run_id
from framework.server.auth import SESSION_COOKIE
from framework.server.replies import ApiError
from framework.server.state import served

__all__ = ["STATIC", "page", "static_files"]

STATIC = Path(__file__).resolve().parent / "static"
"""The page's files."""

page = APIRouter(include_in_schema=False)

_NO_STORE = {"Cache-Control": "no-store"}


def static_files() -> StaticFiles:
    """The page's scripts and styles, served under ``/static``."""
    return StaticFiles(directory=STATIC)


@page.get("/")
async def runs_page() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers=_NO_STORE)


@page.get("/runs/{run_id}")
async def run_page(run_id: str) -> FileResponse:
    validate_run_id(run_id)
    return FileResponse(STATIC / "run.html", headers=_NO_STORE)


@page.get("/login")
async def login(request: Request, code: str = Query(default="", max_length=200)) -> Response:
    session = served(request).auth.log_in(code)
    if session is None:
        raise ApiError(
            403,
            "this login link is wrong or was used already; restart agentgraph serve for a new one",
        )
    moved = RedirectResponse("/", status_code=303, headers=_NO_STORE)
    moved.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="strict", path="/")
    return moved
