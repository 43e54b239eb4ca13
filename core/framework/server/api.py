"""The JSON API: the view commands' answers and the steering commands, over HTTP.

Every ``GET`` answers what the command of the same question prints with ``--json``, in the
same shape (:mod:`framework.cli.shapes`), read by the same :class:`~framework.cli.reading.Reader`:
``/api/runs`` is ``agentgraph runs`` (its filters as query parameters), ``/api/runs/{id}``
is ``status``, ``.../checkpoints`` and ``.../checkpoints/{ref}`` are ``checkpoints`` and
``inspect``, ``.../items`` is ``items``, and ``.../events`` streams the run's updates
(:mod:`.live`). Each ``POST`` steers the run (:mod:`.actions`) and needs a writer
(:class:`~.auth.Auth`). Run ids, checkpoint refs and filters are validated as on the
command line; a bad one is a 400 naming it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from framework.cli.reading import Reader
from framework.cli.run_filters import RunSelection, moment
from framework.cli.shapes import (
    GroupBy,
    checkpoint_document,
    checkpoint_row,
    group_rows,
    item_row,
    run_row,
    run_status,
)
from framework.cli.views import DEFAULT_LIMIT
from framework.errors import InvalidArgumentError
from framework.schemas.checkpoint import ExecutorType
from framework.schemas.ids import (
    validate_checkpoint_id,
    validate_id,
    validate_key,
    validate_run_id,
)
from framework.schemas.item import ItemStatus
from framework.schemas.run import RunBudget, RunRecord, RunStatus
from framework.server import actions
from framework.server.live import run_events
from framework.server.replies import ApiError, answer
from framework.server.state import Served, served

__all__ = ["api"]

api = APIRouter(prefix="/api")

MAX_LIMIT = 10_000
"""The most runs or items one request lists."""

Server = Annotated[Served, Depends(served)]
Limit = Annotated[
    int | None,
    Query(ge=1, le=MAX_LIMIT, description=f"List at most this many (default {DEFAULT_LIMIT})."),
]
Text = Annotated[str | None, Query(max_length=1000)]


def _reader(server: Served) -> Reader:
    return Reader(server.open_manager.storage, server.config.storage)


def _run_id(run_id: str) -> str:
    return validate_run_id(run_id)


RunId = Annotated[str, Depends(_run_id)]


_BEARER = HTTPBearer(auto_error=False, description="The token agentgraph serve printed.")


def _writer(
    request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
) -> None:
    served(request).auth.check_writer(request)


Writer = Depends(_writer)


def _moment(name: str, text: str | None) -> Any:
    if text is None:
        return None
    try:
        return moment(text)
    except InvalidArgumentError as exc:
        raise ApiError(400, f"{name}: {exc}") from None


# --- reading ----------------------------------------------------------------------------


@api.get("/runs", summary="List runs, newest first (agentgraph runs --json)")
async def list_runs(
    server: Server,
    status: RunStatus | None = None,
    agent: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[str | None, Query(max_length=100)] = None,
    until: Annotated[str | None, Query(max_length=100)] = None,
    error_contains: Text = None,
    limit: Limit = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    group_by: GroupBy | None = None,
) -> JSONResponse:
    """The runs the filters match: ``{"runs": [...]}``, or with ``group_by``
    ``{"groups": [...]}`` (every matching run counted; no limit or offset)."""
    selection = RunSelection(
        status=status,
        agent=None if agent is None else validate_id(agent, "agent id"),
        since=_moment("since", since),
        until=_moment("until", until),
        error_contains=error_contains,
    )
    reader = _reader(server)
    if group_by is not None:
        if limit is not None or offset:
            raise ApiError(400, "group_by counts every matching run; drop limit / offset")
        matching = await reader.page(selection, limit=None, offset=0)
        return answer({"groups": group_rows(matching.records, group_by)})
    page = await reader.page(selection, limit=limit or DEFAULT_LIMIT, offset=offset)
    rows = [run_row(record, page.counts.get(record.run_id)) for record in page.records]
    return answer({"runs": rows})


@api.get("/runs/{run_id}", summary="How a run stands (agentgraph status --json)")
async def run_status_of(server: Server, run_id: RunId) -> JSONResponse:
    """A batch's status (counts, rate, ETA, failed items), or a graph or plan run's (where
    its latest checkpoint says it is, its path, totals, budget, lease)."""
    return answer(run_status(await _reader(server).standing(run_id)))


@api.get("/runs/{run_id}/checkpoints", summary="A run's checkpoints, oldest first")
async def list_checkpoints(server: Server, run_id: RunId) -> JSONResponse:
    """``{"checkpoints": [...]}``, each its stored metadata (agentgraph checkpoints --json)."""
    listed = await _reader(server).checkpoints(run_id)
    return answer({"checkpoints": [checkpoint_row(meta) for meta in listed]})


@api.get("/runs/{run_id}/checkpoints/{ref}", summary="What a checkpoint holds")
async def inspect_checkpoint(server: Server, run_id: RunId, ref: str) -> JSONResponse:
    """Checkpoint ``ref`` (its id, its seq number, or ``latest``) whole, as
    ``agentgraph inspect --json`` prints it."""
    if ref != "latest" and not ref.isdigit():
        validate_checkpoint_id(ref)
    return answer(checkpoint_document(await _reader(server).checkpoint(run_id, ref)))


@api.get("/runs/{run_id}/items", summary="A batch's items (agentgraph items --json)")
async def list_items(
    server: Server,
    run_id: RunId,
    status: ItemStatus | None = None,
    error_contains: Text = None,
    limit: Limit = None,
) -> JSONResponse:
    """``{"items": [...]}`` in the order they were added; a run that is not a batch has
    none."""
    reader = _reader(server)
    record = await reader.record(run_id)
    if record.executor_type is not ExecutorType.BATCH:
        return answer({"items": []})
    listed = await reader.storage.alist_items(
        run_id, status=status, error_contains=error_contains, limit=limit or DEFAULT_LIMIT
    )
    return answer({"items": [item_row(item) for item in listed]})


@api.get(
    "/runs/{run_id}/events",
    summary="A run's live updates (server-sent events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def run_updates(server: Server, run_id: RunId) -> StreamingResponse:
    """``status``, ``status-change``, ``item-failed`` and a last ``end`` event (see
    :mod:`framework.server.live`)."""
    reader = _reader(server)
    first = await reader.standing(run_id)
    return StreamingResponse(
        run_events(reader, first, server.config.interval),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@api.get("/session", summary="The page's session: its CSRF token, and what it may do")
async def session(request: Request, server: Server) -> JSONResponse:
    """``{"csrf_token", "read_only", "agents"}`` for the session the login link set."""
    token = server.auth.csrf_token(request)
    if token is None:
        raise ApiError(401, "not logged in: open the login link agentgraph serve printed")
    agents = sorted(server.resumer.folders)
    return answer({"csrf_token": token, "read_only": server.auth.read_only, "agents": agents})


# --- steering ---------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReasonBody(_Body):
    """Why, as the run's status will say."""

    reason: str | None = Field(default=None, max_length=1000)


class ResumeBody(_Body):
    """The human's answer for a node waiting for it, and a budget replacing the run's."""

    input: dict[str, Any] | None = None
    max_tokens: int | None = Field(default=None, ge=0)
    max_cost: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class RetryBody(_Body):
    """Which failed items (default: all)."""

    item_ids: list[str] | None = Field(default=None, max_length=MAX_LIMIT)
    error_type: str | None = Field(default=None, max_length=200)


async def _stored(server: Served, run_id: str) -> RunRecord:
    return await _reader(server).record(run_id)


@api.post("/runs/{run_id}/pause", dependencies=[Writer], summary="Pause a run")
async def pause_run(server: Server, run_id: RunId, body: ReasonBody | None = None) -> JSONResponse:
    """The run pauses after its current node (a batch: once its items in flight are done)."""
    reason = (body.reason if body else None) or "paused from agentgraph serve"
    record = await _stored(server, run_id)
    return answer((await actions.pause(server.open_manager, record, reason)).document())


@api.post("/runs/{run_id}/cancel", dependencies=[Writer], summary="Cancel a run for good")
async def cancel_run(server: Server, run_id: RunId, body: ReasonBody | None = None) -> JSONResponse:
    """A running run stops after its current node (a batch: its items in flight)."""
    reason = (body.reason if body else None) or "cancelled from agentgraph serve"
    record = await _stored(server, run_id)
    return answer((await actions.cancel(server.open_manager, record, reason)).document())


@api.post("/runs/{run_id}/resume", dependencies=[Writer], summary="Continue a run")
async def resume_run(server: Server, run_id: RunId, body: ResumeBody | None = None) -> JSONResponse:
    """Started here (202) when this server was given the run's agent (``--agent``); else a
    409 with the ``command`` a worker runs to continue it."""
    record = await _stored(server, run_id)
    body = body or ResumeBody()
    budget = RunBudget(max_tokens=body.max_tokens, max_cost=body.max_cost)
    steered = await actions.resume(
        server.open_manager, record, server.resumer, server.config.storage, body.input, budget
    )
    return answer(steered.document(), status=202)


@api.post(
    "/runs/{run_id}/retry-failed", dependencies=[Writer], summary="Retry a batch's failed items"
)
async def retry_failed_items(
    server: Server, run_id: RunId, body: RetryBody | None = None
) -> JSONResponse:
    """The failed items go back to pending with their attempts anew, and run here when this
    server was given the batch's agent (else the answer names the command that runs them)."""
    record = await _stored(server, run_id)
    item_ids = None if body is None else body.item_ids
    if item_ids is not None:
        item_ids = [validate_key(item, "item id") for item in item_ids]
    steered = await actions.retry_failed(
        server.open_manager,
        record,
        server.resumer,
        server.config.storage,
        item_ids=item_ids,
        error_type=None if body is None else body.error_type,
    )
    return answer(steered.document())
